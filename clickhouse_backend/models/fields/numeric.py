from django.db.models import fields
from django.utils.translation import gettext_lazy as _

from .base import FieldMixin

__all__ = ["Float32Field", "Float64Field", "DecimalField", "BoolField"]


class Float32Field(FieldMixin, fields.FloatField):
    description = _("Single precision floating point number")

    def get_internal_type(self):
        return "Float32Field"


class Float64Field(FieldMixin, fields.FloatField):
    description = _("Double precision floating point number")

    def get_internal_type(self):
        return "Float64Field"


class DecimalField(FieldMixin, fields.DecimalField):
    pass


class BoolField(FieldMixin, fields.BooleanField):
    """Bool on servers that have it (21.12+), UInt8 before."""

    def get_internal_type(self):
        return "BoolField"

    def from_db_value(self, value, expression, connection):
        return value if value is None else bool(value)
