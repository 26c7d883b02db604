"""Data skipping indexes: ``Meta.indexes = [Index(fields=[...], type=BloomFilter(), granularity=4, name=...)]``."""
from django.db.models.expressions import F
# Django's, importable from here as from django-clickhouse-backend.
from django.db.models.indexes import IndexExpression  # noqa: F401

__all__ = ["Index", "IndexType", "MinMax", "Set", "BloomFilter", "NgrambfV1", "TokenbfV1"]


class IndexType:
    name = None
    nargs = (0, 0)

    def __init__(self, *args):
        lo, hi = self.nargs
        if not lo <= len(args) <= hi:
            raise TypeError("%s() takes %s arguments (%d given)" % (
                type(self).__name__, lo if lo == hi else "%d to %d" % (lo, hi), len(args)))
        for a in args:
            if not isinstance(a, (int, float)) or isinstance(a, bool):
                raise TypeError("%s() arguments must be numbers." % type(self).__name__)
        self.args = args

    def sql(self):
        if not self.args and self.nargs[1] == 0:
            return self.name
        return "%s(%s)" % (self.name, ", ".join(repr(a) for a in self.args))

    def deconstruct(self):
        return "clickhouse_backend.models.%s" % type(self).__name__, self.args, {}

    def __eq__(self, other):
        return type(self) is type(other) and self.args == other.args

    def __hash__(self):
        return hash((type(self).__name__, self.args))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(map(repr, self.args)))


class MinMax(IndexType):
    name = "minmax"


class Set(IndexType):
    name = "set"
    nargs = (1, 1)  # max_rows (0 = unlimited)


class BloomFilter(IndexType):
    name = "bloom_filter"
    nargs = (0, 1)  # false positive rate


class NgrambfV1(IndexType):
    name = "ngrambf_v1"
    nargs = (4, 4)  # n, size in bytes, hash functions, seed


class TokenbfV1(IndexType):
    name = "tokenbf_v1"
    nargs = (3, 3)  # size in bytes, hash functions, seed


class Index:
    """A ClickHouse data skipping index (``INDEX name expr TYPE t GRANULARITY g``)."""

    suffix = "idx"
    max_name_length = 60

    def __init__(self, *expressions, fields=(), name=None, type=None, granularity=1):
        if not isinstance(type, IndexType):
            raise ValueError("Index type must be an IndexType instance such as MinMax().")
        if not isinstance(granularity, int) or isinstance(granularity, bool) or granularity <= 0:
            raise ValueError("Index granularity must be a positive integer.")
        if not isinstance(fields, (list, tuple)):
            raise ValueError("Index.fields must be a list or tuple.")
        if not expressions and not fields:
            raise ValueError("At least one field or expression is required to define an index.")
        if expressions and fields:
            raise ValueError("Index.fields and expressions are mutually exclusive.")
        if not name:
            raise ValueError("A ClickHouse index must be named.")
        if fields and not all(isinstance(f, str) and not f.startswith("-") for f in fields):
            raise ValueError("Index.fields must contain field names (no ordering).")
        self.fields = list(fields)
        self.name = name
        self.type = type
        self.granularity = granularity
        self.expressions = tuple(F(e) if isinstance(e, str) else e for e in expressions)
        # Attributes Django's autodetector / state code read on indexes.
        self.fields_orders = [(f, "") for f in self.fields]
        self.include = ()
        self.condition = None
        self.opclasses = ()
        self.db_tablespace = None

    @property
    def contains_expressions(self):
        return bool(self.expressions)

    def create_sql(self, model, schema_editor, using="", **kwargs):
        return schema_editor._add_skipping_index_sql(model, self)

    def remove_sql(self, model, schema_editor, **kwargs):
        return schema_editor._drop_skipping_index_sql(model, self.name)

    def index_sql(self, model, schema_editor):
        return schema_editor._skipping_index_definition(model, self)

    def deconstruct(self):
        kwargs = {"name": self.name, "type": self.type, "granularity": self.granularity}
        if self.fields:
            kwargs["fields"] = self.fields
        return "clickhouse_backend.models.Index", self.expressions, kwargs

    def clone(self):
        _, args, kwargs = self.deconstruct()
        return self.__class__(*args, **kwargs)

    def set_name_with_model(self, model):
        # Names are mandatory, nothing to generate.
        pass

    def check(self, model, connection):
        return []

    def __repr__(self):
        return "<Index: name=%r fields=%r expressions=%r type=%r granularity=%r>" % (
            self.name, self.fields, self.expressions, self.type, self.granularity)

    def __eq__(self, other):
        if self.__class__ is other.__class__:
            return self.deconstruct() == other.deconstruct()
        return NotImplemented

    def __hash__(self):
        return hash(self.name)
