"""ClickHouse SQL for Django's database functions (django.db.models.functions).

Registered as ``as_clickhouse`` methods, the hook Django's compiler looks up
per vendor. ClickHouse function names are case-sensitive on older servers
(18.16 has ``abs`` but not ``ABS``) and several SQL-standard functions have
other names or argument rules, so every function here gets an explicit
spelling that works on 18.16 and on current servers. Functions that 18.16
lacks entirely (COT, CHR, ASCII, LPAD...) use the modern name and fail there
with ClickHouse's "Unknown function" error.
"""
import datetime
import decimal
import re

from django.core.exceptions import FieldError
from django.db.models import FloatField, Func, Value, aggregates, functions as F
from django.db.models.functions import window as W
from django.db.models import Case, When
from django.db.models.expressions import Col, CombinedExpression, ExpressionWrapper

from .features import require


def _named(name, **fixed):
    def as_clickhouse(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function=name, **{**fixed, **extra})
    return as_clickhouse


def _templated(template):
    def as_clickhouse(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template=template, **extra)
    return as_clickhouse


def _modern(flag, old_template, name):
    """A function only newer servers have (features flag `flag`): an equivalent
    single-use template (the argument must appear once, parameters are not
    repeated) before."""
    def as_clickhouse(self, compiler, connection, **extra):
        if not getattr(connection.features, flag):
            return self.as_sql(compiler, connection, template=old_template, **extra)
        return self.as_sql(compiler, connection, function=name, **extra)
    return as_clickhouse


def _pairwise(name):
    # greatest/least take two arguments of numeric/date types before 20.4:
    # nest them, greatest(a, greatest(b, c)), and compare other types (strings)
    # in a lambda (each argument once), NULL if either is (Django's rule
    # before 24.12, see greatest_least_ignores_nulls).
    op = ">" if name == "greatest" else "<"

    def as_clickhouse(self, compiler, connection, **extra):
        exprs = self.get_source_expressions()
        parts, params = _compiled(compiler, exprs)
        old = not connection.features.has_variadic_greatest_least and any(
            _kind(e) in _TEXT for e in exprs)
        sql = parts[-1]
        for part in reversed(parts[:-1]):
            if old:
                sql = ("arrayElement(arrayMap((a, b) -> if(isNull(a) OR isNull(b), NULL, "
                       "if(a %s b, a, b)), [%s], [%s]), 1)" % (op, part, sql))
            else:
                sql = "%s(%s, %s)" % (name, part, sql)
        return sql, params
    return as_clickhouse


def _requires(flag, what, impl):
    """impl on servers with the features flag `flag`; before, NotSupportedError
    naming what is missing (rather than the server's "Unknown function")."""
    def as_clickhouse(self, compiler, connection, **extra):
        require(connection, flag, what)
        return impl(self, compiler, connection, **extra)
    return as_clickhouse


def _hash(name, flag=None):
    impl = _templated("lower(hex(%s(%%(expressions)s)))" % name)
    if flag:
        return _requires(flag, "%s (function %s)" % (name, name), impl)
    return impl


def _compiled(compiler, expressions):
    parts, params = [], []
    for expr in expressions:
        sql, p = compiler.compile(expr)
        parts.append(sql)
        params.extend(p)
    return parts, params


def _lambda(body, *names):
    """A body that uses each argument several times, as a lambda applied to
    one-element arrays: every argument (and its parameters) appears once in
    the SQL. Works on every server version (18.16 has lambdas)."""
    def as_clickhouse(self, compiler, connection, **extra):
        parts, params = _compiled(compiler, self.get_source_expressions())
        args = ", ".join("[%s]" % p for p in parts)
        return "arrayElement(arrayMap((%s) -> %s, %s), 1)" % (
            ", ".join(names), body, args), params
    return as_clickhouse


# Unicode code point <-> UTF-8 with byte functions (char() and ascii() work
# on single bytes; 18.16 has neither).
_BYTE = "reinterpretAsUInt8(substring(s, %d, 1))"
_ORD = ("multiIf(b1 < 128, b1, b1 < 224, bitAnd(b1, 31) * 64 + bitAnd(b2, 63), "
        "b1 < 240, bitAnd(b1, 15) * 4096 + bitAnd(b2, 63) * 64 + bitAnd(b3, 63), "
        "bitAnd(b1, 7) * 262144 + bitAnd(b2, 63) * 4096 + bitAnd(b3, 63) * 64 + bitAnd(b4, 63))")
for _i in range(1, 5):
    _ORD = _ORD.replace("b%d" % _i, _BYTE % _i)
