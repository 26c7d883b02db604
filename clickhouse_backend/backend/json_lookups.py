"""Django's JSONField (a String column of JSON text here) key transforms and
key lookups in ClickHouse SQL: JSONExtractRaw / JSONExtractString / JSONHas
(ClickHouse 19.4+; on older servers these raise NotSupportedError)."""
from django.db import NotSupportedError
from django.db.models.expressions import RawSQL, Value
from django.db.models.fields import json as dj_json


def _path(keys, final_is_key=False):
    """ClickHouse JSON* function path arguments: string keys as parameters,
    integer keys (array indexes, 0-based in Django) as 1-based literals."""
    sql, params = [], []
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        try:
            index = int(key)
        except (TypeError, ValueError):
            index = None
        if index is not None and not (last and final_is_key):
            sql.append(str(index + 1 if index >= 0 else index))
        else:
            sql.append("%s")
            params.append(str(key))
    return sql, params


def _require(connection):
    if not connection.features.supports_json_functions:
        raise NotSupportedError(
            "JSON key lookups need ClickHouse 19.4 or later (server is %s)."
            % ".".join(map(str, connection.server_version)))


def _extract(transform, compiler, connection):
    _require(connection)
    lhs, params, keys = transform.preprocess_lhs(compiler, connection)
    path_sql, path_params = _path(keys)
    args = ", ".join([lhs] + path_sql)
    return args, (*params, *path_params)


def key_transform(self, compiler, connection):
    args, params = _extract(self, compiler, connection)
    # A missing key is '' for JSONExtractRaw: NULL, as on other databases.
    return "nullIf(JSONExtractRaw(%s), '')" % args, params


def key_text_transform(self, compiler, connection):
    args, params = _extract(self, compiler, connection)
    # Strings unquoted, everything else as its JSON text.
    return ("if(JSONType(%s) = 'String', JSONExtractString(%s), nullIf(JSONExtractRaw(%s), ''))"
            % (args, args, args)), params * 3


def has_key(self, compiler, connection):
    _require(connection)
    if isinstance(self.lhs, dj_json.KeyTransform):
        lhs, lhs_params, prefix = self.lhs.preprocess_lhs(compiler, connection)
    else:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        prefix = []
    rhs = self.rhs if isinstance(self.rhs, (list, tuple)) else [self.rhs]
    parts, params = [], []
    for key in rhs:
        if isinstance(key, dj_json.KeyTransform):
            *_, keys = key.preprocess_lhs(compiler, connection)
        else:
            keys = [key]
        # The final key of has_key is a key, not an array index (Django's rule),
        # except for HasKeyOrArrayIndex (data__has_key=F("data__0")).
        final_is_key = not isinstance(self, dj_json.HasKeyOrArrayIndex)
        path_sql, path_params = _path(prefix + keys, final_is_key=final_is_key)
        parts.append("JSONHas(%s)" % ", ".join([lhs] + path_sql))
        params.extend([*lhs_params, *path_params])
    if self.logical_operator:
        return "(%s)" % self.logical_operator.join(parts), tuple(params)
    return parts[0], tuple(params)


_NUMERIC_TYPES = "('Int64', 'UInt64', 'Double')"


def _number(args):
    """The JSON value as Float64 when it is a number, else NULL (a string
    "2" or true is not a number, as in PostgreSQL's jsonb)."""
    return "if(JSONType(%s) IN %s, JSONExtractFloat(%s), NULL)" % (args, _NUMERIC_TYPES, args)


def key_exact(self, compiler, connection):
    """data__key=value: JSON texts compared after ClickHouse normalizes both
    (JSONExtractRaw writes {"a":1} for {"a": 1} and 2.5 for 2.50)."""
    if hasattr(self.rhs, "resolve_expression"):
        return self.as_sql(compiler, connection)
    lhs, lhs_params = self.process_lhs(compiler, connection)
    rhs, rhs_params = self.process_rhs(compiler, connection)
    return "%s = JSONExtractRaw(%s)" % (lhs, rhs), (*lhs_params, *rhs_params)


def key_numeric(self, compiler, connection):
    """data__key__gt=2: numbers compare as numbers, strings as text."""
    if hasattr(self.rhs, "resolve_expression") or not isinstance(self.lhs, dj_json.KeyTransform):
        return self.as_sql(compiler, connection)
    rhs, rhs_params = self.process_rhs(compiler, connection)
    args, params = _extract(self.lhs, compiler, connection)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rhs_params):
        lhs = _number(args)
        params = tuple(params) * 2
    else:
        lhs, params = key_text_transform(self.lhs, compiler, connection)
    return "%s %s" % (lhs, self.get_rhs_op(connection, rhs)), (*params, *rhs_params)


def order_by(self, compiler, connection, **extra):
    """OrderBy's spelling after its NULL order (expressions.order_by).
    Ordering by a JSON key: numbers by value (JSON text would put "-1"
    before "-100"), then the other values by their JSON text."""
    expr = self.expression
    if isinstance(expr, dj_json.KeyTransform) and not isinstance(expr, dj_json.KeyTextTransform):
        args, params = _extract(expr, compiler, connection)
        key = "tuple(JSONType(%s) NOT IN %s, %s, JSONExtractRaw(%s))" % (
            args, _NUMERIC_TYPES, _number(args), args)
        clone = self.copy()
        clone.expression = RawSQL(key, tuple(params) * 4)
        return clone.as_sql(compiler, connection, **extra)
    return self.as_sql(compiler, connection, **extra)


# Django 6.0+ (JSONIn) encodes Value parameters as JSON text too.
_ENCODES_VALUES = hasattr(dj_json, "JSONIn")


def _in_parameter(original):
    def resolve_expression_parameter(self, compiler, connection, sql, param):
        sql, params = original(self, compiler, connection, sql, param)
        encoded = not hasattr(param, "as_sql") or (_ENCODES_VALUES and isinstance(param, Value))
        if connection.vendor == "clickhouse" and encoded:
            sql = "JSONExtractRaw(%s)" % sql  # normalized as the key's value
        return sql, params
    resolve_expression_parameter._clickhouse = True
    return resolve_expression_parameter


def spelled_classes():
    """The JSON classes given an as_clickhouse here."""
    return [dj_json.KeyTransformLt, dj_json.KeyTransformLte, dj_json.KeyTransformGt,
            dj_json.KeyTransformGte, dj_json.KeyTransform, dj_json.KeyTextTransform,
            dj_json.HasKeyLookup, dj_json.KeyTransformExact]


def install():
    # Django 6.0 moved KeyTransformIn's method to its base JSONIn: wrap what
    # it has, on KeyTransformIn only (JSONIn also serves data__in).
    in_param = dj_json.KeyTransformIn.resolve_expression_parameter
    if not getattr(in_param, "_clickhouse", False):
        dj_json.KeyTransformIn.resolve_expression_parameter = _in_parameter(in_param)
    for cls in (dj_json.KeyTransformLt, dj_json.KeyTransformLte, dj_json.KeyTransformGt,
                dj_json.KeyTransformGte):
        if "as_clickhouse" not in cls.__dict__:
            cls.as_clickhouse = key_numeric
    for cls, impl in ((dj_json.KeyTransform, key_transform),
                      (dj_json.KeyTextTransform, key_text_transform),
                      (dj_json.HasKeyLookup, has_key),
                      (dj_json.KeyTransformExact, key_exact)):
        if "as_clickhouse" not in cls.__dict__:
            cls.as_clickhouse = impl
