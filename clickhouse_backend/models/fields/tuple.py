from django.core import checks
from django.db.models import Field, Transform

from .base import FieldMixin

__all__ = ["TupleField"]


class TupleField(FieldMixin, Field):
    """Tuple(T1, T2, ...) from a list of fields, or named Tuple(a T1, ...)
    from a list of (name, field) pairs.  ``field__0`` / ``field__name``
    access an element."""
    empty_strings_allowed = False

    def __init__(self, base_fields, **kwargs):
        self.base_fields = list(base_fields)
        super().__init__(**kwargs)

    def _items(self):
        items = []
        for i, item in enumerate(self.base_fields):
            if isinstance(item, (list, tuple)):
                items.append((item[0], item[1]))
            else:
                items.append((None, item))
        return items

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if not self.base_fields:
            errors.append(checks.Error("TupleField needs at least one base field.", obj=self))
        return errors

    def get_internal_type(self):
        return "TupleField"

    def base_db_type(self, connection):
        parts = []
        for name, field in self._items():
            t = field.db_type(connection)
            parts.append("%s %s" % (name, t) if name else t)
        return "Tuple(%s)" % ", ".join(parts)

    def db_type(self, connection):
        self.check_server(connection)
        return self.base_db_type(connection)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["base_fields"] = [
            (n, f.clone()) if n else f.clone() for n, f in self._items()]
        return name, path, args, kwargs

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, dict):
            value = [value[n] for n, _ in self._items()]
        if isinstance(value, (list, tuple)):
            return tuple(f.get_db_prep_value(v, connection, prepared=False)
                         for (_, f), v in zip(self._items(), value))
        return value

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        out = []
        for (_, f), v in zip(self._items(), value):
            conv = getattr(f, "from_db_value", None)
            out.append(conv(v, expression, connection) if conv else v)
        return tuple(out)

    def to_python(self, value):
        if isinstance(value, list):
            return tuple(value)
        return value

    def get_transform(self, name):
        transform = super().get_transform(name)
        if transform:
            return transform
        items = self._items()
        for i, (n, f) in enumerate(items):
            if (n is not None and n == name) or (name.isdigit() and int(name) == i):
                return _ElementFactory(i, f)
        return None


class TupleElement(Transform):
    def __init__(self, index, field, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = index
        self.element_field = field

    def as_sql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        return "tupleElement(%s, %d)" % (lhs, self.index + 1), params

    @property
    def output_field(self):
        return self.element_field


class _ElementFactory:
    def __init__(self, index, field):
        self.index = index
        self.element_field = field

    def __call__(self, *args, **kwargs):
        return TupleElement(self.index, self.element_field, *args, **kwargs)