_CH = "reinterpretAsString(toUInt8(%s))"
_CHR = ("multiIf(n < 128, {c0}, n < 2048, concat({c2a}, {t0}), n < 65536, "
        "concat({c3a}, {t1}, {t0}), concat({c4a}, {t2}, {t1}, {t0}))").format(
    c0=_CH % "n", t0=_CH % "128 + modulo(n, 64)", t1=_CH % "128 + modulo(intDiv(n, 64), 64)",
    t2=_CH % "128 + modulo(intDiv(n, 4096), 64)", c2a=_CH % "192 + intDiv(n, 64)",
    c3a=_CH % "224 + intDiv(n, 4096)", c4a=_CH % "240 + intDiv(n, 262144)")


def _ord(self, compiler, connection, **extra):
    return _lambda(_ORD, "s")(self, compiler, connection, **extra)


def _chr(self, compiler, connection, **extra):
    (arg,), params = _compiled(compiler, self.get_source_expressions())
    return "arrayElement(arrayMap(n -> %s, [toUInt32(%s)]), 1)" % (_CHR, arg), params


def _is_decimal(expr):
    try:
        return expr._output_field_or_none.get_internal_type() == "DecimalField"
    except (AttributeError, FieldError):
        return False


def _float_args(self, compiler, connection):
    """Arguments as Float64 where they are Decimals (math functions take no
    Decimal before 21.x, and never Decimal with Float64)."""
    parts, params = _compiled(compiler, self.get_source_expressions())
    parts = ["toFloat64(%s)" % p if _is_decimal(e) else p
             for p, e in zip(parts, self.get_source_expressions())]
    return parts, params


def _float_template(template):
    def as_clickhouse(self, compiler, connection, **extra):
        parts, params = _float_args(self, compiler, connection)
        return template % tuple(parts), params
    return as_clickhouse


def _mod(self, compiler, connection, **extra):
    exprs = self.get_source_expressions()
    if not any(_kind(e) in _FLOATS or _is_decimal(e) for e in exprs):
        if not connection.features.has_null_safe_modulo:
            # 18.16 computes NULL rows on their default 0 first: division by
            # zero. Divide by 1 there, the result is NULL anyway.
            (a, b), params = _compiled(compiler, exprs)
            return ("arrayElement(arrayMap((a, b) -> if(isNull(b), NULL, modulo(a, ifNull(b, 1))), "
                    "[%s], [%s]), 1)" % (a, b)), params
        return self.as_sql(compiler, connection, function="modulo", **extra)
    # fmod, as other databases compute MOD of non-integers (ClickHouse's
    # modulo truncates floats to integers before 20.x and refuses Decimals of
    # different scales).
    (a, b), _ = _float_args(self, compiler, connection)
    (_, pa), (_, pb) = (compiler.compile(e) for e in exprs)
    return "(%s - %s * trunc(%s / %s))" % (a, b, a, b), [*pa, *pb, *pa, *pb]


def _nullif(self, compiler, connection, **extra):
    a, b = self.get_source_expressions()
    if isinstance(b, Value) and b.value is None:
        # NULLIF(a, NULL) is a (a = NULL is not true); nullIf(a, NULL) is
        # NULL on 18.16.
        return compiler.compile(a)
    return self.as_sql(compiler, connection, function="nullIf", **extra)


def _repeat_old(self, compiler, connection, **extra):
    if connection.features.has_repeat_function:
        return _repeat(self, compiler, connection, **extra)
    # No repeat() on 18.16: join n copies.
    (text, n), _ = _compiled(compiler, self.get_source_expressions())
    (_, pt), (_, pn) = (compiler.compile(e) for e in self.get_source_expressions())
    return ("if(isNull(%s) OR isNull(%s), NULL, arrayStringConcat(arrayMap(x -> ifNull(%s, ''), "
            "range(toUInt64(ifNull(%s, 0))))))" % (n, text, text, n)), [*pn, *pt, *pt, *pn]


_TRIMS = {F.LTrim: "'^ +'", F.RTrim: "' +$'", F.Trim: "'^ +| +$'"}


def _trim(self, compiler, connection, **extra):
    # Spaces only, as Django's Trim on other databases; trimLeft/trimRight/
    # trimBoth do not exist on 18.16.
    return self.as_sql(compiler, connection, function="replaceRegexpAll",
                       template="%%(function)s(%%(expressions)s, %s, '')" % _TRIMS[type(self)],
                       **extra)


