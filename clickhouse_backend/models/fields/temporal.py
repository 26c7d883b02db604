import datetime

from django.core import checks
from django.db.models import fields

from .base import FieldMixin

__all__ = ["DateField", "Date32Field", "DateTimeField", "DateTime64Field"]


class DateField(FieldMixin, fields.DateField):
    """ClickHouse Date (1970-01-01 .. 2149-06-06; 2106 on old servers)."""

    def get_internal_type(self):
        return "ClickhouseDateField"


class Date32Field(FieldMixin, fields.DateField):
    requires = "supports_date32"

    def get_internal_type(self):
        return "Date32Field"


class DateTimeField(FieldMixin, fields.DateTimeField):
    """ClickHouse DateTime('UTC'): second precision."""

    def get_internal_type(self):
        return "ClickhouseDateTimeField"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if isinstance(value, datetime.datetime) and value.microsecond:
            value = value.replace(microsecond=0)
        return value


class DateTime64Field(FieldMixin, fields.DateTimeField):
    """ClickHouse DateTime64(precision, 'UTC')."""
    DEFAULT_PRECISION = 6
    requires = "supports_datetime64"

    def __init__(self, *args, precision=DEFAULT_PRECISION, **kwargs):
        self.precision = precision
        super().__init__(*args, **kwargs)

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if not isinstance(self.precision, int) or isinstance(self.precision, bool) \
                or not 0 <= self.precision <= 9:
            errors.append(checks.Error("'precision' must be an integer in [0, 9].", obj=self))
        return errors

    def get_internal_type(self):
        return "DateTime64Field"

    def db_type_parameters(self, connection):
        return {"precision": self.precision}

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.precision != self.DEFAULT_PRECISION:
            kwargs["precision"] = self.precision
        return name, path, args, kwargs
