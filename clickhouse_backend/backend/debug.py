"""Django's SQL debug logging (DEBUG=True, or connection.force_debug_cursor) with
what ClickHouse tells about each query: its query_id and the rows and bytes it
read, as attributes of the ``django.db.backends`` log records
(``record.query_id``, ``record.read_rows``, ``record.read_bytes``: use them in a
formatter) and keys of the ``connection.queries`` entries. Django's own call
(message, arguments, ``extra``) is left exactly as it is."""
import contextvars
import logging
from contextlib import contextmanager

from django.db.backends.utils import CursorDebugWrapper

# The facts of the query whose record Django is about to log (set only meanwhile).
_FACTS = contextvars.ContextVar("clickhouse_backend_query_facts", default=None)


def query_facts(cursor):
    """query_id, read_rows and read_bytes of the cursor's last query, as known when
    execute() returned (None where unknown: servers older than 22 send no summary;
    a result still streaming has read only part of its rows)."""
    summary = getattr(cursor, "summary", None)
    return {"query_id": getattr(cursor, "query_id", None),
            "read_rows": getattr(summary, "read_rows", None),
            "read_bytes": getattr(summary, "read_bytes", None)}


class _AddQueryFacts(logging.Filter):
    def filter(self, record):
        facts = _FACTS.get()
        if facts is not None:
            record.__dict__.update(facts)
        return True


logging.getLogger("django.db.backends").addFilter(_AddQueryFacts())


class ClickHouseCursorDebugWrapper(CursorDebugWrapper):
    @contextmanager
    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        token = None
        try:
            with super().debug_sql(sql, params, use_last_executed_query, many):
                try:
                    yield
                finally:  # before Django logs the query and appends its entry
                    token = _FACTS.set(query_facts(self.cursor))
        finally:
            if token is not None:
                facts = _FACTS.get()
                _FACTS.reset(token)
                if self.db.queries_log:
                    self.db.queries_log[-1].update(facts)