def _atan2(self, compiler, connection, **extra):
    if connection.features.has_atan2_function:
        parts, params = _float_args(self, compiler, connection)
        return "atan2(%s, %s)" % tuple(parts), params
    # No atan2 on 18.16: from atan() by quadrant.
    parts, params = _float_args(self, compiler, connection)
    body = ("if(isNull(y) OR isNull(x), NULL, multiIf(x > 0, atan(y / x), "
            "x < 0 AND y >= 0, atan(y / x) + pi(), x < 0, atan(y / x) - pi(), "
            "y > 0, pi() / 2, y < 0, -pi() / 2, 0))")
    return "arrayElement(arrayMap((y, x) -> %s, [toFloat64(%s)], [toFloat64(%s)]), 1)" % (
        body, parts[0], parts[1]), params


def _json_items(compiler, exprs):
    items, params = [], []
    for expr in exprs:
        sql, p = compiler.compile(expr)
        params.extend(p)
        if _kind(expr) in ("JSONField", "ClickhouseJSONField"):
            items.append("ifNull(%s, 'null')" % sql)  # already JSON text
        else:
            # toJSONString(NULL) is NULL, not 'null'.
            items.append("ifNull(toJSONString(%s), 'null')" % sql)
    return items, params


def _json_required(what, connection):
    require(connection, "has_json_object_function", "%s (function toJSONString)" % what)


def _json_array(self, compiler, connection, **extra):
    _json_required("JSONArray", connection)
    items, params = _json_items(compiler, self.get_source_expressions())
    if not items:
        return "'[]'", []
    return "concat('[', arrayStringConcat([%s], ','), ']')" % ", ".join(items), params


def _json_object(self, compiler, connection, **extra):
    if not connection.features.has_json_object_function:
        return self.as_sql(compiler, connection, **extra)  # Django's NotSupportedError
    exprs = self.get_source_expressions()
    keys, key_params = _json_items(compiler, exprs[0::2])
    values, value_params = _json_items(compiler, exprs[1::2])
    if not keys:
        return "'{}'", []
    pairs, params = [], []
    for i, (k, v) in enumerate(zip(keys, values)):
        pairs.append("concat(%s, ':', %s)" % (k, v))
    # Parameters in SQL order: key, value, key, value...
    per_key = [compiler.compile(e)[1] for e in exprs[0::2]]
    per_value = [compiler.compile(e)[1] for e in exprs[1::2]]
    for kp, vp in zip(per_key, per_value):
        params.extend([*kp, *vp])
    return "concat('{', arrayStringConcat([%s], ','), '}')" % ", ".join(pairs), params


def _concat_pair_typed(self, compiler, connection, **extra):
    # ClickHouse concat() takes strings only: other types as text.
    clone = self.copy()
    clone.set_source_expressions([
        e if _kind(e) in _TEXT else Func(e, function="toString")
        for e in clone.get_source_expressions()])
    return _concat_pair(clone, compiler, connection, **extra)


_NOT_NULLABLE = ("Nullable(", "LowCardinality(", "Array(", "Map(", "Tuple(", "JSON", "Object(")


def _never_null(expr):
    """A non-nullable column, a non-NULL literal, a COALESCE with one of them."""
    if isinstance(expr, F.Coalesce):
        return any(map(_never_null, expr.get_source_expressions()))
    return (isinstance(expr, Col) and not expr.target.null) or (
        isinstance(expr, Value) and expr.value is not None)


def _fit_cast_literals(src, field, connection):
    """The literal values a CAST would convert (a Value, Coalesce and Case/When
    results) checked against the target type as a written value is: CAST wraps
    an integer (toInt64(2**40) AS Int32 is 0, -1 AS UInt32 is 4294967295) and
    lets a Decimal exceed its precision, so a value that does not fit is
    refused with DataError naming the type and its range. A value of another
    kind ('abc' AS Int32) is left to the server's own conversion error."""
    from django.core.exceptions import ValidationError

    try:
        return _fit_results(src, field, connection)
    except (TypeError, ValueError, ValidationError, decimal.InvalidOperation):
        return src


def _cast(self, compiler, connection, **extra):
    """CAST keeping NULLs (ClickHouse refuses NULL -> T; 20.5's
    cast_keep_nullable is not on by default), refusing a literal the type
    cannot hold (_fit_cast_literals), rounding to a DecimalField's places
    (CAST truncates) and cutting to a CharField's max_length."""
    field = self.output_field
    db_type = field.cast_db_type(connection)
    src = _fit_cast_literals(self.get_source_expressions()[0], field, connection)
    sql, params = compiler.compile(src)
    internal = field.get_internal_type()
    if internal == "DecimalField" and _kind(src) in _FLOATS and field.decimal_places is not None:
        sql = "round(%s, %d)" % (sql, field.decimal_places)
    if not _never_null(src) and db_type and not db_type.startswith(_NOT_NULLABLE) and not (
            db_type == "UUID" and not connection.features.supports_nullable_uuid_cast):
        db_type = "Nullable(%s)" % db_type
    sql, params = _checked_cast(src, sql, params, db_type, field, connection, compiler)
    if internal == "CharField" and field.max_length:
        sql = "substringUTF8(%s, 1, %d)" % (sql, field.max_length)
    return sql, params


