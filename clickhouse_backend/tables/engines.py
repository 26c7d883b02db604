"""Table engines, set in a model's ``Meta.engine``.

Column arguments (order_by, partition_by, sign columns...) may be field names
(translated to their column), Django expressions (F(), functions), or raw
ClickHouse SQL strings such as "toYYYYMM(created)".
"""
from django.db.models.expressions import BaseExpression

__all__ = [
    "Engine", "BaseMergeTree", "MergeTree", "ReplacingMergeTree", "SummingMergeTree",
    "AggregatingMergeTree", "CollapsingMergeTree", "VersionedCollapsingMergeTree",
    "GraphiteMergeTree", "ReplicatedMergeTree", "ReplicatedReplacingMergeTree",
    "ReplicatedSummingMergeTree", "ReplicatedAggregatingMergeTree",
    "ReplicatedCollapsingMergeTree", "ReplicatedVersionedCollapsingMergeTree",
    "ReplicatedGraphiteMergeTree", "Distributed", "Memory", "Log", "TinyLog",
    "StripeLog", "Null",
]

COLUMN = "column"
LITERAL = "literal"


class Deconstructed:
    """Equality, hash and repr by deconstruct() (engines, views: Meta options that
    migrations compare)."""

    def __eq__(self, other):
        return type(self) is type(other) and self.deconstruct() == other.deconstruct()

    def __hash__(self):
        return hash(type(self).__name__)

    def __repr__(self):
        _, args, kwargs = self.deconstruct()
        parts = [repr(a) for a in args] + ["%s=%r" % kv for kv in sorted(kwargs.items())]
        return "%s(%s)" % (type(self).__name__, ", ".join(parts))


class Engine(Deconstructed):
    """Base engine: ``name(args...)`` with optional SETTINGS."""
    name = None
    # Kinds of positional arguments: COLUMN (identifier/expression) or LITERAL.
    arg_kinds = ()
    min_args = 0
    variadic = None  # kind of extra arguments, if any
    accepts_settings = False

    def __init__(self, *args, settings=None, **kwargs):
        if kwargs:
            raise TypeError("%s() got unexpected keyword arguments: %s"
                            % (type(self).__name__, ", ".join(sorted(kwargs))))
        if len(args) < self.min_args or (
                self.variadic is None and len(args) > len(self.arg_kinds)):
            raise TypeError("%s() takes %s positional arguments (%d given)" % (
                type(self).__name__,
                self.min_args if self.variadic is None and self.min_args == len(self.arg_kinds)
                else "%d to %s" % (self.min_args, len(self.arg_kinds) if self.variadic is None else "any"),
                len(args)))
        if settings and not self.accepts_settings:
            raise TypeError("%s does not accept settings." % type(self).__name__)
        self.args = tuple(args)
        self.settings = dict(settings or {})

    def arg_kind(self, index):
        if index < len(self.arg_kinds):
            return self.arg_kinds[index]
        return self.variadic

    def _extra_kwargs(self):
        return {}

    def deconstruct(self):
        kwargs = self._extra_kwargs()
        if self.settings:
            kwargs["settings"] = dict(self.settings)
        return "clickhouse_backend.models.%s" % type(self).__name__, self.args, kwargs

    def is_merge_tree(self):
        return False

    def supports_mutations(self):
        return self.is_merge_tree()


def _tupled(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


class BaseMergeTree(Engine):
    accepts_settings = True

    def __init__(self, *args, order_by=None, partition_by=None, primary_key=None,
                 sample_by=None, ttl=None, settings=None):
        super().__init__(*args, settings=settings)
        self.order_by = _tupled(order_by)
        self.partition_by = _tupled(partition_by)
        self.primary_key = _tupled(primary_key)
        self.sample_by = sample_by
        self.ttl = ttl

    def _extra_kwargs(self):
        kwargs = {}
        for key in ("order_by", "partition_by", "primary_key", "sample_by", "ttl"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        return kwargs

    def is_merge_tree(self):
        return True


class MergeTree(BaseMergeTree):
    name = "MergeTree"


class ReplacingMergeTree(BaseMergeTree):
    name = "ReplacingMergeTree"
    arg_kinds = (COLUMN, COLUMN)  # [ver [, is_deleted]]


class SummingMergeTree(BaseMergeTree):
    name = "SummingMergeTree"
    variadic = COLUMN  # columns to sum


class AggregatingMergeTree(BaseMergeTree):
    name = "AggregatingMergeTree"


class CollapsingMergeTree(BaseMergeTree):
    name = "CollapsingMergeTree"
    arg_kinds = (COLUMN,)
    min_args = 1


class VersionedCollapsingMergeTree(BaseMergeTree):
    name = "VersionedCollapsingMergeTree"
    arg_kinds = (COLUMN, COLUMN)
    min_args = 2


class GraphiteMergeTree(BaseMergeTree):
    name = "GraphiteMergeTree"
    arg_kinds = (LITERAL,)
    min_args = 1


def _replicated(base, name):
    class Replicated(base):
        # zoo_path and replica_name come first; both may use macros.
        arg_kinds = (LITERAL, LITERAL) + base.arg_kinds
        min_args = 2 + base.min_args
    Replicated.name = name
    Replicated.__name__ = Replicated.__qualname__ = name
    Replicated.__module__ = __name__
    return Replicated


ReplicatedMergeTree = _replicated(MergeTree, "ReplicatedMergeTree")
ReplicatedReplacingMergeTree = _replicated(ReplacingMergeTree, "ReplicatedReplacingMergeTree")
ReplicatedSummingMergeTree = _replicated(SummingMergeTree, "ReplicatedSummingMergeTree")
ReplicatedAggregatingMergeTree = _replicated(AggregatingMergeTree, "ReplicatedAggregatingMergeTree")
ReplicatedCollapsingMergeTree = _replicated(CollapsingMergeTree, "ReplicatedCollapsingMergeTree")
ReplicatedVersionedCollapsingMergeTree = _replicated(
    VersionedCollapsingMergeTree, "ReplicatedVersionedCollapsingMergeTree")
ReplicatedGraphiteMergeTree = _replicated(GraphiteMergeTree, "ReplicatedGraphiteMergeTree")


class Distributed(Engine):
    """Distributed(cluster, database, table[, sharding_key[, policy_name]])."""
    name = "Distributed"
    arg_kinds = (LITERAL, LITERAL, LITERAL, COLUMN, LITERAL)
    min_args = 3
    accepts_settings = True

    @property
    def cluster(self):
        return self.args[0]

    @property
    def table(self):
        return self.args[2]

    def supports_mutations(self):
        return False


class Memory(Engine):
    name = "Memory"


class Log(Engine):
    name = "Log"


class TinyLog(Engine):
    name = "TinyLog"


class StripeLog(Engine):
    name = "StripeLog"


class Null(Engine):
    name = "Null"


def is_expression(value):
    return isinstance(value, BaseExpression) or hasattr(value, "resolve_expression")
