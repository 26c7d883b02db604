"""Django's SQL debug logging (DEBUG=True, or connection.force_debug_cursor) with
what ClickHouse tells about each query: its query_id and the rows and bytes it
read, in the ``django.db.backends`` log records and in ``connection.queries``."""
import logging
import time
from contextlib import contextmanager

from django.db.backends.utils import CursorDebugWrapper

logger = logging.getLogger("django.db.backends")


def query_facts(cursor):
    """query_id, read_rows and read_bytes of the cursor's last query, as known when
    execute() returned (None where unknown: servers older than 22 send no summary;
    a result still streaming has read only part of its rows)."""
    summary = getattr(cursor, "summary", None)
    return {"query_id": getattr(cursor, "query_id", None),
            "read_rows": getattr(summary, "read_rows", None),
            "read_bytes": getattr(summary, "read_bytes", None)}


class ClickHouseCursorDebugWrapper(CursorDebugWrapper):
    @contextmanager
    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        # Django's debug_sql, with the query's facts in the entry and the record.
        start = time.monotonic()
        try:
            yield
        finally:
            duration = time.monotonic() - start
            if use_last_executed_query:
                sql = self.db.ops.last_executed_query(self.cursor, sql, params)
            try:
                times = len(params) if many else ""
            except TypeError:  # params could be an iterator
                times = "?"
            facts = query_facts(self.cursor)
            self.db.queries_log.append({"sql": "%s times: %s" % (times, sql) if many else sql,
                                        "time": "%.3f" % duration, **facts})
            logger.debug("(%.3f) %s; args=%s; alias=%s; query_id=%s; read_rows=%s; read_bytes=%s",
                         duration, sql, params, self.db.alias, facts["query_id"], facts["read_rows"],
                         facts["read_bytes"],
                         extra={"duration": duration, "sql": sql, "params": params, "alias": self.db.alias,
                                **facts})