def _fits_without_check(src, field):
    """Whether every value of ``src`` fits the Cast's type: a literal (checked
    in Python), a column of a narrower integer or Decimal type. The type
    ClickHouse gives an expression is not its output field's (Int32 * Int32
    is Int64), so a computed value is always checked."""
    from .operations import _INT_RANGES
    if isinstance(src, Value):
        return True
    if not isinstance(src, Col):
        return False
    kind, internal = _kind(src), field.get_internal_type()
    if internal in _INT_RANGES and kind in _INT_RANGES:
        lo, hi = _INT_RANGES[internal]
        src_lo, src_hi = _INT_RANGES[kind]
        return lo <= src_lo and src_hi <= hi
    if internal == "DecimalField" and kind == "DecimalField":
        s = src.output_field
        return None not in (s.max_digits, s.decimal_places) and \
            s.max_digits - s.decimal_places <= field.max_digits - field.decimal_places
    return False


def _checked_cast(src, sql, params, db_type, field, connection, compiler):
    """CAST(sql AS db_type) that refuses what the type cannot hold instead of
    storing it wrapped: an integer out of the type's range (CAST wraps:
    toInt64(2**40) AS Int32 is 0), a Decimal past the field's digits (the
    Decimal32 of Decimal(9, 3) holds 2147483.647, its precision only
    999999.999). accurateCast where the server has it (has_accurate_cast), else
    throwIf() beside the value; a float is truncated first (CAST's rounding,
    which accurateCast refuses). The compiler turns the server's error into a
    DataError naming the type (_note_cast_check)."""
    from .operations import _INT_RANGES
    internal = field.get_internal_type()
    cast = "CAST(%s AS %s)" % (sql, db_type)
    if not db_type or _fits_without_check(src, field) or \
            getattr(compiler, "unchecked_casts", False):  # a mutation's: see SQLUpdateCompiler
        return cast, params
    if internal in _INT_RANGES and internal not in ("AutoField", "BigAutoField", "SmallAutoField"):
        lo, hi = _INT_RANGES[internal]
        if _kind(src) in _FLOATS:
            sql = "trunc(%s)" % sql
        if not connection.features.has_accurate_cast and \
                _kind(src) not in _INTEGERS | _FLOATS | _DECIMALS | set(_INT_RANGES):
            # Text (compared with a number is an error on 18.16): CAST parses it.
            return cast, params
        _note_cast_check(compiler, "%s (%s) [%d, %d]" % (internal, db_type, lo, hi))
        if connection.features.has_accurate_cast:
            return "accurateCast(%s, '%s')" % (sql, db_type), params
        # 18.16: throwIf() on the rows out of range, the value beside it.
        return ("CAST(((throwIf(NOT (%s BETWEEN %d AND %d)), %s)).2 AS %s)"
                % (sql, lo, hi, sql, db_type), [*params, *params])
    if internal == "DecimalField" and field.max_digits and field.decimal_places is not None \
            and field.max_digits - field.decimal_places <= 18:
        # CAST itself refuses what the storage type cannot hold (DECIMAL_OVERFLOW).
        limit = 10 ** (field.max_digits - field.decimal_places)
        _note_cast_check(compiler, "%s (%s) (-%d, %d)" % (internal, db_type, limit, limit))
        return ("((throwIf(NOT (abs(%s) < %d)), %s)).2" % (cast, limit, cast),
                [*params, *params])
    return cast, params


def _note_cast_check(compiler, what):
    """Remember on the compiler that its SQL checks a Cast's range, so that
    the server's refusal (accurateCast's, throwIf's) is reported naming it."""
    checks = compiler.__dict__.setdefault("cast_checks", [])
    if what not in checks:
        checks.append(what)


_TEXT = {"CharField", "TextField", "SlugField", "EmailField", "URLField", "StringField",
         "FixedStringField", None}


def _concat_pair(self, compiler, connection, **extra):
    # ClickHouse concat() is NULL if any argument is; Django's Concat treats
    # NULL as ''.
    return self.coalesce().as_sql(compiler, connection, function="concat", **extra)


