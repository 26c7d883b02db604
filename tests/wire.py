"""Byte-level helpers for tests that write ClickHouse wire data by hand."""


def varint(n):
    """Unsigned LEB128, as Native uses for counts and string lengths."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
