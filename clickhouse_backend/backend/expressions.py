"""ClickHouse spellings of Django's expression, lookup and WHERE classes that
are not SQL functions (those are in django_functions.py): ``as_clickhouse``
methods, the vendor hook Django's compiler calls, installed by install() and
listed in django_patches.py.

- Value: an exact Decimal literal (django_functions._typed_value).
- CombinedExpression: Decimal division at scale 18 (django_functions._combined);
  DurationExpression: scaled durations, a date plus microseconds.
- Coalesce of Decimals and Floats; OrderBy's NULL order; PositionRef (no
  ORDER BY 1 before 22.7).
- Subquery (and Django 6's resolved Query): a correlated first row.
- WhereNode: NOT (a AND b) on servers without ternary logic.
- In, pattern and Decimal lookups: these run before the lookup's other
  spelling (datetimes.py's whole-second bounds, json_lookups.py's key
  comparisons), which they wrap.
"""
import re
import decimal

from django.core.exceptions import EmptyResultSet
from django.db.models import DateTimeField, FloatField, lookups
from django.db.models.expressions import (DurationExpression, Exists,
                                         Col, ExpressionList, Func, OrderBy, Ref, Subquery, Value)
from django.db.models.functions import Coalesce
from django.db.models.lookups import PatternLookup
from django.db.models.sql import compiler as dj_compiler
from django.db.models.sql.query import Query
from django.db.models.sql.where import AND, WhereNode

from .django_functions import _FLOATS, _combined, _kind
from .json_lookups import order_by as _json_order_by


# Pattern lookups against an expression: position() instead of LIKE (no
# wildcards to escape, and LIKE needs a constant pattern on old servers).
_PATTERN_SQL = {
    "contains": "position(%(lhs)s, %(rhs)s) > 0",
    "startswith": "position(%(lhs)s, %(rhs)s) = 1",
    "endswith": "endsWith(%(lhs)s, %(rhs)s)",
}


def _pattern_lookup_sql(compiler_, node):
    connection = compiler_.connection
    lhs, lhs_params = node.process_lhs(compiler_, connection)  # lowered for i*
    rhs, rhs_params = node.process_rhs(compiler_, connection)
    name = node.lookup_name
    if name.startswith("i"):
        name = name[1:]
        rhs = "lowerUTF8(%s)" % rhs
    return _PATTERN_SQL[name] % {"lhs": lhs, "rhs": rhs}, [*lhs_params, *rhs_params]


def _in_expressions_sql(compiler_, node):
    """x IN (F("a") - 10, 5): ClickHouse before 20.x wants constants in an
    IN list, so compare one by one."""
    connection = compiler_.connection
    lhs, lhs_params = node.process_lhs(compiler_, connection)
    parts, params = [], []
    for value in node.rhs.get_source_expressions():
        if type(value) is Value and value.value is None:
            continue  # never equal, as IN drops it (JSONNull is the JSON text null)
        # The lookup's own parameter SQL (JSONField's In encodes a Value as JSON).
        sql, p = node.resolve_expression_parameter(compiler_, connection, "%s", value)
        parts.append("%s = %s" % (lhs, sql))
        params.extend([*lhs_params, *p])
    if not parts:
        raise EmptyResultSet
    return "(%s)" % " OR ".join(parts), params


_DECIMAL_LOOKUPS = (lookups.Exact, lookups.GreaterThan, lookups.GreaterThanOrEqual,
                    lookups.LessThan, lookups.LessThanOrEqual, lookups.In, lookups.Range)


def _decimal_type_for(db_type, values, connection):
    """A Decimal(P, S) that holds the column's values and every compared
    value exactly: a value with more digits than the column (filter(d__gte=
    10**11) on Decimal(5, 3)) must not be cut or refused by the CAST."""
    m = re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", db_type)
    if m is None:
        return db_type
    precision, scale = int(m.group(1)), int(m.group(2))
    whole = precision - scale
    for value in values:
        if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
            d = decimal.Decimal(str(value)) if not isinstance(value, decimal.Decimal) else value
            if not d.is_finite():
                continue
            sign, digits, exponent = d.normalize().as_tuple()
            scale = max(scale, -exponent if exponent < 0 else 0)
            whole = max(whole, len(digits) + exponent)
    limit = 76 if connection.features.supports_big_ints else 38
    precision = min(whole + scale, limit)
    scale = min(scale, precision)
    return "Decimal(%d, %d)" % (precision, scale)