def _log(self, compiler, connection, **extra):
    # Django: Log(base, x); ClickHouse log() is the natural logarithm.
    base, x = (compiler.compile(e) for e in self.get_source_expressions())
    return "(log(%s) / log(%s))" % (x[0], base[0]), [*x[1], *base[1]]


def _chars_slice(compiler, exprs, slice_args):
    """arraySlice over the string's characters (re2's '.' is one UTF-8
    character); NULL when any argument is (arraySlice would take a NULL
    offset as 0). slice_args: SQL templates over the arguments {1}, {2}."""
    compiled = [compiler.compile(e) for e in exprs]
    sqls = [c[0] for c in compiled]
    null_check = " OR ".join("isNull(%s)" % x for x in sqls)
    args = [sqls[0]] + ["ifNull(%s, 0)" % x for x in sqls[1:]]
    sliced = ", ".join(t.format(*args) for t in slice_args)
    sql = ("if(%s, NULL, arrayStringConcat(arraySlice(extractAll(ifNull(%s, ''), '(?s).'), %s)))"
           % (null_check, sqls[0], sliced))
    params = [p for c in compiled for p in c[1]] + list(compiled[0][1])
    for template in slice_args:
        for i, c in enumerate(compiled):
            if i and "{%d}" % i in template:
                params.extend(c[1])
    return sql, params


def _variable_args(self, connection):
    """substringUTF8 takes constant offset/length only before 20.x: with
    expressions there, slice the string's characters instead."""
    return not connection.features.substring_takes_expressions and not all(
        isinstance(e, Value) for e in self.get_source_expressions()[1:])


def _left(self, compiler, connection, **extra):
    if _variable_args(self, connection):
        return _chars_slice(compiler, self.get_source_expressions(), ["1", "{1}"])
    return self.as_sql(compiler, connection, function="substringUTF8",
                       template="%(function)s(%(expressions)s)",
                       arg_joiner=", 1, ", **extra)


def _right(self, compiler, connection, **extra):
    if _variable_args(self, connection):
        return _chars_slice(compiler, self.get_source_expressions(), ["-toInt64({1})"])
    # The last n characters: reverse, take n, reverse back (no negative
    # offsets before 20.x).
    return self.as_sql(compiler, connection,
                       template="reverseUTF8(substringUTF8(reverseUTF8(%(expressions)s))",
                       arg_joiner="), 1, ", **extra)


def _substr(self, compiler, connection, **extra):
    if _variable_args(self, connection):
        exprs = self.get_source_expressions()
        return _chars_slice(compiler, exprs, ["{%d}" % i for i in range(1, len(exprs))])
    if len(self.get_source_expressions()) == 2:
        # The length is required before ClickHouse 20.x: "to the end".
        return self.as_sql(compiler, connection, function="substringUTF8",
                           template="%(function)s(%(expressions)s, 4294967295)", **extra)
    return self.as_sql(compiler, connection, function="substringUTF8", **extra)


def _now(self, compiler, connection, **extra):
    if type(self).as_sql is not F.Now.as_sql:
        # A subclass with its own as_sql (Django's NowUTC, which takes
        # features.test_now_utc_template) renders itself: as_clickhouse is
        # inherited and would otherwise hide it.
        return self.as_sql(compiler, connection, **extra)
    if connection.features.supports_datetime64:
        return "now64(6)", []
    return "now()", []


def _random(self, compiler, connection, **extra):
    return "(rand() / 4294967296.0)", []


def _repeat(self, compiler, connection, **extra):
    return self.as_sql(compiler, connection, function="repeat", arg_joiner=", toUInt64(",
                       template="%(function)s(%(expressions)s))", **extra)


def _nullable_window(name):
    """LAG/LEAD/NTH_VALUE past the window's edge: NULL in SQL; ClickHouse gives
    the type's default (0, '') unless the value is Nullable."""
    def as_clickhouse(self, compiler, connection, **extra):
        exprs = self.get_source_expressions()
        clone = self.copy()
        clone.set_source_expressions(
            [Func(exprs[0], function="toNullable", output_field=exprs[0].output_field),
             *exprs[1:]])
        return clone.as_sql(compiler, connection, function=name, **extra)
    return as_clickhouse


