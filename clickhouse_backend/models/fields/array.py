from django.core import checks
from django.db.models import Field, IntegerField, Transform, lookups
from django.db.models.fields.mixins import CheckFieldDefaultMixin

from .base import FieldMixin

__all__ = ["ArrayField"]


class ArrayField(CheckFieldDefaultMixin, FieldMixin, Field):
    """Array(T).  Lookups: contains, contained_by, overlap, any, len, exact;
    transforms: ``field__0`` (0-based index) and ``field__1_3`` (slice)."""
    _default_hint = ("list", "[]")
    empty_strings_allowed = False

    def __init__(self, base_field, size=None, **kwargs):
        self.base_field = base_field
        self.size = size
        super().__init__(**kwargs)

    @property
    def model(self):
        try:
            return self.__dict__["model"]
        except KeyError:
            raise AttributeError("'%s' object has no attribute 'model'" % type(self).__name__)

    @model.setter
    def model(self, model):
        self.__dict__["model"] = model
        self.base_field.model = model

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if getattr(self.base_field, "remote_field", None):
            errors.append(checks.Error("Base field for array cannot be a related field.",
                                       obj=self))
        return errors

    def set_attributes_from_name(self, name):
        super().set_attributes_from_name(name)
        self.base_field.set_attributes_from_name(name)

    def get_internal_type(self):
        return "ArrayField"

    def base_db_type(self, connection):
        return "Array(%s)" % self.base_field.db_type(connection)

    def db_type(self, connection):
        self.check_server(connection)
        # Arrays cannot be Nullable; null=True only allows Python None → [].
        return self.base_db_type(connection)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["base_field"] = self.base_field.clone()
        if self.size is not None:
            kwargs["size"] = self.size
        return name, path, args, kwargs

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, (list, tuple)):
            return [self.base_field.get_db_prep_value(v, connection, prepared=False)
                    for v in value]
        if value is None and connection.vendor == "clickhouse":
            return []
        return value

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        conv = getattr(self.base_field, "from_db_value", None)
        if conv is None:
            return list(value)
        return [conv(v, expression, connection) for v in value]

    def to_python(self, value):
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, list):
            return [self.base_field.to_python(v) for v in value]
        return value

    def value_to_string(self, obj):
        return self.value_from_object(obj)

    def get_transform(self, name):
        transform = super().get_transform(name)
        if transform:
            return transform
        if name.isdigit():
            return IndexTransformFactory(int(name), self.base_field)
        parts = name.split("_")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            return SliceTransformFactory(int(parts[0]), int(parts[1]))
        return None


@ArrayField.register_lookup
class ArrayContains(lookups.Lookup):
    lookup_name = "contains"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return "hasAll(%s, %s)" % (lhs, rhs), (*lhs_params, *rhs_params)


@ArrayField.register_lookup
class ArrayContainedBy(lookups.Lookup):
    lookup_name = "contained_by"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return "hasAll(%s, %s)" % (rhs, lhs), (*rhs_params, *lhs_params)


@ArrayField.register_lookup
class ArrayOverlap(lookups.Lookup):
    lookup_name = "overlap"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return "hasAny(%s, %s)" % (lhs, rhs), (*lhs_params, *rhs_params)


@ArrayField.register_lookup
class ArrayAny(lookups.Lookup):
    """field__any=value: the array has an element equal to value."""
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [self.lhs.output_field.base_field.get_db_prep_value(value, connection)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return "has(%s, %s)" % (lhs, rhs), (*lhs_params, *rhs_params)


@ArrayField.register_lookup
class ArrayLenTransform(Transform):
    lookup_name = "len"
    function = "length"
    output_field = IntegerField()


class IndexTransform(Transform):
    def __init__(self, index, base_field, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = index
        self.base_field = base_field

    def as_sql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        # Django indexes are 0-based; ClickHouse arrays are 1-based.
        return "arrayElement(%s, %d)" % (lhs, self.index + 1), params

    @property
    def output_field(self):
        return self.base_field


class IndexTransformFactory:
    def __init__(self, index, base_field):
        self.index = index
        self.base_field = base_field

    def __call__(self, *args, **kwargs):
        return IndexTransform(self.index, self.base_field, *args, **kwargs)


class SliceTransform(Transform):
    def __init__(self, start, end, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.start = start
        self.end = end

    def as_sql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        return "arraySlice(%s, %d, %d)" % (lhs, self.start + 1, max(self.end - self.start, 0)), params


class SliceTransformFactory:
    def __init__(self, start, end):
        self.start = start
        self.end = end

    def __call__(self, *args, **kwargs):
        return SliceTransform(self.start, self.end, *args, **kwargs)
