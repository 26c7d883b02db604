"""QuerySet methods for ClickHouse's own SELECT clauses: FINAL, SAMPLE, LIMIT BY,
ARRAY JOIN and a query_id. The compiler side is backend/clauses.py.

The clauses live in one dict on the Query (``ch_clauses``) that is replaced,
never mutated: Query.clone() copies attributes shallowly, so each clone keeps
its own view without any clone() override."""
import fractions
import numbers

from django.db.models import F
from django.db.models.expressions import Expression

__all__ = ["ClausesQuerySetMixin", "ArrayJoinItem", "array_join_name", "clauses"]


def clauses(query):
    return getattr(query, "ch_clauses", None) or {}


def _set(queryset, method, **values):
    queryset._not_support_combined_queries(method)
    clone = queryset._chain()
    clone.query.ch_clauses = {**clauses(clone.query), **values}
    return clone


def _one_spelling(value, alias, name, alias_name):
    if alias is None:
        return value
    if value is not None:
        raise TypeError("sample() got both %s and %s." % (name, alias_name))
    return alias


def _sample_value(value, what):
    """SAMPLE k / OFFSET m: a ratio in (0, 1] (float, Fraction or Decimal) or, for
    k, a number of rows (int > 1); written as a literal (the clause takes no
    parameters)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise TypeError("%s must be a number, not %r." % (what, value))
    if isinstance(value, numbers.Integral) and what == "sample ratio" and value > 1:
        return str(int(value))  # SAMPLE n: about n rows
    ratio = fractions.Fraction(value) if not isinstance(value, float) \
        else fractions.Fraction(repr(value))
    if not (0 <= ratio <= 1) or (what == "sample ratio" and ratio == 0):
        raise ValueError("%s must be in (0, 1] (or a row count > 1), not %r." % (what, value))
    return "%d/%d" % (ratio.numerator, ratio.denominator)


def array_join_name(alias):
    # The ARRAY JOIN's own name: SELECT "x" AS "x" of the element would be a
    # duplicate alias for 18.16.
    return "%s__element" % alias


class ArrayJoinItem(Expression):
    """The element of an ARRAY JOIN, referred to by its alias."""

    def __init__(self, alias, output_field):
        super().__init__(output_field=output_field)
        self.alias = alias

    def as_sql(self, compiler, connection):
        return connection.ops.quote_name(array_join_name(self.alias)), []

    def get_group_by_cols(self):
        return [self]

    def __eq__(self, other):
        return type(self) is type(other) and self.alias == other.alias

    def __hash__(self):
        return hash((type(self), self.alias))


# Clauses that choose which rows a SELECT reads: an UPDATE/DELETE (a mutation
# of every matching row) cannot honour them, so it is refused, not run wider.
_ROW_CHOOSING = {"sample": "sample()", "limit_by": "limit_by()",
                 "array_join": "array_join()", "with_totals": "with_totals()"}


class ClausesQuerySetMixin:
    def _refuse_row_choosing(self, operation):
        for key, method in _ROW_CHOOSING.items():
            if clauses(self.query).get(key):
                raise TypeError("Cannot %s a query with %s: ClickHouse mutations change "
                                "every matching row." % (operation, method))

    def delete(self):
        self._refuse_row_choosing("delete()")
        return super().delete()

    delete.alters_data = True
    delete.queryset_only = True

    def update(self, **kwargs):
        self._refuse_row_choosing("update()")
        return super().update(**kwargs)

    update.alters_data = True

    def final(self):
        """SELECT ... FROM t FINAL: rows merged as the table's engine merges
        them (deduplicated on a ReplacingMergeTree) before the query reads them."""
        return _set(self, "final", final=True)

    def sample(self, ratio=None, offset=None, *, sample_fraction=None, sample_offset=None):
        """SAMPLE ratio [OFFSET offset] on a table whose engine has sample_by:
        ratio a fraction (0.1, Fraction(1, 10)) or a row count (int > 1).
        sample_fraction/sample_offset are django-clickhouse-backend's names of
        the two arguments."""
        ratio = _one_spelling(ratio, sample_fraction, "ratio", "sample_fraction")
        offset = _one_spelling(offset, sample_offset, "offset", "sample_offset")
        if ratio is None:
            raise TypeError("sample() needs a ratio (or sample_fraction).")
        value = _sample_value(ratio, "sample ratio")
        if offset is not None:
            value = (value, _sample_value(offset, "sample offset"))
        return _set(self, "sample", sample=value)

    def limit_by(self, n, *fields, offset=None):
        """LIMIT n [OFFSET m] BY fields: at most n rows per distinct value of
        ``fields`` (names or expressions), after ORDER BY and before a slice."""
        if not fields:
            raise TypeError("limit_by() needs at least one field.")
        for value in (n, offset):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ValueError("limit_by() takes non-negative integers, not %r." % (value,))
        return _set(self, "limit_by", limit_by=(n, offset or 0, fields))

    def array_join(self, field, alias, left=False):
        """ARRAY JOIN field AS alias: one row per element of the array field
        ``field``; ``alias`` names the element (for filter(), values(), order_by()).
        left=True (or left_array_join()) keeps the rows whose array is empty,
        with the element type's default value."""
        from .fields import ArrayField
        model_field = self.model._meta.get_field(field)
        if not isinstance(model_field, ArrayField):
            raise TypeError("array_join() needs an ArrayField, not %s." % field)
        base = model_field.base_field
        joins = (*clauses(self.query).get("array_join", ()), (field, alias, left))
        clone = _set(self, "array_join", array_join=joins)
        clone.query.add_annotation(ArrayJoinItem(alias, base), alias)
        return clone

    def left_array_join(self, field, alias):
        return self.array_join(field, alias, left=True)

    def with_totals(self):
        """One more row after the groups of a values().annotate() aggregation:
        the aggregates over all rows, with None for the grouping columns (as
        WITH TOTALS computes it; written GROUP BY GROUPING SETS ((keys), ()) with
        group_by_use_nulls, since the Native format drops WITH TOTALS' row)."""
        return _set(self, "with_totals", with_totals=True)

    def query_id(self, query_id):
        """The query_id the server runs this QuerySet's queries under (to find it
        in system.processes / system.query_log, or KILL QUERY it)."""
        if not isinstance(query_id, str) or not query_id:
            raise TypeError("query_id must be a non-empty string.")
        return _set(self, "query_id", query_id=query_id)


def resolve_field(query, name):
    """A LIMIT BY field (name or expression) resolved on ``query``."""
    expr = F(name) if isinstance(name, str) else name
    return expr.resolve_expression(query, allow_joins=False)
