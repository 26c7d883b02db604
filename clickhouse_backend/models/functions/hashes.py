"""Hash functions of ClickHouse. The FixedString digests (MD5, SHA*,
sipHash128…) are read as bytes, exactly as hashlib's digest()."""
from .. import fields
from .base import Func, check_arity, literal

__all__ = [
    "halfMD5", "MD4", "MD5", "SHA1", "SHA224", "SHA256", "SHA512", "SHA512_256", "BLAKE3",
    "sipHash64", "sipHash64Keyed", "sipHash128", "sipHash128Keyed", "sipHash128Reference",
    "sipHash128ReferenceKeyed", "cityHash64", "farmHash64", "farmFingerprint64",
    "intHash32", "intHash64", "URLHash", "CityHash64",
]


class DigestField(fields.FixedStringField):
    """A FixedString(N) digest read as its N bytes: the driver decodes
    FixedString as text (bytes that are not UTF-8 surrogate-escaped) without
    its trailing NULs, which are part of a digest."""

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        return value.ljust(self.max_bytes, b"\0")


def _digest(name, size, requires=None, arity=1):
    """A hash of one string as FixedString(size)."""
    return type(name, (Func,), {
        "__module__": __name__, "arity": arity, "requires": requires,
        "output_field": DigestField(max_bytes=size)})


def _uint(name, bits, requires=None, arity=None):
    """A hash of any number of arguments as UInt32/UInt64."""
    field = fields.UInt64Field() if bits == 64 else fields.UInt32Field()
    return type(name, (Func,), {
        "__module__": __name__, "arity": arity, "requires": requires,
        "output_field": field})


halfMD5 = _uint("halfMD5", 64)
MD4 = _digest("MD4", 16, "has_md4")
MD5 = _digest("MD5", 16)
SHA1 = _digest("SHA1", 20)
SHA224 = _digest("SHA224", 28)
SHA256 = _digest("SHA256", 32)
SHA512 = _digest("SHA512", 64, "has_sha512")
SHA512_256 = _digest("SHA512_256", 32, "has_sha512_256")
BLAKE3 = _digest("BLAKE3", 32, "has_blake3")
sipHash64 = _uint("sipHash64", 64)
sipHash128 = _digest("sipHash128", 16, arity=None)
sipHash128Reference = _digest("sipHash128Reference", 16, "has_keyed_siphash", arity=None)
cityHash64 = _uint("cityHash64", 64)
farmHash64 = _uint("farmHash64", 64)
farmFingerprint64 = _uint("farmFingerprint64", 64, "has_farm_fingerprint64")
intHash32 = _uint("intHash32", 32, arity=1)
intHash64 = _uint("intHash64", 64, arity=1)
CityHash64 = cityHash64  # the name clickhouse_backend used before


class sipHash64Keyed(Func):
    """sipHash64Keyed(k0, k1, *values): SipHash with the key (k0, k1)."""
    output_field = fields.UInt64Field()
    requires = "has_keyed_siphash"
    # The key must be a Tuple(UInt64, UInt64): a literal 1 is a UInt8.
    template = "%(function)s((toUInt64(%(k0)s), toUInt64(%(k1)s)), %(values)s)"

    def __init__(self, k0, k1, *expressions, **extra):
        if not expressions:
            raise TypeError("'%s' needs the two keys and at least one value" % type(self).__name__)
        super().__init__(literal(k0), literal(k1), *expressions, **extra)

    def as_sql(self, compiler, connection, **extra):
        parts, params = [], []
        for expr in self.get_source_expressions():
            sql, p = compiler.compile(expr)
            parts.append(sql)
            params.extend(p)
        return self.template % {"function": self.function, "k0": parts[0], "k1": parts[1],
                                "values": ", ".join(parts[2:])}, params


class sipHash128Keyed(sipHash64Keyed):
    output_field = DigestField(max_bytes=16)


class sipHash128ReferenceKeyed(sipHash128Keyed):
    pass


class URLHash(Func):
    """URLHash(url[, level]): the hash of the URL cut at `level`."""
    output_field = fields.UInt64Field()

    def __init__(self, *expressions, **extra):
        check_arity(self, expressions, 1, 2)
        super().__init__(expressions[0], *map(literal, expressions[1:]), **extra)