REGISTRY = {
    # window functions (OVER needs 21.9: supports_over_clause); lower-case
    # names, the ones ClickHouse knows (case-sensitive: no CUME_DIST).
    W.Lag: _nullable_window("lag"), W.Lead: _nullable_window("lead"),
    W.NthValue: _nullable_window("nth_value"), W.CumeDist: _named("cume_dist"),
    # math
    F.Abs: _named("abs"), F.ACos: _named("acos"), F.ASin: _named("asin"),
    F.ATan: _named("atan"), F.ATan2: _atan2, F.Ceil: _named("ceil"),
    F.Cos: _named("cos"), F.Cot: _templated("(1 / tan(%(expressions)s))"),
    F.Degrees: _templated("(toFloat64(%(expressions)s) * 180 / pi())"),
    F.Radians: _templated("(toFloat64(%(expressions)s) * pi() / 180)"),
    F.Exp: _named("exp"), F.Floor: _named("floor"), F.Ln: _named("log"), F.Log: _log,
    F.Mod: _mod, F.Pi: _named("pi"), F.Power: _float_template("pow(%s, %s)"),
    F.Random: _random, F.Round: _named("round"), F.Sin: _named("sin"),
    F.Sqrt: _named("sqrt"), F.Tan: _named("tan"),
    F.Sign: _modern("has_sign_function", "arrayElement(arrayMap(v -> toInt8(v > 0) - toInt8(v < 0), "
                    "[%(expressions)s]), 1)", "sign"),
    # text
    F.ConcatPair: _concat_pair_typed, F.Left: _left, F.Right: _right,
    F.Length: _named("lengthUTF8"), F.Lower: _named("lowerUTF8"),
    F.Upper: _named("upperUTF8"), F.LTrim: _trim, F.RTrim: _trim, F.Trim: _trim,
    F.LPad: _requires("has_pad_utf8", "LPad (function leftPadUTF8)", _named("leftPadUTF8")),
    F.RPad: _requires("has_pad_utf8", "RPad (function rightPadUTF8)", _named("rightPadUTF8")),
    F.Repeat: _repeat_old, F.Replace: _named("replaceAll"), F.Reverse: _named("reverseUTF8"),
    F.StrIndex: _named("positionUTF8"), F.Substr: _substr,
    F.Chr: _chr, F.Ord: _ord, F.JSONArray: _json_array, F.JSONObject: _json_object,
    F.MD5: _hash("MD5"), F.SHA1: _hash("SHA1"), F.SHA224: _hash("SHA224"),
    F.SHA256: _hash("SHA256"), F.SHA384: _hash("SHA384", "has_sha384"),
    F.SHA512: _hash("SHA512", "has_sha512"),
    # comparison / date
    F.Greatest: _pairwise("greatest"), F.Least: _pairwise("least"),
    F.NullIf: _nullif, F.Now: _now, F.Cast: _cast,
}


def _plain(self, compiler, connection, **extra):
    return self.as_sql(compiler, connection, **extra)


def _bit_aggregate(self, compiler, connection, **extra):
    """Django 6.1's BitAnd/BitOr/BitXor (BIT_AND is groupBitAnd). Before 23.5
    those take only unsigned integers: a signed argument is read as the
    unsigned type of its width and the result back, the same bits (two's
    complement), so the result is exact."""
    source, *rest = self.get_source_expressions()
    m = None
    if not connection.features.supports_signed_bit_aggregations:
        try:
            db_type = source._output_field_or_none.db_type(connection) or ""
        except Exception:  # a field that needs a model or arguments
            db_type = ""
        m = re.fullmatch(r"(?:Nullable\()?Int(8|16|32|64)\)?", db_type)
    if m is None:
        return self.as_sql(compiler, connection, **extra)
    clone = self.copy()
    clone.set_source_expressions([
        Func(source, function="toUInt" + m[1], output_field=source.output_field), *rest])
    sql, params = clone.as_sql(compiler, connection, **extra)
    return "toInt%s(%s)" % (m[1], sql), params


_TEMPORAL = {"DateField", "DateTimeField", "ClickhouseDateField", "Date32Field",
             "ClickhouseDateTimeField", "DateTime64Field"}