def _decimal_lookup_sql(compiler_, node):
    """A Decimal column against Python Decimals: the values are sent as exact
    Decimal literals (a bare 1.5 is a Float64, which ClickHouse does not
    compare with a Decimal)."""
    connection = compiler_.connection
    lhs, lhs_params = node.process_lhs(compiler_, connection)
    rhs, rhs_params = node.process_rhs(compiler_, connection)
    db_type = node.lhs.output_field.db_type(connection)
    if not db_type or "None" in db_type:
        return node.as_sql(compiler_, connection)
    db_type = re.sub(r"^(LowCardinality|Nullable)\((.*)\)$", r"\2", db_type)
    db_type = _decimal_type_for(db_type, rhs_params, connection)
    cast = "CAST(%%s AS %s)" % db_type
    if isinstance(rhs, (list, tuple)):  # range: one placeholder per bound
        rhs = [part.replace("%s", cast) for part in rhs]
    else:
        rhs = rhs.replace("%s", cast)
    rhs_params = [str(p) if isinstance(p, decimal.Decimal) else p for p in rhs_params]
    return "%s %s" % (lhs, node.get_rhs_op(connection, rhs)), [*lhs_params, *rhs_params]


_DATE_KINDS = {"DateField", "ClickhouseDateField", "Date32Field"}


def _float_coalesce(node):
    """COALESCE of a Decimal and a Float (e.g. Sum("price", default=Pi()))
    has no common type in ClickHouse (a Variant on 24.x+): the Decimal
    arguments become Float64, as in Decimal-Float arithmetic."""
    sources = node.get_source_expressions()
    kinds = [_kind(e) for e in sources]
    if not (any(k == "DecimalField" for k in kinds) and any(k in _FLOATS for k in kinds)):
        return None
    clone = node.copy()
    clone.set_source_expressions([
        Func(e, function="toFloat64", output_field=FloatField()) if k == "DecimalField" else e
        for e, k in zip(sources, kinds)])
    return clone


def _first_row_subquery(compiler_, node):
    """Subquery(qs.filter(x=OuterRef(...)).order_by(k).values(v)[:1]): a
    correlated LIMIT is not decorrelated by ClickHouse ("Cannot decorrelate
    query, because 'Limit' step is not supported"); the same value is
    argMin(v, (k...)) (argMax when descending) over the subquery's rows,
    NULL when there are none (aggregate_functions_null_for_empty). ``node``
    is the Subquery, or from Django 6.0 on the resolved Query it stands for."""
    query = node if isinstance(node, Query) else node.query
    if not (query.is_sliced and query.low_mark == 0 and query.high_mark == 1) or \
            query.combinator or query.distinct or not node.get_external_cols():
        return None
    if query.group_by is not None:
        return _without_limit(node, query) if _one_group(query) else None
    if len(query.select) == 1 and not query.annotation_select and not query.default_cols:
        value = query.select[0]
    elif not query.select and len(query.annotation_select) == 1 and not query.default_cols:
        value = next(iter(query.annotation_select.values()))
    else:
        return None
    nested = set()
    _inner_tables(value, nested)
    if getattr(value, "contains_aggregate", False) or nested:
        return None  # no subquery inside an aggregate's argument either
    inner = query.get_compiler(connection=compiler_.connection)
    inner.setup_query()
    keys, directions = [], set()
    for expr, _ in inner.get_order_by():
        source = expr.expression
        if isinstance(source, Ref):
            source = source.source
        keys.append(source)
        directions.add(expr.descending)
    if len(directions) > 1:
        return None  # mixed directions: keep the LIMIT
    clone = query.clone()
    clone.clear_ordering(force=True)
    clone.clear_limits()
    clone.clear_select_clause()
    output = value.output_field
    if keys:
        func = "argMax" if directions == {True} else "argMin"
        first = Func(value, Func(*keys, function="tuple"), function=func, output_field=output)
    else:
        first = Func(value, function="any", output_field=output)
    clone.add_annotation(first, "first_row")
    return _with_query(node, query, clone)


