"""Django's JSONField (a String column of JSON text here) key transforms and
key lookups in ClickHouse SQL: JSONExtractRaw / JSONExtractString / JSONHas
(ClickHouse 19.4+; on older servers these raise NotSupportedError)."""
from django.db import NotSupportedError
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


def install():
    for cls, impl in ((dj_json.KeyTransform, key_transform),
                      (dj_json.KeyTextTransform, key_text_transform),
                      (dj_json.HasKeyLookup, has_key)):
        if "as_clickhouse" not in cls.__dict__:
            cls.as_clickhouse = impl