def _typed_value(self, compiler, connection, **extra):
    """A Value of a column type: typed like the column, so CASE/if branches
    and mutations have a common type (a positive integer literal is UInt64,
    which has no common type with Int64; a date literal is a String)."""

    if isinstance(self.value, decimal.Decimal) and self.value.is_finite():
        # An exact Decimal, not the Float64 a bare 0.4 is (F("d") - 0.4
        # would be Float arithmetic).
        exponent = self.value.as_tuple().exponent
        return "toDecimal128(%%s, %d)" % max(0, -exponent), [str(self.value)]
    sql, params = self.as_sql(compiler, connection, **extra)
    field = self._output_field_or_none
    if sql != "%s" or not params or params[0] is None or field is None \
            or not getattr(field, "concrete", True):
        return sql, params
    value = params[0]
    if type(value) is int:
        if _free_integer(field):
            # Value(n)'s own IntegerField says "an integer", not Int32: a
            # snowflake id typed toInt32() would be stored wrapped.
            if -2**31 <= value < 2**31:
                return sql, params
            kind = connection.ops.integer_type_for(value)
            # Beyond 64 bits as text: a bare literal that long is a Float64.
            return "to%s(%s)" % (kind, sql), [value if kind.endswith("64") else str(value)]
    connection.ops.check_write_range([value], field)
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
    if type(value) is int and not -2**63 <= value < 2**64:
        params = [str(value)]  # toInt128('...'): a bare literal that long is a Float64
    return _typed_placeholder(db_type, sql), params


def _free_integer(field):
    """Django's plain IntegerField/BigIntegerField with no column behind it:
    the output field Value() infers for an int."""
    from django.db.models import BigIntegerField, IntegerField
    return type(field) in (IntegerField, BigIntegerField) and not hasattr(field, "model")


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
    if self.connector == "/" and "DecimalField" in kinds and \
            all(k == "DecimalField" or (k or "").endswith("IntegerField") for k in kinds):
        # ClickHouse keeps the dividend's scale (Decimal(8, 2) 0.01 / 10 is
        # 0.00, an integer's scale is 0: 2 / 3.0 is 0.6): divide at scale 18,
        # as exact as SQL's numeric.
        clone = self.copy()
        clone.lhs = Func(self.lhs, template="toDecimal128(%(expressions)s, 18)",
                         output_field=self.lhs.output_field)
        return clone.as_sql(compiler, connection, **extra)
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


def _decimal_get_db_prep_save(original):
    def get_db_prep_save(self, value, connection):
        value = original(self, value, connection)
        # Rounded to the column's places, as other databases store them:
        # ClickHouse before 20.x refuses a literal with more places than the
        # scale ("Decimal value is too small"), newer ones truncate.
        if connection.vendor == "clickhouse" and isinstance(value, decimal.Decimal) \
                and value.is_finite() and self.decimal_places is not None:
            try:
                value = value.quantize(decimal.Decimal(1).scaleb(-self.decimal_places),
                                       rounding=decimal.ROUND_HALF_UP,
                                       context=decimal.Context(prec=100))
            except decimal.InvalidOperation:
                pass
        return value
    get_db_prep_save._clickhouse = True
    return get_db_prep_save


def _aggregate(self, compiler, connection, **extra):
    """Sum/Avg/Max/Min/StdDev... over no values: NULL, as SQL, where the server
    lacks aggregate_functions_null_for_empty (count() stays 0: its
    empty_result_set_value is 0)."""
    sql, params = self.as_sql(compiler, connection, **extra)
    if self.empty_result_set_value is not None or \
            not connection.features.emulates_null_for_empty_aggregates:
        return sql, params
    source = self.get_source_expressions()[0]
    if self.filter is not None and not connection.features.supports_aggregate_filter_clause:
        from django.db.models import Case, When
        # as Aggregate.as_sql filters; Django 6.x wraps the Q in AggregateFilter
        condition = getattr(self.filter, "condition", self.filter)
        source = Case(When(condition, then=source))
    count_sql, count_params = compiler.compile(source)
    return "if(count(%s) = 0, NULL, %s)" % (count_sql, sql), [*count_params, *params]


# Aggregates of Django 6.x (absent from 5.2).
for _name, _impl in (
        ("BitAnd", _bit_aggregate), ("BitOr", _bit_aggregate), ("BitXor", _bit_aggregate),
        # STRING_AGG: an alias of groupConcat from 26.5.
        ("StringAgg", _requires("has_string_agg", "StringAgg (function STRING_AGG)", _plain))):
    if hasattr(aggregates, _name):
        REGISTRY[getattr(aggregates, _name)] = _impl


