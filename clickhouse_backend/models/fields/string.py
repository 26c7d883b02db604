from django.core import checks, exceptions
from django.db.models import fields
from django.utils.translation import gettext_lazy as _

from .base import FieldMixin

__all__ = ["StringField", "FixedStringField", "UUIDField"]


class StringField(FieldMixin, fields.TextField):
    """ClickHouse String: arbitrary bytes; str in Python.  ``max_length`` is
    only validated in Python (ClickHouse has no length limit)."""
    description = _("String")

    def get_internal_type(self):
        return "StringField"

    def to_python(self, value):
        if isinstance(value, (str, bytes)) or value is None:
            return value
        return str(value)


class FixedStringField(FieldMixin, fields.Field):
    """FixedString(N): exactly N bytes (shorter values are padded with NUL
    by the server).  Values come back as str with the padding NULs removed
    (as with django-clickhouse-backend; the driver decodes FixedString so
    unless strings_as_bytes is set)."""
    description = _("Binary string of %(max_bytes)s bytes")

    def __init__(self, *args, max_bytes=None, **kwargs):
        self.max_bytes = max_bytes
        super().__init__(*args, **kwargs)

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if not isinstance(self.max_bytes, int) or isinstance(self.max_bytes, bool) \
                or self.max_bytes <= 0:
            errors.append(checks.Error("FixedStringField must define a positive integer "
                                       "'max_bytes' attribute.", obj=self))
        return errors

    def get_internal_type(self):
        return "FixedStringField"

    def db_type_parameters(self, connection):
        return {"max_bytes": self.max_bytes}

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["max_bytes"] = self.max_bytes
        return name, path, args, kwargs

    def to_python(self, value):
        if isinstance(value, (str, bytes)) or value is None:
            return value
        return str(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        # Compared values padded with NULs as the column holds them: before
        # 20.x FixedString(4) 'ab' is 'ab\0\0' and not equal to 'ab'.
        if isinstance(value, str):
            short = (self.max_bytes or 0) - len(value.encode())
            if short > 0:
                value += "\0" * short
        elif isinstance(value, bytes) and (self.max_bytes or 0) > len(value):
            value += b"\0" * (self.max_bytes - len(value))
        return value

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value is not None:
            n = len(value.encode() if isinstance(value, str) else value)
            if n > self.max_bytes:
                raise exceptions.ValidationError(
                    "Ensure this value has at most %d bytes (it has %d)." % (self.max_bytes, n),
                    code="max_bytes")


class UUIDField(FieldMixin, fields.UUIDField):
    pass
