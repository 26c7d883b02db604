"""ClickHouse SQL for Django's database functions (django.db.models.functions).

Registered as ``as_clickhouse`` methods, the hook Django's compiler looks up
per vendor. ClickHouse function names are case-sensitive on older servers
(18.16 has ``abs`` but not ``ABS``) and several SQL-standard functions have
other names or argument rules, so every function here gets an explicit
spelling that works on 18.16 and on current servers. Functions that 18.16
lacks entirely (COT, CHR, ASCII, LPAD...) use the modern name and fail there
with ClickHouse's "Unknown function" error.
"""
from django.core.exceptions import FieldError
from django.db.models import FloatField, Func, Value, functions as F
from django.db.models.expressions import CombinedExpression


def _named(name, **fixed):
    def as_clickhouse(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function=name, **{**fixed, **extra})
    return as_clickhouse


def _templated(template):
    def as_clickhouse(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=template, **extra)
    return as_clickhouse


def _modern(old_template, name):
    """A function only newer servers have: an equivalent single-use template
    (the argument must appear once, parameters are not repeated) before."""
    def as_clickhouse(self, compiler, connection, **extra):
        if connection.server_version < (21, 1):
            return self.as_sql(compiler, connection, template=old_template, **extra)
        return self.as_sql(compiler, connection, function=name, **extra)
    return as_clickhouse


def _pairwise(name):
    # greatest/least take exactly two arguments before ClickHouse 21.x:
    # nest them, greatest(a, greatest(b, c)).
    def as_clickhouse(self, compiler, connection, **extra):
        parts, params = [], []
        for expr in self.get_source_expressions():
            sql, p = compiler.compile(expr)
            parts.append(sql)
            params.extend(p)
        sql = parts[-1]
        for part in reversed(parts[:-1]):
            sql = "%s(%s, %s)" % (name, part, sql)
        return sql, params
    return as_clickhouse


def _hash(name):
    return _templated("lower(hex(%s(%%(expressions)s)))" % name)


def _concat_pair(self, compiler, connection, **extra):
    # ClickHouse concat() is NULL if any argument is; Django's Concat treats
    # NULL as ''.
    return self.coalesce().as_sql(compiler, connection, function="concat", **extra)


def _log(self, compiler, connection, **extra):
    # Django: Log(base, x); ClickHouse log() is the natural logarithm.
    base, x = (compiler.compile(e) for e in self.get_source_expressions())
    return "(log(%s) / log(%s))" % (x[0], base[0]), [*x[1], *base[1]]


def _left(self, compiler, connection, **extra):
    return self.as_sql(compiler, connection, function="substringUTF8",
                       template="%(function)s(%(expressions)s)",
                       arg_joiner=", 1, ", **extra)


def _right(self, compiler, connection, **extra):
    # The last n characters: reverse, take n, reverse back (no negative
    # offsets before 20.x).
    return self.as_sql(compiler, connection,
                       template="reverseUTF8(substringUTF8(reverseUTF8(%(expressions)s))",
                       arg_joiner="), 1, ", **extra)


def _substr(self, compiler, connection, **extra):
    if len(self.get_source_expressions()) == 2:
        # The length is required before ClickHouse 20.x: "to the end".
        return self.as_sql(compiler, connection, function="substringUTF8",
                           template="%(function)s(%(expressions)s, 4294967295)", **extra)
    return self.as_sql(compiler, connection, function="substringUTF8", **extra)


def _now(self, compiler, connection, **extra):
    if connection.features.supports_datetime64:
        return "now64(6)", []
    return "now()", []


def _random(self, compiler, connection, **extra):
    return "(rand() / 4294967296.0)", []


def _repeat(self, compiler, connection, **extra):
    return self.as_sql(compiler, connection, function="repeat", arg_joiner=", toUInt64(",
                       template="%(function)s(%(expressions)s))", **extra)



