import ipaddress

from django.core import exceptions
from django.db.models import fields

from .base import FieldMixin

__all__ = ["IPv4Field", "IPv6Field", "GenericIPAddressField"]


class GenericIPAddressField(FieldMixin, fields.GenericIPAddressField):
    """IPv6 column (IPv4 when protocol="ipv4"); String on servers before 19.3."""

    def base_db_type(self, connection):
        if self.protocol.lower() == "ipv4":
            return connection.data_types["IPv4Field"]
        return connection.data_types["IPv6Field"]

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        if value is None or connection.vendor != "clickhouse":
            return value
        if not connection.features.supports_ip_types:
            return str(value)
        addr = ipaddress.ip_address(str(value))
        if self.protocol.lower() != "ipv4" and isinstance(addr, ipaddress.IPv4Address):
            addr = ipaddress.IPv6Address("::ffff:%s" % addr)
        return addr

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        addr = ipaddress.ip_address(str(value))
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped and \
                (self.unpack_ipv4 or self.protocol.lower() == "ipv4"):
            return str(addr.ipv4_mapped)
        return str(addr)


class IPv4Field(GenericIPAddressField):
    def __init__(self, *args, **kwargs):
        kwargs["protocol"] = "ipv4"
        kwargs.pop("unpack_ipv4", None)
        super().__init__(*args, **kwargs)

    def get_internal_type(self):
        return "IPv4Field"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key in ("protocol", "unpack_ipv4", "max_length"):
            kwargs.pop(key, None)
        return name, path, args, kwargs


class IPv6Field(GenericIPAddressField):
    def __init__(self, *args, **kwargs):
        kwargs["protocol"] = "both"
        super().__init__(*args, **kwargs)

    def get_internal_type(self):
        return "IPv6Field"

    def base_db_type(self, connection):
        return connection.data_types["IPv6Field"]

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key in ("protocol", "max_length"):
            kwargs.pop(key, None)
        return name, path, args, kwargs

    def to_python(self, value):
        value = super().to_python(value)
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise exceptions.ValidationError("Enter a valid IP address.", code="invalid")
        return value
