"""ClickHouse aggregate functions, by ClickHouse's names (``uniq``, ``argMax``…).

An aggregate over no rows gives ClickHouse's result (0 for the uniq family),
as in django-clickhouse-backend.
"""
from django.db.models import aggregates
from django.db.models.expressions import Expression, Star

from .fields import ArrayField, UInt64Field
from .functions.base import require

__all__ = ["uniq", "uniqExact", "uniqCombined", "uniqCombined64", "uniqHLL12", "uniqTheta",
           "anyLast", "argMax", "groupUniqArray"]


class Aggregate(aggregates.Aggregate):
    # The features flag the aggregate needs (None: every supported server has it).
    requires = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.function = cls.name = cls.__name__

    def as_clickhouse(self, compiler, connection, **extra):
        if self.requires:
            require(connection, self.requires, "%s()" % self.function)
        return self.as_sql(compiler, connection, **extra)


class uniq(Aggregate):
    """The (approximate) number of distinct values of the arguments; "*" or
    several arguments count distinct rows/combinations."""
    output_field = UInt64Field()
    allow_distinct = True

    def __init__(self, *expressions, **extra):
        # A count: 0 over no rows, also where the backend's
        # aggregate_functions_null_for_empty makes uniqCombined() NULL there.
        extra.setdefault("default", 0)
        super().__init__(*(Star() if e == "*" else e for e in expressions), **extra)


class uniqExact(uniq):
    pass


class uniqCombined(uniq):
    pass


class uniqCombined64(uniq):
    requires = "has_uniq_combined64"


class uniqHLL12(uniq):
    pass


class uniqTheta(uniq):
    requires = "has_uniq_theta"


class anyLast(Aggregate):
    """The last value met (of no defined row order)."""
    arity = 1


class argMax(Aggregate):
    """argMax(arg, val): the value of `arg` where `val` is largest."""
    arity = 2

    def _resolve_output_field(self):
        return self.get_source_fields()[0]


class groupUniqArray(Aggregate):
    """The distinct values of the argument as an array (in no defined order)."""
    arity = 1

    def _resolve_output_field(self):
        return ArrayField(self.get_source_fields()[0])


# ---- -State and -Merge combinators (AggregatingMergeTree, materialized views) ----

_NULL_FOR_EMPTY = "aggregate_functions_null_for_empty"


class _Combinator(Aggregate):
    """fState(x) / fMerge(state). aggregate_functions_null_for_empty (the
    backend's default) would make them fOrNullState/fOrNullMerge, whose states
    differ from the column's: the query turns it off (the setting then also
    applies to the query's other aggregates). A view's query is compiled
    without it: the schema editor adds it where the server has the setting."""
    base = None

    def as_clickhouse(self, compiler, connection, **extra):
        if _NULL_FOR_EMPTY in connection.server_settings() and \
                not getattr(compiler, "ch_for_view", False):
            from clickhouse_backend.backend.clauses import request_setting
            request_setting(compiler, _NULL_FOR_EMPTY, 0)
        return super().as_clickhouse(compiler, connection, **extra)


def _sum_type(field):
    from .fields import DecimalField, Float64Field, Int64Field, UInt64Field
    kind = field.get_internal_type()
    if "Float" in kind:
        return Float64Field()
    if "Decimal" in kind:
        return DecimalField(max_digits=38, decimal_places=field.decimal_places)
    return UInt64Field() if kind.startswith("UInt") or kind.startswith("Positive") \
        else Int64Field()


def _merged_type(base, state_field):
    """The type fMerge() gives for a column AggregateFunction(f, T...)."""
    from .fields import Float64Field
    args = getattr(state_field, "arg_fields", ())
    if base in ("count",) or base.startswith("uniq"):
        return UInt64Field()
    if base == "avg":
        return Float64Field()
    if not args:
        raise TypeError("%sMerge() needs an AggregateFunctionField argument." % base)
    return _sum_type(args[0]) if base == "sum" else args[0]


def _state_select_format(self, compiler, sql, params):
    return sql, params  # the state itself (not its final value, as for a column)


class SelectedState(Expression):
    """An AggregateFunction column selected as its states (not their final
    values): what a -Merge aggregate of aggregate() over a subquery reads."""

    def __init__(self, column):
        super().__init__(output_field=column.output_field)
        self.column = column

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        return compiler.compile(self.column)

    select_format = _state_select_format


def select_merged_states(query):
    """aggregate() over a subquery (an AggregateQuery) moves each aggregate to
    the outer query, reading the inner query's columns by alias: the columns a
    -Merge aggregate reads are selected there as states."""
    inner = query.inner_query
    for annotation in query.annotation_select.values():
        for node in annotation.flatten():
            if not getattr(node, "reads_states", False):
                continue
            for source in node.get_source_expressions():
                column = inner.annotations.get(getattr(source, "refs", None))
                if column is not None and not isinstance(column, SelectedState):
                    inner.annotations[source.refs] = SelectedState(column)


def _state(base):
    def resolve(self):
        from .fields import AggregateFunctionField
        sources = self.get_source_fields()
        return AggregateFunctionField(base, *[f.clone() for f in sources if f is not None])
    return type(base + "State", (_Combinator,), {
        "__module__": __name__, "base": base, "_resolve_output_field": resolve,
        "select_format": _state_select_format,
        "__doc__": "%s(...) as an aggregate state (for an AggregateFunction(%s, ...) "
                   "column)." % (base, base)})


def _merge(base):
    def resolve(self):
        return _merged_type(base, self.get_source_fields()[0])
    return type(base + "Merge", (_Combinator,), {
        "__module__": __name__, "base": base, "arity": 1, "_resolve_output_field": resolve,
        "reads_states": True,
        # A count over no rows is 0, also where Django skips the query (none()).
        "empty_result_set_value": 0 if base == "count" or base.startswith("uniq") else None,
        "__doc__": "The %s over an AggregateFunction(%s, ...) column's states." % (base, base)})


_COMBINED = ("count", "sum", "avg", "min", "max", "any", "uniq", "uniqExact",
             "uniqCombined")
for _base in _COMBINED:
    for _make in (_state, _merge):
        _cls = _make(_base)
        globals()[_cls.__name__] = _cls
        __all__.append(_cls.__name__)


class countState(globals()["countState"]):  # noqa: F821
    """countState() counts rows (countState("*") too)."""
    def __init__(self, *expressions, **extra):
        super().__init__(*(e for e in expressions if e != "*"), **extra)

    def _resolve_output_field(self):
        from .fields import AggregateFunctionField
        return AggregateFunctionField("count")

