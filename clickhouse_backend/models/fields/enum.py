from django.core import checks
from django.db.models import fields

from .base import FieldMixin

__all__ = ["EnumField", "Enum8Field", "Enum16Field"]


def _text(label):
    """A label as the driver returns the name: str, bytes that are not UTF-8
    decoded with surrogateescape (as the driver decodes them)."""
    if isinstance(label, bytes):
        return label.decode("utf-8", "surrogateescape")
    return label


class EnumField(FieldMixin, fields.Field):
    """Enum16 by default.  choices = [(int value, name), ...], names str or
    bytes (ClickHouse names are bytes; as django-clickhouse-backend).  The
    server returns names; ``return_int=True`` (default) gives back the int
    value, ``return_int=False`` the name as str."""
    MIN_INT, MAX_INT = -32768, 32767

    def __init__(self, *args, return_int=True, **kwargs):
        self.return_int = return_int
        super().__init__(*args, **kwargs)

    def _check_choices(self):
        if not self.choices:
            return [checks.Error("%s must define 'choices'." % type(self).__name__, obj=self)]
        for choice in self.choices:
            try:
                value, label = choice
            except (TypeError, ValueError):
                return [checks.Error(self._pairs_error, obj=self, id="fields.E005")]
            if not isinstance(value, int) or isinstance(value, bool) or \
                    not isinstance(label, (str, bytes)):
                return [checks.Error(self._pairs_error, obj=self, id="fields.E005")]
            if not self.MIN_INT <= value <= self.MAX_INT:
                return [checks.Error("'choices' values must be in [%d, %d]."
                                     % (self.MIN_INT, self.MAX_INT), obj=self)]
        return []

    _pairs_error = "'choices' must contain (int, str or bytes) pairs."

    def get_internal_type(self):
        return "Enum16Field"

    def base_db_type(self, connection):
        from clickhouse_backend.backend.operations import quote_literal
        items = ", ".join("%s = %d" % (quote_literal(label), value)
                          for value, label in sorted(self.choices, key=lambda c: c[0]))
        return "%s(%s)" % (connection.data_types[self.get_internal_type()], items)

    @property
    def _name_to_value(self):
        return {_text(label): value for value, label in self.choices}

    def from_db_value(self, value, expression, connection):
        if value is None or not self.return_int:
            return value
        return self._name_to_value.get(_text(value), _text(value))

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if hasattr(value, "value"):  # IntegerChoices member
            value = value.value
        if isinstance(value, int) and not isinstance(value, bool):
            # Send the name: works in VALUES and in comparisons on every version.
            for v, label in self.choices:
                if v == value:
                    return label
        return value

    def to_python(self, value):
        return value

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if not self.return_int:
            kwargs["return_int"] = False
        return name, path, args, kwargs


class Enum8Field(EnumField):
    MIN_INT, MAX_INT = -128, 127

    def get_internal_type(self):
        return "Enum8Field"


class Enum16Field(EnumField):
    pass
