"""ClickHouse aggregate functions, by ClickHouse's names (``uniq``, ``argMax``…).

An aggregate over no rows gives ClickHouse's result (0 for the uniq family),
as in django-clickhouse-backend.
"""
from django.db.models import aggregates
from django.db.models.expressions import Star

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