def _one_group(query):
    """Whether every GROUP BY key equals an outer column (a condition of the
    WHERE's top-level AND): one group per outer row at most, so a LIMIT 1
    changes nothing."""
    where = query.where
    if not isinstance(query.group_by, tuple) or not query.group_by or \
            where.connector != AND or where.negated:
        return False
    fixed = set()
    for child in where.children:
        if not isinstance(child, lookups.Exact):
            continue
        sides = (child.lhs, child.rhs)
        if all(isinstance(s, Col) for s in sides):
            inner = [s for s in sides if s.alias in query.alias_map]
            if len(inner) == 1:
                fixed.add((inner[0].alias, inner[0].target.column))
    return all(isinstance(k, Col) and (k.alias, k.target.column) in fixed
               for k in query.group_by)


def _without_limit(node, query):
    """The subquery without its ordering and LIMIT (it has one row at most)."""
    clone = query.clone()
    clone.clear_ordering(force=True)
    clone.clear_limits()
    return _with_query(node, query, clone)


def _with_query(node, query, clone):
    """``node`` (a Subquery or its Query) with ``clone`` in place of ``query``."""
    if node is query:
        return clone
    copy = node.copy()
    copy.query = clone
    return copy


def _nested_queries(node):
    """The queries of the subqueries under an expression (``node`` itself if
    it is a Query), each before the ones inside it: a relabeled clone of the
    expression gives its copies in the same order."""
    if node is None:
        return
    if isinstance(node, Query):
        yield node
        for child in (node.where, *node.annotations.values()):
            yield from _nested_queries(child)
        return
    query = getattr(node, "query", None)
    if isinstance(query, Query):
        yield from _nested_queries(query)
    if isinstance(node, WhereNode):
        for child in node.children:
            yield from _nested_queries(child)
        return
    for attr in ("lhs", "rhs"):
        value = getattr(node, attr, None)
        if value is not None and value is not node and not isinstance(value, (str, int, float)):
            yield from _nested_queries(value)
    try:
        children = node.get_source_expressions()
    except (AttributeError, TypeError):
        return
    for child in children:
        yield from _nested_queries(child)


def _inner_tables(node, out):
    """Names of the tables read by the subqueries under an expression."""
    for query in _nested_queries(node):
        # Unaliased inner tables are marked: relabeling the outer query would
        # rename them too (Query.change_aliases recurses).
        out.update(j.table_name if a != j.table_name else (j.table_name, "plain")
                   for a, j in query.alias_map.items())




# Spellings --------------------------------------------------------------


def _lookup_spelling(other):
    """as_clickhouse of In, pattern and Decimal lookups, before ``other``
    (the class's other spelling, None for Django's as_sql)."""
    def as_clickhouse(self, compiler, connection):
        if isinstance(self, lookups.In) and isinstance(self.rhs, ExpressionList):
            return _in_expressions_sql(compiler, self)
        if isinstance(self, PatternLookup) and not self.rhs_is_direct_value():
            return _pattern_lookup_sql(compiler, self)
        if isinstance(self, _DECIMAL_LOOKUPS) and self.rhs_is_direct_value() and \
                getattr(self.lhs, "output_field", None) is not None and \
                self.lhs.output_field.get_internal_type() == "DecimalField":
            return _decimal_lookup_sql(compiler, self)
        if other is not None:
            return other(self, compiler, connection)
        return self.as_sql(compiler, connection)
    as_clickhouse._clickhouse_lookup = True
    return as_clickhouse


def _lookup_classes():
    """The lookup classes spelled by _lookup_spelling: the bases, and their
    Django subclasses with a spelling of their own (JSON key lookups)."""
    bases = (lookups.In, PatternLookup, *_DECIMAL_LOOKUPS)
    out, todo = [], list(bases)
    while todo:
        cls = todo.pop(0)
        if cls in bases or "as_clickhouse" in cls.__dict__:
            out.append(cls)
        todo.extend(c for c in cls.__subclasses__() if c.__module__.startswith("django."))
    return out