# -- literals typed for mutations (the compiler's and Cast's) --------
def _typed_placeholder(db_type, placeholder):
    """Mutations need values of the column's type: literals such as 1.25
    (Float64) or '2020-01-02' (String) have no common supertype with Decimal
    or Date there.  Conversion functions rather than CAST: 18.16 cannot CAST
    to every type (e.g. Nullable(UUID))."""
    if not db_type or "None" in db_type:  # e.g. a DecimalField() without digits
        return placeholder
    inner = db_type
    for wrapper in ("LowCardinality(", "Nullable("):
        if inner.startswith(wrapper):
            inner = inner[len(wrapper):-1]
    m = re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", inner)
    if m:
        # toDecimalN(x, S), not CAST: it keeps x Nullable or not (a Case
        # without default is NULL on some rows: CAST(NULL AS Decimal) fails,
        # a mutation that never ends on 18.16; a Nullable constant has no
        # common type with the column in 18.16's mutation).
        precision = int(m.group(1))
        bits = next(b for p, b in ((9, 32), (18, 64), (38, 128), (76, 256)) if precision <= p)
        return "toDecimal%d(%s, %s)" % (bits, placeholder, m.group(2))
    if inner.startswith("Decimal"):
        return "CAST(%s AS %s)" % (placeholder, inner)
    if inner.startswith("Enum"):
        # A String has no supertype with an Enum in 18.16's mutation, and its if()
        # refuses a constant Enum beside the column: materialize() ('%' of a label
        # doubled: the SQL is %-formatted with the params).
        return "materialize(CAST(%s AS %s))" % (placeholder, inner.replace("%", "%%"))
    if inner in ("Date", "Date32"):
        return "to%s(%s)" % (inner, placeholder)
    if inner.startswith("DateTime64"):
        return "toDateTime64(%s, %s)" % (placeholder, inner[len("DateTime64("):-1])
    if inner.startswith("DateTime"):
        return "toDateTime(%s%s)" % (placeholder, ", " + inner[len("DateTime("):-1]
                                     if "(" in inner else "")
    if inner in ("UUID", "IPv4", "IPv6") or re.fullmatch(r"U?Int\d+|Float(32|64)", inner):
        # Integer literals are UInt64 when positive: no supertype with Int64.
        return "to%s(%s)" % (inner, placeholder)
    return placeholder


def _fit_results(expr, field, connection):
    """The literals an UPDATE expression can store as they are (a Value that
    is a Case/When result, a Coalesce argument...) prepared as the column
    stores a plain value: a Decimal rounded to its places (the CAST would cut
    it), an integer checked against its range (toInt32() would wrap it).
    DataError naming the field when a literal does not fit."""
    if isinstance(expr, Value):
        if expr.value is None or hasattr(expr.value, "resolve_expression"):
            return expr
        value = field.get_db_prep_save(expr.value, connection)
        connection.ops.check_write_range([value], field)
        if value is expr.value or type(value) is not type(expr.value) or \
                isinstance(value, datetime.datetime):
            # nothing to adjust (or a value of another kind: Django's); a
            # date-time is prepared naive UTC, which the Value would read
            # again in the current time zone
            return expr
        clone = expr.copy()
        clone.value = value
        return clone
    if isinstance(expr, When):
        parts = ["result"]
    elif isinstance(expr, Case):
        parts = ["cases", "default"]
    elif isinstance(expr, (F.Coalesce, ExpressionWrapper)):
        parts = ["source"]
    else:
        return expr
    clone = expr.copy()
    if "source" in parts:
        clone.set_source_expressions([_fit_results(e, field, connection)
                                      for e in expr.get_source_expressions()])
        return clone
    for part in parts:
        value = getattr(expr, part)
        if isinstance(value, list):
            setattr(clone, part, [_fit_results(e, field, connection) for e in value])
        else:
            setattr(clone, part, _fit_results(value, field, connection))
    return clone


def _ref(self, compiler, connection):
    """A Ref to a SELECT alias the compiler renamed (compiler._colliding_aliases)."""
    renames = compiler.__dict__.get("alias_renames") or {}
    return connection.ops.quote_name(renames.get(self.refs, self.refs)), []


def install():
    from django.db.models import DecimalField
    from django.db.models.expressions import Ref

    from .checks import register
    register()  # the checks framework ignores a second registration

    original = DecimalField.get_db_prep_save
    if not getattr(original, "_clickhouse", False):
        DecimalField.get_db_prep_save = _decimal_get_db_prep_save(original)
    for cls, impl in REGISTRY.items():
        if "as_clickhouse" not in cls.__dict__:
            cls.as_clickhouse = impl
    if "as_clickhouse" not in Value.__dict__:
        Value.as_clickhouse = _typed_value
    if "as_clickhouse" not in Ref.__dict__:
        Ref.as_clickhouse = _ref
    from django.db.models import Aggregate
    if "as_clickhouse" not in Aggregate.__dict__:
        Aggregate.as_clickhouse = _aggregate
    if "as_clickhouse" not in CombinedExpression.__dict__:
        CombinedExpression.as_clickhouse = _combined


__all__ = ["install"]
