"""The base of the ClickHouse functions: the SQL name is the class name (as
ClickHouse spells it, ``toYYYYMMDD``), and a function newer than the server
raises NotSupportedError naming the release it needs."""
from django.db import models

from clickhouse_backend.backend.features import require  # noqa: F401 (re-exported)


class Func(models.Func):
    # The features flag the function needs (None: every supported server has it).
    requires = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "function" not in cls.__dict__:
            cls.function = cls.__name__

    def check_support(self, connection):
        if self.requires:
            require(connection, self.requires, "%s()" % self.function)

    def as_clickhouse(self, compiler, connection, **extra):
        self.check_support(connection)
        return self.as_sql(compiler, connection, **extra)


def check_arity(func, expressions, lo, hi):
    if not lo <= len(expressions) <= hi:
        raise TypeError("'%s' takes %s arguments (%d given)" % (
            type(func).__name__, lo if lo == hi else "%d to %d" % (lo, hi), len(expressions)))


def literal(value):
    """A Python constant argument (a time zone, a mode, a name) as a Value;
    expressions and F() pass through."""
    return value if hasattr(value, "resolve_expression") else models.Value(value)