def duration(self, compiler, connection, **extra):
    """Durations are Int64 microseconds."""
    if self.connector in ("*", "/"):
        # Scaling one is arithmetic on the number, rounded to a microsecond
        # as timedelta * x is. Ties to even, as Python (roundBankers is not in
        # 18.16).
        lhs, lhs_params = compiler.compile(self.lhs)
        rhs, rhs_params = compiler.compile(self.rhs)
        x = "toFloat64(%s %s %s)" % (lhs, self.connector, rhs)
        sql = ("toInt64(if({x} - floor({x}) = 0.5, floor({x}) + abs(modulo(floor({x}), 2)), "
               "round({x})))").format(x=x)
        return sql, [*lhs_params, *rhs_params] * 5
    node = self
    if self.connector in ("+", "-") and connection.features.supports_datetime64 and \
            any(_kind(e) in _DATE_KINDS for e in (self.lhs, self.rhs)):
        # A date plus microseconds: ClickHouse adds no sub-day interval to a
        # Date/Date32; the date side becomes a DateTime64 (as a date +
        # interval is a timestamp in SQL).
        node = self.copy()
        for side in ("lhs", "rhs"):
            expr = getattr(node, side)
            if _kind(expr) in _DATE_KINDS:
                setattr(node, side, Func(expr, template="toDateTime64(%(expressions)s, 6)",
                                         output_field=DateTimeField()))
    return _combined(node, compiler, connection, **extra)


def coalesce(self, compiler, connection, **extra):
    mixed = _float_coalesce(self)
    return (mixed or self).as_sql(compiler, connection, **extra)


def order_by(self, compiler, connection, **extra):
    """ClickHouse puts NULLs last in both directions; Django (and the
    nulls_order_largest flag) expect them largest, as PostgreSQL does: first
    when descending. JSON keys: json_lookups.order_by."""
    if self.descending and not self.nulls_first and not self.nulls_last:
        clone = self.copy()
        clone.nulls_first = True
        return _json_order_by(clone, compiler, connection, **extra)
    return _json_order_by(self, compiler, connection, **extra)


def position_ref(self, compiler, connection):
    """"ORDER BY 1" is a constant before ClickHouse 22.7 (no positional
    arguments): order by the select alias or the expression instead."""
    if self.refs:
        return connection.ops.quote_name(self.refs), []
    return compiler.compile(self.source)


def subquery(self, compiler, connection, **extra):
    """A correlated first row (Subquery(...)[:1]) as argMin/argMax: see
    _first_row_subquery. ``self`` is a Subquery, or from Django 6.0 on the
    resolved Query it stands for (marked contains_subquery; a pk__in=qs
    query is not)."""
    if (isinstance(self, Query) and not getattr(self, "contains_subquery", False)) or \
            isinstance(self, Exists) or not connection.features.supports_correlated_subqueries:
        return self.as_sql(compiler, connection, **extra)
    first = _first_row_subquery(compiler, self)
    if first is None:
        return self.as_sql(compiler, connection, **extra)
    return compiler.compile(first)


class _NullAsTrue:
    """A condition NULL counts as true in (see where_node)."""

    def __init__(self, condition):
        self.condition = condition
        self.contains_aggregate = getattr(condition, "contains_aggregate", False)
        self.contains_over_clause = getattr(condition, "contains_over_clause", False)

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.condition)
        return "ifNull(%s, 1)" % sql, params


def where_node(self, compiler, connection):
    """NOT (c1 AND c2 ...) is true exactly when some ci is false: with
    ifNull(ci, 1) the result is right whether or not the server's AND knows
    that NULL AND 0 is 0 (servers without ternary logic). Not under another
    NOT, where a NULL result must stay NULL: the compiler counts the negated
    nodes being compiled."""
    if not self.negated:
        return self.as_sql(compiler, connection)
    depth = getattr(compiler, "_ch_negated_depth", 0)
    node = self
    if self.connector == AND and len(self.children) > 1 and not depth \
            and not connection.features.has_ternary_logic:
        node = WhereNode([_NullAsTrue(c) for c in self.children], self.connector, self.negated)
    compiler._ch_negated_depth = depth + 1
    try:
        return node.as_sql(compiler, connection)
    finally:
        compiler._ch_negated_depth = depth


def spelled_classes():
    """{Django class: spelling} installed here."""
    out = {DurationExpression: duration, Coalesce: coalesce, OrderBy: order_by,
           Subquery: subquery, Query: subquery, WhereNode: where_node}
    if hasattr(dj_compiler, "PositionRef"):
        out[dj_compiler.PositionRef] = position_ref
    return out


def install():
    """After datetimes.install() and json_lookups.install(): the lookup
    spellings wrap theirs."""
    for cls, impl in spelled_classes().items():
        if "as_clickhouse" not in cls.__dict__:
            cls.as_clickhouse = impl
    for cls in _lookup_classes():
        other = cls.__dict__.get("as_clickhouse")
        if not getattr(other, "_clickhouse_lookup", False):
            cls.as_clickhouse = _lookup_spelling(other)


__all__ = ["install", "spelled_classes"]
