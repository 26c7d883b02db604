from django.db.models import fields
from django.utils.translation import gettext_lazy as _

from .base import FieldMixin

__all__ = ["Int8Field", "Int16Field", "Int32Field", "Int64Field", "Int128Field", "Int256Field",
           "UInt8Field", "UInt16Field", "UInt32Field", "UInt64Field", "UInt128Field",
           "UInt256Field"]


class IntegerFieldMixin(FieldMixin):
    def get_internal_type(self):
        return type(self).__name__

    def formfield(self, **kwargs):
        lo, hi = self._range
        return super().formfield(**{"min_value": lo, "max_value": hi, **kwargs})

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        # Compared values beyond 64 bits as text: ClickHouse reads a bare
        # 2**100 as a Float64 (inexact), a string compared with an Int128/
        # UInt256 column as that type. Inserts keep the integer.
        if prepared and isinstance(value, int) and not -2**63 <= value < 2**64:
            return str(value)
        return value

    def get_db_prep_save(self, value, connection):
        if hasattr(value, "as_sql"):
            return value
        return super().get_db_prep_value(value, connection, prepared=False)


def _make(name, bits, signed, requires=None):
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    base = fields.BigIntegerField if bits >= 64 else fields.IntegerField
    cls = type(name, (IntegerFieldMixin, base), {
        "__module__": __name__,
        "_range": (lo, hi),
        "requires": requires,
        "description": _("%s-bit %s integer") % (bits, "signed" if signed else "unsigned"),
        # Validators use these (BigIntegerField's own limits are for Int64).
        "MAX_BIGINT": hi,
    })
    return cls


Int8Field = _make("Int8Field", 8, True)
Int16Field = _make("Int16Field", 16, True)
Int32Field = _make("Int32Field", 32, True)
Int64Field = _make("Int64Field", 64, True)
Int128Field = _make("Int128Field", 128, True, "supports_big_ints")
Int256Field = _make("Int256Field", 256, True, "supports_big_ints")
UInt8Field = _make("UInt8Field", 8, False)
UInt16Field = _make("UInt16Field", 16, False)
UInt32Field = _make("UInt32Field", 32, False)
UInt64Field = _make("UInt64Field", 64, False)
UInt128Field = _make("UInt128Field", 128, False, "supports_big_ints")
UInt256Field = _make("UInt256Field", 256, False, "supports_big_ints")
