"""JSON functions of ClickHouse, as django-clickhouse-backend 2.0 has them
(``clickhouse_backend.models.functions.json``).

A JSONField here is a String column holding JSON text (see fields/json.py):
``JSONLength``, ``JSONMergePatch`` and ``isValidJSON`` read the text as it is.
``JSONAllPaths``, ``JSONAllPathsWithTypes``, ``JSONAllValues`` and
``JSONSharedDataPaths`` take the JSON type, so their argument is cast to it
(a JSON column already of that type is unchanged by the cast); a NULL document
reads as ``{}``, as the JSON type has no NULL. ``dynamicType(F("doc__a__b"))``
gives the type ClickHouse infers for that path of the document
(``dynamicType()`` of any other argument needs a Dynamic value).
Arguments are expressions, as Django's Func takes them: a str names a field,
a constant is ``Value("a")``.
"""
from django.db import NotSupportedError
from django.db.models import TextField, Value
from django.db.models.functions import Coalesce

from .. import fields
from ..fields.json import JSONKey
from .base import Func, require

__all__ = [
    "JSONAllPaths", "JSONAllPathsWithTypes", "JSONAllValues", "JSONLength", "JSONMergePatch",
    "JSONSharedDataPaths", "dynamicType", "isValidJSON", "toJSONString",
]


def _may_be_null(expression):
    if isinstance(expression, Value):
        return expression.value is None
    target = getattr(expression, "target", None)  # a column
    return target is None or target.null


def _as_json_type(compiler, connection, expression):
    """SQL of expression as a value of the JSON type."""
    if _may_be_null(expression):
        # The JSON type cannot hold NULL.
        expression = Coalesce(expression, Value("{}"), output_field=TextField())
    sql, params = compiler.compile(expression)
    return "CAST(%s, 'JSON')" % sql, params


class _OfJSONType(Func):
    """f(json) of a value of the JSON type."""
    arity = 1
    requires = "supports_json_type"

    def as_clickhouse(self, compiler, connection, **extra):
        self.check_support(connection)
        sql, params = _as_json_type(compiler, connection, self.get_source_expressions()[0])
        return "%s(%s)" % (self.function, sql), params


class JSONAllPaths(_OfJSONType):
    output_field = fields.ArrayField(fields.StringField())


class JSONAllPathsWithTypes(_OfJSONType):
    output_field = fields.MapField(fields.StringField(), fields.StringField())


class JSONAllValues(_OfJSONType):
    """Every path's value as text (as the JSON type stores it)."""
    output_field = fields.ArrayField(fields.StringField())
    requires = "has_json_all_values"


class JSONSharedDataPaths(_OfJSONType):
    """The paths kept together past the type's max_dynamic_paths, not as sub-columns."""
    output_field = fields.ArrayField(fields.StringField())


class JSONLength(Func):
    """JSONLength(json[, key_or_1_based_index...]): the number of elements of
    the array or keys of the object there, 0 where there is none."""
    output_field = fields.UInt64Field()
    requires = "supports_json_functions"


class JSONMergePatch(Func):
    """JSONMergePatch(json, ...): the documents merged as JSON text, a later
    document's keys replacing earlier ones' and objects merged recursively (a
    null value is kept, not a deletion as in RFC 7396); NULL if one is NULL."""
    output_field = fields.StringField()
    requires = "has_json_merge_patch"

    def as_clickhouse(self, compiler, connection, **extra):
        self.check_support(connection)
        # ClickHouse runs the function on a NULL row's hidden '' too, which is
        # no JSON document: the whole query fails. Give it '{}' and NULL the row.
        args, nulls, params, null_params = [], [], [], []
        for expression in self.get_source_expressions():
            sql, sql_params = compiler.compile(expression)
            if _may_be_null(expression):
                args.append("ifNull(%s, '{}')" % sql)
                nulls.append("isNull(%s)" % sql)
                null_params.extend(sql_params)
            else:
                args.append(sql)
            params.extend(sql_params)
        sql = "JSONMergePatch(%s)" % ", ".join(args)
        if nulls:
            sql = "if(%s, NULL, %s)" % (" OR ".join(nulls), sql)
            params = null_params + params
        return sql, tuple(params)


class isValidJSON(Func):
    arity = 1
    output_field = fields.BoolField()
    requires = "has_is_valid_json"


class toJSONString(Func):
    """The value (a Map, Tuple, Array, number, string...) as JSON text."""
    arity = 1
    output_field = fields.StringField()
    requires = "has_json_object_function"


class dynamicType(Func):
    arity = 1
    output_field = fields.StringField()
    requires = "has_dynamic_type"

    def as_clickhouse(self, compiler, connection, **extra):
        self.check_support(connection)
        (expression,) = self.get_source_expressions()
        if not isinstance(expression, JSONKey):
            return self.as_sql(compiler, connection, **extra)
        # A key transform reads JSON text (a String): read the path of the
        # document as the JSON type instead, whose sub-column is Dynamic.
        require(connection, "supports_json_type", "dynamicType() of a JSONField path")
        keys = []
        while isinstance(expression, JSONKey):
            keys.insert(0, expression.key)
            expression = expression.lhs
        if any(key.isdigit() for key in keys):
            raise NotSupportedError(
                "dynamicType() of a JSONField path with an array index (%s): the JSON "
                "type keeps an array whole, its elements are not sub-columns."
                % "__".join(keys))
        sql, params = _as_json_type(compiler, connection, expression)
        return "dynamicType(getSubcolumn(%s, %%s))" % sql, (*params, ".".join(keys))
