from django.db.models import Field, IntegerField, Transform, lookups

from .array import ArrayField
from .base import FieldMixin

__all__ = ["MapField"]


class MapField(FieldMixin, Field):
    """Map(K, V) (ClickHouse 21.8+).  Lookups: has_key, len; transforms:
    keys, values, and ``field__<key>`` (string keys)."""
    empty_strings_allowed = False
    requires = "supports_map_type"

    def __init__(self, key_field, value_field, **kwargs):
        self.key_field = key_field
        self.value_field = value_field
        super().__init__(**kwargs)

    def get_internal_type(self):
        return "MapField"

    def base_db_type(self, connection):
        return "Map(%s, %s)" % (self.key_field.db_type(connection),
                                self.value_field.db_type(connection))

    def db_type(self, connection):
        self.check_server(connection)
        return self.base_db_type(connection)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["key_field"] = self.key_field.clone()
        kwargs["value_field"] = self.value_field.clone()
        return name, path, args, kwargs

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, dict):
            return {self.key_field.get_db_prep_value(k, connection):
                    self.value_field.get_db_prep_value(v, connection)
                    for k, v in value.items()}
        return value

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return dict(value)

    def get_transform(self, name):
        transform = super().get_transform(name)
        if transform:
            return transform
        return KeyTransformFactory(name, self.key_field, self.value_field)


@MapField.register_lookup
class MapHasKey(lookups.Lookup):
    lookup_name = "has_key"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [value]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return "mapContains(%s, %s)" % (lhs, rhs), (*lhs_params, *rhs_params)


@MapField.register_lookup
class MapLen(Transform):
    lookup_name = "len"
    function = "length"
    output_field = IntegerField()


class _KeysValues(Transform):
    @property
    def output_field(self):
        mf = self.lhs.output_field
        return ArrayField(mf.key_field if self.lookup_name == "keys" else mf.value_field)


@MapField.register_lookup
class MapKeys(_KeysValues):
    lookup_name = "keys"
    function = "mapKeys"


@MapField.register_lookup
class MapValues(_KeysValues):
    lookup_name = "values"
    function = "mapValues"


class KeyTransform(Transform):
    """``field__<key>``: the value of the map at `key` (converted by key_field;
    a missing key gives the value type's default, as ClickHouse does)."""

    def __init__(self, key, key_field, value_field, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key = key
        self.key_field = key_field
        self.value_field = value_field

    def as_sql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        key = self.key_field.get_db_prep_value(self.key, connection)
        return "arrayElement(%s, %%s)" % lhs, (*params, key)

    @property
    def output_field(self):
        return self.value_field


class KeyTransformFactory:
    def __init__(self, key, key_field, value_field):
        self.key = key
        self.key_field = key_field
        self.value_field = value_field

    def __call__(self, *args, **kwargs):
        return KeyTransform(self.key, self.key_field, self.value_field, *args, **kwargs)