REGISTRY = {
    # math
    F.Abs: _named("abs"), F.ACos: _named("acos"), F.ASin: _named("asin"),
    F.ATan: _named("atan"), F.ATan2: _named("atan2"), F.Ceil: _named("ceil"),
    F.Cos: _named("cos"), F.Cot: _templated("(1 / tan(%(expressions)s))"),
    F.Degrees: _templated("((%(expressions)s) * 180 / pi())"),
    F.Radians: _templated("((%(expressions)s) * pi() / 180)"),
    F.Exp: _named("exp"), F.Floor: _named("floor"), F.Ln: _named("log"), F.Log: _log,
    F.Mod: _named("modulo"), F.Pi: _named("pi"), F.Power: _named("pow"),
    F.Random: _random, F.Round: _named("round"), F.Sin: _named("sin"),
    F.Sqrt: _named("sqrt"), F.Tan: _named("tan"),
    F.Sign: _modern("arrayElement(arrayMap(v -> toInt8(v > 0) - toInt8(v < 0), "
                    "[%(expressions)s]), 1)", "sign"),
    # text
    F.ConcatPair: _concat_pair, F.Left: _left, F.Right: _right,
    F.Length: _named("lengthUTF8"), F.Lower: _named("lowerUTF8"),
    F.Upper: _named("upperUTF8"), F.LTrim: _named("trimLeft"), F.RTrim: _named("trimRight"),
    F.Trim: _named("trimBoth"), F.LPad: _named("leftPadUTF8"), F.RPad: _named("rightPadUTF8"),
    F.Repeat: _repeat, F.Replace: _named("replaceAll"), F.Reverse: _named("reverseUTF8"),
    F.StrIndex: _named("positionUTF8"), F.Substr: _substr,
    F.Chr: _named("char"), F.Ord: _named("ascii"),
    F.MD5: _hash("MD5"), F.SHA1: _hash("SHA1"), F.SHA224: _hash("SHA224"),
    F.SHA256: _hash("SHA256"), F.SHA384: _hash("SHA384"), F.SHA512: _hash("SHA512"),
    # comparison / date
    F.Greatest: _pairwise("greatest"), F.Least: _pairwise("least"),
    F.NullIf: _named("nullIf"), F.Now: _now,
}


_TEMPORAL = {"DateField", "DateTimeField", "ClickhouseDateField", "Date32Field",
             "ClickhouseDateTimeField", "DateTime64Field"}


def _typed_value(self, compiler, connection, **extra):
    """A Value of a column type: typed like the column, so CASE/if branches
    and mutations have a common type (a positive integer literal is UInt64,
    which has no common type with Int64; a date literal is a String)."""
    from .compiler import _typed_placeholder

    sql, params = self.as_sql(compiler, connection, **extra)
    field = self._output_field_or_none
    if sql != "%s" or not params or params[0] is None or field is None \
            or not getattr(field, "concrete", True):
        return sql, params
    value = params[0]
    if isinstance(value, (bool, float, str)) or (
            isinstance(value, int) and -2**31 <= value < 2**31):
        # Small numbers and strings find a common type anyway: keep the
        # literal (readable SQL, constant folding).
        if not (isinstance(value, str) and field.get_internal_type() in _TEMPORAL):
            return sql, params
    try:
        db_type = field.db_type(connection)
    except Exception:  # fields that need a model (relations) or arguments
        return sql, params
    return _typed_placeholder(db_type, sql), params


_FLOATS = {"FloatField", "Float32Field", "Float64Field"}
_DECIMALS = {"DecimalField"}
_INTEGERS = {"IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
             "PositiveSmallIntegerField", "PositiveBigIntegerField", "AutoField",
             "BigAutoField", "SmallAutoField", "Int8Field", "Int16Field", "Int32Field",
             "Int64Field", "UInt8Field", "UInt16Field", "UInt32Field", "UInt64Field"}


def _kind(expr):
    try:
        return expr._output_field_or_none.get_internal_type()
    except (AttributeError, FieldError):
        return None


def _combined(self, compiler, connection, **extra):
    """ClickHouse has no arithmetic between Decimal and Float: the Decimal
    side becomes Float64 (Django's output type for such mixes is Float)."""
    kinds = (_kind(self.lhs), _kind(self.rhs))
    if self.connector == "/" and all(k in _INTEGERS for k in kinds):
        # Integer division truncates (as on other databases); ClickHouse's /
        # always gives a Float64.
        sql, params = self.as_sql(compiler, connection, **extra)
        return "toInt64(%s)" % sql, params
    if any(k in _FLOATS for k in kinds) and any(k in _DECIMALS for k in kinds):
        clone = self.copy()
        if kinds[0] in _DECIMALS:
            clone.lhs = Func(self.lhs, function="toFloat64", output_field=FloatField())
        else:
            clone.rhs = Func(self.rhs, function="toFloat64", output_field=FloatField())
        return clone.as_sql(compiler, connection, **extra)
    return self.as_sql(compiler, connection, **extra)


def install():
    for cls, impl in REGISTRY.items():
        if "as_clickhouse" not in cls.__dict__:
            cls.as_clickhouse = impl
    if "as_clickhouse" not in Value.__dict__:
        Value.as_clickhouse = _typed_value
    if "as_clickhouse" not in CombinedExpression.__dict__:
        CombinedExpression.as_clickhouse = _combined


__all__ = ["install"]
