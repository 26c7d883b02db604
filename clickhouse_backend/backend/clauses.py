"""The SELECT compiler's part of models/clauses.py: FINAL, SAMPLE, ARRAY JOIN in
the FROM clause, LIMIT BY before LIMIT, and the query_id the query runs under."""
import contextlib

from django.db.models.sql import compiler

from clickhouse_backend.models.clauses import array_join_name, clauses, resolve_field
from clickhouse_backend.models.functions.base import require


class _QueryIdCursor:
    """The driver cursor with query_id passed to execute()."""

    def __init__(self, cursor, query_id):
        self._cursor, self._query_id = cursor, query_id

    def execute(self, sql, params=None, **kwargs):
        return self._cursor.execute(sql, params, query_id=self._query_id, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def _query_id_wrapper(query_id):
    def wrapper(execute, sql, params, many, context):
        cursor = context["cursor"]
        raw = cursor.cursor
        cursor.cursor = _QueryIdCursor(raw, query_id)
        try:
            return execute(sql, params, many, context)
        finally:
            cursor.cursor = raw
    return wrapper


_COLLECTED = "_ch_query_settings"
_QUALIFY = "_ch_qualify_tables"


@contextlib.contextmanager
def qualified_tables(connection):
    """Table names compiled as "database"."table" meanwhile: a view created ON
    CLUSTER runs its query on every host in that host's default database (18.16),
    not the current one."""
    connection.__dict__[_QUALIFY] = connection.settings_dict["NAME"]
    try:
        yield
    finally:
        del connection.__dict__[_QUALIFY]


def request_setting(compiler, name, value):
    """A setting the SQL being compiled needs (e.g. for an aggregate in a
    subquery): it goes to the SETTINGS of the outermost query being compiled,
    whose SETTINGS clause is the query's (a subquery has none)."""
    collected = compiler.connection.__dict__.get(_COLLECTED)
    if collected is not None:
        collected[name] = value
    else:
        query = compiler.query
        query.setting_info = {**(getattr(query, "setting_info", None) or {}), name: value}


@contextlib.contextmanager
def collecting_settings(compiler):
    """Compiles the outermost query meanwhile (a SELECT, or the outer SELECT of
    aggregate() over a subquery): the settings its parts and subqueries ask for
    (request_setting) go to its query's SETTINGS."""
    collected = compiler.connection.__dict__[_COLLECTED] = {}
    try:
        yield
    finally:
        del compiler.connection.__dict__[_COLLECTED]
    if collected and not getattr(compiler, "ch_for_view", False):
        # Settings given with .settings() win.
        query = compiler.query
        query.setting_info = {**collected, **(getattr(query, "setting_info", None) or {})}


class ClausesCompilerMixin:
    def _ch_clauses(self):
        return clauses(self.query)

    def _qualified(self, name, quoted):
        database = self.connection.__dict__.get(_QUALIFY)
        if database and name in self.query.table_map:
            return "%s.%s" % (self.connection.ops.quote_name(database), quoted)
        return quoted

    if hasattr(compiler.SQLCompiler, "quote_name"):
        # Django 6.1 compiles names with quote_name() (quote_name_unless_alias()
        # only calls it).
        def quote_name(self, name):
            return self._qualified(name, super().quote_name(name))
    else:
        def quote_name_unless_alias(self, name):
            return self._qualified(name, super().quote_name_unless_alias(name))

    def get_from_clause(self):
        result, params = super().get_from_clause()
        c = self._ch_clauses()
        if not result or not c:
            return result, params
        head = result[0]
        if c.get("final"):
            head += " FINAL"
        if c.get("sample"):
            sample = c["sample"]
            if c.get("final"):
                require(self.connection, "supports_final_with_sample", "final() with sample()")
            if isinstance(sample, tuple):
                sample = "%s OFFSET %s" % sample
            head += " SAMPLE %s" % sample
        joins, join_params = [], []
        for name, alias, left in c.get("array_join", ()):
            col = self.query.model._meta.get_field(name).get_col(self.query.get_initial_alias())
            sql, p = self.compile(col)
            joins.append("%sARRAY JOIN %s AS %s" % (
                "LEFT " if left else "", sql,
                self.connection.ops.quote_name(array_join_name(alias))))
            join_params.extend(p)
        # ARRAY JOIN comes right after the table (before other JOINs).
        return [head, *joins, *result[1:]], [*join_params, *params]

    def get_group_by(self, select, order_by):
        result = super().get_group_by(select, order_by)
        if not self._ch_clauses().get("with_totals"):
            return result
        if not result:
            raise TypeError("with_totals() needs an aggregation by groups "
                            "(values(...).annotate(aggregates)).")
        require(self.connection, "supports_grouping_sets", "with_totals()")
        # The total row's keys are NULL (None), not the types' defaults.
        request_setting(self, "group_by_use_nulls", 1)
        sql = "GROUPING SETS ((%s), ())" % ", ".join(s for s, _ in result)
        return [(sql, [p for _, params in result for p in params])]

    def as_sql(self, with_limits=True, with_col_aliases=False):
        if getattr(self.query, "subquery", False) or _COLLECTED in self.connection.__dict__:
            return self._clauses_as_sql(with_limits, with_col_aliases)
        with collecting_settings(self):
            return self._clauses_as_sql(with_limits, with_col_aliases)

    def _clauses_as_sql(self, with_limits, with_col_aliases):
        limit_by = self._ch_clauses().get("limit_by")
        if not limit_by or self.query.combinator:
            return super().as_sql(with_limits, with_col_aliases)
        n, offset, fields = limit_by
        sql, params = super().as_sql(False, with_col_aliases)
        exprs, by_params = [], []
        for name in fields:
            s, p = self.compile(resolve_field(self.query, name))
            exprs.append(s)
            by_params.extend(p)
        if offset:
            require(self.connection, "supports_limit_by_offset", "limit_by(..., offset=...)")
            clause = "LIMIT %d OFFSET %d BY %s" % (n, offset, ", ".join(exprs))
        else:
            clause = "LIMIT %d BY %s" % (n, ", ".join(exprs))
        sql = "%s %s" % (sql, clause)
        low, high = self.query.low_mark, self.query.high_mark
        if with_limits and (low or high is not None):
            # "LIMIT m, n": 18.16 does not parse LIMIT ... OFFSET after LIMIT BY.
            count = high - low if high is not None else self.connection.ops.no_limit_value()
            sql += " LIMIT %d, %d" % (low, count) if low else " LIMIT %d" % count
        return sql, (*params, *by_params)

    def execute_sql(self, *args, **kwargs):
        query_id = self._ch_clauses().get("query_id")
        if not query_id:
            return super().execute_sql(*args, **kwargs)
        with self.connection.execute_wrapper(_query_id_wrapper(query_id)):
            return super().execute_sql(*args, **kwargs)


__all__ = ["ClausesCompilerMixin"]
