"""Native-format decoder (ext/native_decode.c, native_scan.c) through _engine.NativeDecoder.

Fixtures: tests/fixtures/native/*.bin were produced once by make_fixtures.py
(chdb = ClickHouse 26.x) for types the 18.16 dev server lacks; the expected values
below are written from the SQL literals in make_fixtures.py, not from the decoder.
Live tests query the test server (CLICKHOUSE_HTTP_URL), like the rest of the suite.
"""
import datetime as dt
import ipaddress
import json
import os
import random
import re
import time
import urllib.error
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clickhouse_backend import _engine
from clickhouse_backend.driver import exceptions as exc  # importing the driver wires the classes into _engine
from tests.conftest import http_post
from tests.engine_testing import testing

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "native")
UTC = dt.timezone.utc


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".bin"), "rb") as f:
        return f.read()


def decode_all(data, **kw):
    """All blocks of `data`, asserting nothing is left over."""
    d = _engine.NativeDecoder(**kw)
    d.feed(data)
    blocks = []
    while True:
        b = d.get()
        if b is False:
            break
        blocks.append(b)
    assert d.buffered == 0
    return blocks


def decode_one(data, **kw):
    blocks = decode_all(data, **kw)
    assert len(blocks) == 1
    return blocks[0]


# ---------------------------------------------------------------- Native writer helpers
from tests.wire import varint  # noqa: E402



def vstr(b):
    if isinstance(b, str):
        b = b.encode()
    return varint(len(b)) + b


def block(nrows, *cols):
    """cols: (name, type, column-data bytes)."""
    out = varint(len(cols)) + varint(nrows)
    for name, typ, data in cols:
        out += vstr(name) + vstr(typ) + data
    return out


def u64(*vals):
    return b"".join(v.to_bytes(8, "little") for v in vals)


def u32(*vals):
    return b"".join(v.to_bytes(4, "little") for v in vals)


def strings(*vals):
    return b"".join(vstr(v) for v in vals)


# ---------------------------------------------------------------- fixtures from chdb

def assert_same_dt(got, expected):
    """Equal instant, same wall clock and same zone (== alone ignores the zone)."""
    assert got == expected
    assert got.replace(tzinfo=None) == expected.replace(tzinfo=None)
    assert (got.tzinfo is None) == (expected.tzinfo is None)
    if expected.tzinfo is not None:
        assert got.utcoffset() == expected.utcoffset()
        assert str(got.tzinfo) == str(expected.tzinfo)


def test_bigints():
    names, types, rows = decode_one(fixture("bigints"))
    assert names == ("a", "b", "c", "d", "e", "f", "g")
    assert types == ("Int128", "Int128", "UInt128", "Int256", "UInt256", "Int128", "UInt256")
    assert rows == [(-(2**127), 2**127 - 1, 2**128 - 1, -(2**255), 2**256 - 1, -5, 7)]


def test_decimals():
    names, types, rows = decode_one(fixture("decimals"))
    assert types == ("Decimal(76, 6)", "Decimal(38, 9)", "Decimal(18, 3)", "Decimal(9, 2)", "Decimal(76, 40)")
    (a, b, c, d, e), = rows
    assert a == Decimal("-123456789012345678901234567890.123456") and str(a) == "-123456789012345678901234567890.123456"
    assert b == Decimal("99999999999999999999999999999.999999999") and str(b) == "99999999999999999999999999999.999999999"
    assert str(c) == "-0.001"
    assert str(d) == "3.14"
    assert e == 0 and e.as_tuple().exponent == -40
    assert all(isinstance(v, Decimal) for v in (a, b, c, d, e))


def test_dates_and_datetime64_with_timezones():
    names, types, rows = decode_one(fixture("dates"))
    assert types[:4] == ("Date32", "Date32", "Date", "DateTime64(6, 'Europe/Moscow')")
    assert types[6] == "DateTime"   # over HTTP the server drops DateTime's timezone parameter
    a, b, c, d, e, f, g, h = rows[0]
    assert (a, b, c) == (dt.date(1900, 1, 1), dt.date(2299, 12, 31), dt.date(2149, 6, 6))
    assert_same_dt(d, dt.datetime(2020, 1, 2, 3, 4, 5, 123456, tzinfo=ZoneInfo("Europe/Moscow")))
    assert_same_dt(e, dt.datetime(1950, 6, 1, 12, 0, 0, 500000, tzinfo=UTC))
    # nanoseconds are truncated to microseconds
    assert_same_dt(f, dt.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=ZoneInfo("Asia/Tokyo")))
    assert_same_dt(g, dt.datetime(2020, 1, 1))   # naive UTC
    assert_same_dt(h, dt.datetime(2020, 1, 1, tzinfo=UTC))


def test_bool_and_ip():
    names, types, rows = decode_one(fixture("bool_ip"))
    assert types == ("Bool", "Bool", "IPv4", "IPv6", "IPv6")
    assert rows == [(True, False, ipaddress.IPv4Address("1.2.3.4"), ipaddress.IPv6Address("2001:db8::1"),
                     ipaddress.IPv6Address("::ffff:1.2.3.4"))]
    assert rows[0][0] is True and rows[0][1] is False


def test_maps():
    names, types, rows = decode_one(fixture("maps"))
    assert types == ("Map(String, UInt64)", "Map(UInt8, Array(UInt8))", "Map(LowCardinality(String), Nullable(String))")
    assert rows == [
        ({} if n == 1 else {"a": n, "b": n * 10}, {n: [1, 2]}, {"k": None if n == 0 else "v"})
        for n in range(3)
    ]


def test_low_cardinality():
    names, types, rows = decode_one(fixture("lowcard"))
    assert types == ("LowCardinality(String)", "LowCardinality(Nullable(String))", "Array(LowCardinality(String))",
                     "LowCardinality(FixedString(2))", "Tuple(LowCardinality(String), LowCardinality(String))")
    assert rows == [
        (str(n % 3), None if n % 2 == 0 else str(n), [str(n), "x"], str(n), (str(n), "y"))
        for n in range(5)
    ]


def test_low_cardinality_uint16_index():
    names, types, rows = decode_one(fixture("lowcard_wide"))
    assert rows == [(str(n),) for n in range(300)]


def test_tuples_named_and_nested():
    names, types, rows = decode_one(fixture("tuples"))
    assert types == ("Tuple(a UInt8, `b c` String, d Array(Float64))", "Tuple(Int8, Nullable(String))",
                     "Nested(x UInt8, y String)")
    # named tuples come back as plain tuples
    assert rows == [((1, "x", [1.5]), (-1, None), [(1, "a"), (2, "b")])]
    assert type(rows[0][0]) is tuple


def test_json_sent_as_string():
    names, types, rows = decode_one(fixture("json_string"))
    assert types == ("JSON",)
    assert isinstance(rows[0][0], str) and json.loads(rows[0][0]) == {"a": 1}


def test_enums_with_escapes():
    names, types, rows = decode_one(fixture("enums"))
    assert rows == [("a'b", "neg")]


def test_geo_types():
    names, types, rows = decode_one(fixture("geo"))
    assert types == ("Point", "Ring", "Polygon", "MultiPolygon")
    assert rows == [((1.0, 2.0), [(0.0, 0.0), (1.0, 0.0)], [[(0.0, 0.0), (1.0, 1.0)]], [[[(2.0, 3.0)]]])]


def test_misc_types():
    names, types, rows = decode_one(fixture("misc"))
    assert names == ("s", "i", "bf", "e", "n", "f", "u", "bad_utf8", "f32", "ninf")
    assert types[:5] == ("SimpleAggregateFunction(sum, UInt64)", "IntervalSecond", "BFloat16", "Array(Nothing)",
                         "Nullable(Nothing)")
    assert rows == [(42, 5, 1.5, [], None, "ab", uuid.UUID("00112233-4455-6677-8899-aabbccddeeff"),
                     b"\xffa".decode("utf-8", "surrogateescape"), -1.5, float("-inf"))]
    u = rows[0][6]
    assert isinstance(u, uuid.UUID) and u.version == 6 and u.is_safe is uuid.SafeUUID.unknown
    assert hash(u) == hash(uuid.UUID(int=u.int)) and str(u) == "00112233-4455-6677-8899-aabbccddeeff"


def test_strings_as_bytes():
    names, types, rows = decode_one(fixture("misc"), strings_as_bytes=True)
    assert rows[0][5] == b"ab\x00\x00"   # FixedString keeps its padding as bytes
    assert rows[0][7] == b"\xffa"


def test_columnar():
    names, types, cols = decode_one(fixture("lowcard"), columnar=True)
    assert len(cols) == 5 and all(isinstance(c, list) for c in cols)
    assert cols[0] == [str(n % 3) for n in range(5)]
    assert cols[1] == [None if n % 2 == 0 else str(n) for n in range(5)]


def test_several_blocks_in_one_stream():
    blocks = decode_all(fixture("multiblock"))
    assert len(blocks) > 1
    assert all(b[0] == ("n", "s") and b[1] == ("UInt64", "String") for b in blocks)
    assert [r for b in blocks for r in b[2]] == [(n, str(n)) for n in range(10)]


@pytest.mark.parametrize("name, fragment", [
    ("unsupported_aggfunc", "AggregateFunction(sum, UInt8)"),
    ("unsupported_variant", "Variant(String, UInt8)"),
    ("unsupported_dynamic", "Dynamic"),
    ("unsupported_json_binary", "output_format_native_write_json_as_string"),
])
def test_unsupported_types_name_the_type(name, fragment):
    d = _engine.NativeDecoder()
    d.feed(fixture(name))
    with pytest.raises(exc.NotSupportedError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        d.get()


SINGLE_BLOCK = ["bigints", "decimals", "dates", "bool_ip", "maps", "lowcard", "lowcard_wide", "tuples",
                "json_string", "enums", "geo", "misc"]


@pytest.mark.parametrize("name", SINGLE_BLOCK + ["multiblock"])
def test_byte_by_byte_equals_all_at_once(name):
    data = fixture(name)
    expected = decode_all(data)
    d = _engine.NativeDecoder()
    got = []
    for i in range(len(data)):
        d.feed(data[i:i + 1])
        b = d.get()
        if b is not False:
            got.append(b)
            assert d.get() is False
    assert got == expected


@pytest.mark.parametrize("name", SINGLE_BLOCK)
def test_every_truncation_needs_more(name):
    data = fixture(name)
    for n in range(len(data)):
        d = _engine.NativeDecoder()
        d.feed(data[:n])
        assert d.get() is False, n


# --- what a corrupted stream may decode to: an independent type checker ---------
# Parses a ClickHouse type name (the block's own, maybe corrupted too) and checks
# a decoded value against it: the Python type, the storage range, the zone, the
# enum's names. It shares no code with ext/native_*.c.

def _split_args(text):
    """'a, (b, c), \'x,y\'' -> ['a', '(b, c)', "'x,y'"] (commas at depth 0)."""
    out, depth, quote, cur, i = [], 0, None, "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur += ch
            if ch == "\\" and i + 1 < len(text):
                cur += text[i + 1]
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'`":
            quote = ch
            cur += ch
        elif ch == "(":
            depth += 1
            cur += ch
        elif ch == ")":
            depth -= 1
            cur += ch
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return out


def _parse_type(text):
    """'Array(Nullable(UInt8))' -> ('Array', ['Nullable(UInt8)']); 'UInt8' -> ('UInt8', [])."""
    text = text.strip()
    if "(" not in text:
        return text, []
    assert text.endswith(")"), text
    name, rest = text.split("(", 1)
    return name, _split_args(rest[:-1])


def _element_type(arg):
    """A Tuple/Nested element: 'a UInt8', '`b c` String' or plain 'UInt8'."""
    if arg.startswith("`"):
        return arg[arg.index("`", 1) + 1:].strip()
    head, _, tail = arg.partition(" ")
    return tail.strip() if tail and head.isidentifier() and "(" not in head else arg


def _unquote(lit):
    assert lit[0] == lit[-1] == "'", lit
    return re.sub(r"\\(.)", r"\1", lit[1:-1])


_INT_BITS = {"Int%d" % b: b for b in (8, 16, 32, 64, 128, 256)}
_GEO = {"Point": "Tuple(Float64, Float64)", "Ring": "Array(Point)", "LineString": "Array(Point)",
        "Polygon": "Array(Ring)", "MultiPolygon": "Array(Polygon)"}


def _ok_datetime(v, zone, scale):
    assert isinstance(v, dt.datetime), v
    if zone is None:
        assert v.tzinfo is None, v
    else:
        assert str(v.tzinfo) == zone, (v, zone)
    assert v.microsecond % 10 ** max(0, 6 - scale) == 0, (v, scale)


def conforms(typ, v):
    """Asserts that `v` is a value the ClickHouse type `typ` can hold."""
    name, args = _parse_type(typ)
    if name in _INT_BITS or name.startswith("Interval"):
        bits = _INT_BITS.get(name, 64)
        assert type(v) is int and -(1 << bits - 1) <= v < 1 << bits - 1, (typ, v)
    elif name[1:] in _INT_BITS and name[0] == "U":
        assert type(v) is int and 0 <= v < 1 << _INT_BITS[name[1:]], (typ, v)
    elif name in ("Float32", "Float64", "BFloat16"):
        assert type(v) is float, (typ, v)
    elif name == "Bool":
        assert type(v) is bool, (typ, v)
    elif name == "Decimal":
        precision, scale = int(args[0]), int(args[1])
        bits = next(b for p, b in ((9, 32), (18, 64), (38, 128), (76, 256)) if precision <= p)
        assert isinstance(v, Decimal) and v.is_finite() and v.as_tuple().exponent == -scale, (typ, v)
        assert -(1 << bits - 1) <= int(v.scaleb(scale)) < 1 << bits - 1, (typ, v)
    elif name in ("String", "JSON"):
        assert type(v) is str, (typ, v)
    elif name == "FixedString":
        assert type(v) is str and len(v.encode("utf-8", "surrogateescape")) <= int(args[0]), (typ, v)
    elif name == "UUID":
        assert type(v) is uuid.UUID, (typ, v)
    elif name in ("IPv4", "IPv6"):
        assert type(v) is getattr(ipaddress, name + "Address"), (typ, v)
    elif name == "Date":
        assert type(v) is dt.date and 0 <= (v - dt.date(1970, 1, 1)).days <= 65535, (typ, v)
    elif name == "Date32":
        assert type(v) is dt.date, (typ, v)
    elif name == "DateTime":
        _ok_datetime(v, _unquote(args[0]) if args else None, 0)
        assert dt.datetime(1970, 1, 1) <= v.replace(tzinfo=None) - (v.utcoffset() or dt.timedelta(0)) \
            < dt.datetime(2106, 2, 8), (typ, v)
    elif name == "DateTime64":
        _ok_datetime(v, _unquote(args[1]) if len(args) > 1 else None, int(args[0]))
    elif name.startswith("Enum"):
        names = {_unquote(a.rsplit("=", 1)[0].strip()) for a in args}
        assert v in names, (typ, v)
    elif name == "Nullable":
        if v is not None:
            conforms(args[0], v)
    elif name == "Nothing":
        raise AssertionError("a value of type Nothing: %r" % (v,))
    elif name in ("LowCardinality", "SimpleAggregateFunction"):
        conforms(args[-1], v)
    elif name == "Array":
        assert type(v) is list, (typ, v)
        for x in v:
            conforms(args[0], x)
    elif name == "Nested":
        conforms("Array(Tuple(%s))" % ", ".join(args), v)
    elif name == "Tuple":
        assert type(v) is tuple and len(v) == len(args), (typ, v)
        for a, x in zip(args, v):
            conforms(_element_type(a), x)
    elif name == "Map":
        assert type(v) is dict, (typ, v)
        for k, x in v.items():
            conforms(args[0], k)
            conforms(args[1], x)
    elif name in _GEO:
        conforms(_GEO[name], v)
    else:
        raise AssertionError("decoded a column of a type the checker does not know: %r" % typ)


def decode_or_error(data, piece):
    """Every block of `data` fed `piece` bytes at a time, and the DB-API error that
    stopped the decoder (None if it ran out of bytes)."""
    d = _engine.NativeDecoder()
    blocks = []
    try:
        for i in range(0, len(data), piece):
            d.feed(data[i:i + piece])
            while (b := d.get()) is not False:
                blocks.append(b)
                assert len(blocks) <= len(data) // 2, "a block is at least two bytes"
    except (exc.InterfaceError, exc.NotSupportedError) as e:
        return blocks, type(e)
    return blocks, None


def assert_consistent(blocks):
    for names, types, rows in blocks:
        assert type(names) is tuple and type(types) is tuple and len(names) == len(types)
        for row in rows:
            assert type(row) is tuple and len(row) == len(types), row
            for typ, v in zip(types, row):
                conforms(typ, v)


@pytest.mark.parametrize("name", SINGLE_BLOCK + ["multiblock"])
def test_corrupted_bytes_fail_cleanly(name):
    """One damaged byte anywhere: the decoder raises InterfaceError or
    NotSupportedError (nothing else: no other exception, no crash), or every
    block it returns is consistent -- names and types pair up, every row has one
    value per column and each value is one its column's type can hold (checked by
    `conforms`, not by the decoder) -- and the same bytes fed in 7-byte pieces
    give the same blocks and the same error."""
    data = fixture(name)
    rnd = random.Random(1234)
    outcomes = {"error": 0, "decoded": 0}
    for pos in range(len(data)):
        for val in (data[pos] ^ 0xFF, data[pos] ^ 0x01, rnd.randrange(256)):
            bad = bytearray(data)
            bad[pos] = val
            blocks, error = decode_or_error(bytes(bad), len(bad))
            # repr: a corrupted float may be NaN, which == would call different
            assert repr(decode_or_error(bytes(bad), 7)) == repr((blocks, error)), (pos, val)
            assert_consistent(blocks)
            outcomes["error" if error else "decoded"] += 1
    assert outcomes["error"] > 0, outcomes  # the decoder does check what it reads


def test_conformance_checker_rejects_wrong_values():
    # the oracle above can fail: values a type cannot hold
    for typ, v in [("UInt8", 256), ("Int8", -129), ("UInt64", -1), ("Bool", 1), ("String", b"x"),
                   ("Decimal(9, 2)", Decimal("1.5")), ("Decimal(9, 2)", Decimal("100000000.00") * 100),
                   ("FixedString(2)", "abc"), ("Enum8('a' = 1)", "b"), ("Nullable(Nothing)", 0),
                   ("DateTime64(3, 'UTC')", dt.datetime(2020, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
                   ("DateTime('UTC')", dt.datetime(2020, 1, 1)), ("Date", dt.date(1969, 12, 31)),
                   ("Tuple(a UInt8, b String)", (1,)), ("Map(String, UInt8)", {"k": -1}),
                   ("Array(LowCardinality(String))", ["x", 1]), ("Point", (1.0, "2")), ("Foo", 1)]:
        with pytest.raises(AssertionError):
            conforms(typ, v)
    for name in SINGLE_BLOCK + ["multiblock"]:  # and accepts every intact fixture
        for _, types, rows in decode_all(fixture(name)):
            for row in rows:
                for typ, v in zip(types, row):
                    conforms(typ, v)


# ---------------------------------------------------------------- synthetic blocks

def test_low_cardinality_several_granules():
    # prefix (key version 1), granule 1 with 2 keys, granule 2 reusing them, granule 3 with new keys
    data = u64(1)
    data += u64((1 << 9) | (1 << 10)) + u64(2) + strings("", "a") + u64(2) + bytes([1, 0])
    data += u64(0) + u64(1) + bytes([1])
    data += u64((1 << 9) | (1 << 10)) + u64(1) + strings("z") + u64(1) + bytes([0])
    _, _, rows = decode_one(block(4, ("c", "LowCardinality(String)", data)))
    assert rows == [("a",), ("",), ("a",), ("z",)]


def test_decreasing_array_offsets():
    d = _engine.NativeDecoder()
    d.feed(block(2, ("c", "Array(UInt8)", u64(2, 1) + b"\x01\x02")))
    with pytest.raises(exc.InterfaceError, match="offsets"):
        d.get()


def test_unknown_timezone():
    d = _engine.NativeDecoder()
    d.feed(block(1, ("c", "DateTime64(3, 'Nowhere/Land')", u64(0))))
    with pytest.raises(exc.NotSupportedError, match="Nowhere/Land"):
        d.get()


def test_low_cardinality_nullable_uses_key_zero_as_null():
    data = u64(1) + u64((1 << 9) | (1 << 10)) + u64(2) + strings("", "v") + u64(3) + bytes([1, 0, 1])
    _, _, rows = decode_one(block(3, ("c", "LowCardinality(Nullable(String))", data)))
    assert rows == [("v",), (None,), ("v",)]


@pytest.mark.parametrize("typ, data", [
    # index 2 with a 2-key dictionary
    ("LowCardinality(String)", u64(1) + u64((1 << 9) | (1 << 10)) + u64(2) + strings("", "a") + u64(1) + bytes([2])),
    # granule without keys before any dictionary
    ("LowCardinality(String)", u64(1) + u64(0) + u64(1) + bytes([0])),
    # wrong key version
    ("LowCardinality(String)", u64(7) + u64((1 << 9)) + u64(1) + strings("a") + u64(1) + bytes([0])),
    # offset past the nested data bound
    ("Array(UInt8)", u64(1 << 40)),
    # enum value not in the type
    ("Enum8('a' = 1)", b"\x05"),
    # string length past any sane bound
    ("String", varint(1 << 40)),
])
def test_malformed_column_data(typ, data):
    d = _engine.NativeDecoder()
    d.feed(block(1, ("c", typ, data)) + b"\x00" * 64)
    with pytest.raises(exc.InterfaceError):
        # padding lets the scanner see the block end; either scan or conversion rejects it
        assert d.get() is not False
        raise AssertionError("accepted")


@pytest.mark.parametrize("typ, kind", [
    ("AggregateFunction(sum, UInt64)", "NotSupportedError"),
    ("Variant(UInt8, String)", "NotSupportedError"),
    # unknown names are named as unsupported too (a type newer than the driver)
    ("Foo", "NotSupportedError"),
    ("Query", "NotSupportedError"),
    ("Object('json')", "NotSupportedError"),
    ("Tuple()", "NotSupportedError"),
    ("LowCardinality(Array(String))", "NotSupportedError"),
    ("foo", "InterfaceError"),
    ("UInt8 ", "InterfaceError"),
    ("Nullable(UInt8", "InterfaceError"),
    ("Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array("
     "Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(UInt8"
     + ")" * 33, "NotSupportedError"),
    ("DateTime64(10)", "InterfaceError"),
    ("Decimal(77, 2)", "InterfaceError"),
    ("Enum8('a' = 1000)", "InterfaceError"),
    ("FixedString(0)", "InterfaceError"),
])
def test_bad_type_names(typ, kind):
    d = _engine.NativeDecoder()
    d.feed(block(1, ("c", typ, b"\x00" * 64)))
    with pytest.raises(getattr(exc, kind)):
        d.get()


GARBAGE = [
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n" * 4,
    b"Code: 60, e.displayText() = DB::Exception: Table default.nope doesn't exist., e.what() = DB::Exception\n" * 4,
    b"Code: 62. DB::Exception: Syntax error: failed at position 1 ('SELEC'): SELEC 1. Expected one of: "
    b"Query, Query with output, EXPLAIN, SELECT query. (SYNTAX_ERROR) (version 24.3.1.1)\n" * 4,
    b'{"meta": [{"name": "x", "type": "UInt8"}], "data": [{"x": 1}], "rows": 1}\n' * 8,
    bytes(range(256)) * 8,
]


@pytest.mark.parametrize("data", GARBAGE)
def test_text_is_never_accepted_as_a_block(data):
    for n in (len(data), len(data) // 2, 16):
        d = _engine.NativeDecoder()
        d.feed(data[:n])
        try:
            assert d.get() is False
        except (exc.InterfaceError, exc.NotSupportedError):
            pass  # rejected: either malformed, or a capitalised word read as an unknown type


def test_random_bytes_never_crash():
    rnd = random.Random(99)
    for _ in range(3000):
        n = rnd.randrange(1, 200)
        head = bytes([rnd.randrange(1, 4), rnd.randrange(0, 4)])   # plausible header, random rest
        blocks, _ = decode_or_error(head + bytes(rnd.randrange(256) for _ in range(n)), 1 << 20)
        assert_consistent(blocks)


def test_errors_are_sticky_until_a_new_decoder():
    d = _engine.NativeDecoder()
    d.feed(block(1, ("c", "foo", b"\x00")))
    for _ in range(2):
        with pytest.raises(exc.InterfaceError):
            d.get()


def test_datetime_connection_timezone_and_fold():
    ts = 1577836800   # 2020-01-01 00:00:00 UTC
    blk = block(1, ("a", "DateTime", u32(ts)), ("b", "DateTime64(3, 'UTC')", u64(ts * 1000)))
    (a, b), = decode_one(blk, tz=ZoneInfo("Asia/Tokyo"))[2]
    assert_same_dt(a, dt.datetime(2020, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")))
    assert_same_dt(b, dt.datetime(2020, 1, 1, tzinfo=UTC))   # the column's own zone wins
    fixed = dt.timezone(dt.timedelta(hours=-5))
    (a, b), = decode_one(blk, tz=fixed)[2]
    assert a == dt.datetime(2019, 12, 31, 19, 0, tzinfo=fixed) and a.utcoffset() == dt.timedelta(hours=-5)
    # DST end in Berlin: 00:30 and 01:30 UTC are both 02:30 local; fold tells them apart
    t1 = int(dt.datetime(2021, 10, 31, 0, 30, tzinfo=UTC).timestamp())
    blk = block(2, ("t", "DateTime64(0, 'Europe/Berlin')", u64(t1, t1 + 3600)))
    (x,), (y,) = decode_one(blk)[2]
    assert (x.hour, x.minute, x.fold, y.hour, y.minute, y.fold) == (2, 30, 0, 2, 30, 1)
    assert y - x == dt.timedelta(0) and y.timestamp() - x.timestamp() == 3600


def test_negative_datetime64_and_date_edges():
    blk = block(1, ("a", "DateTime64(3)", u64((-1) & (2**64 - 1))), ("b", "Date", b"\xff\xff"),
                ("c", "Date32", u32((-1) & 0xFFFFFFFF)))
    (a, b, c), = decode_one(blk)[2]
    assert a == dt.datetime(1969, 12, 31, 23, 59, 59, 999000)
    assert b == dt.date(1970, 1, 1) + dt.timedelta(days=65535)
    assert c == dt.date(1969, 12, 31)


INT64_MIN = (-2**63) & (2**64 - 1)


@pytest.mark.parametrize("typ", ["DateTime64(0)", "DateTime64(0, 'UTC')", "DateTime64(1)"])
def test_datetime64_at_int64_min_is_refused(typ):
    # days * 86400 near INT64_MIN seconds overflowed (signed overflow: UBSan in
    # tests/faults/sanitized.sh and fuzz_decode caught it); the range check comes first
    with pytest.raises(exc.InterfaceError, match="datetime out of range"):
        decode_one(block(1, ("t", typ, u64(INT64_MIN))))
    # in nanoseconds INT64_MIN is a valid datetime (1677): floored seconds, positive fraction
    (v,), = decode_one(block(1, ("t", "DateTime64(9)", u64(INT64_MIN))))[2]
    secs, frac = divmod(-2**63, 10**9)
    assert v == dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs, microseconds=frac // 1000)


@pytest.mark.parametrize("scale", [0, 3, 5, 6, 9])
@pytest.mark.parametrize("which", ["int64 min", "int64 max", "timedelta min + 1 tick"])
def test_time64_extremes(scale, which):
    # the fraction was v - secs * 10^scale, which overflows near INT64_MIN; whatever the
    # scale, the value is floored seconds plus a positive fraction, or out of range
    ticks = {"int64 min": -2**63, "int64 max": 2**63 - 1,
             "timedelta min + 1 tick": max(-2**63, -86400 * 999_999_999 * 10**scale + 1)}[which]
    secs, frac = divmod(ticks, 10**scale)
    data = block(1, ("t", f"Time64({scale})", u64(ticks & (2**64 - 1))))
    if abs(secs) > 86400 * 999_999_999:
        with pytest.raises(exc.InterfaceError, match="time out of range"):
            decode_one(data)
    else:
        (v,), = decode_one(data)[2]
        assert v == dt.timedelta(seconds=secs, microseconds=frac * 10**6 // 10**scale)


def test_empty_block_and_zero_rows():
    # a 0-row block carries names and types but no column data at all
    names, types, rows = decode_one(block(0, ("a", "LowCardinality(String)", b""), ("b", "Array(UInt8)", b"")))
    assert (names, types, rows) == (("a", "b"), ("LowCardinality(String)", "Array(UInt8)"), [])
    assert decode_one(block(0, ("a", "UInt8", b"")), columnar=True)[2] == [[]]


# ---------------------------------------------------------------- framing stays linear

def _feed_in_pieces(data, piece=4096):
    """Feeds `data` piece by piece to NativeDecoder (the rows) and to the bare framing
    scanner the way the engine drives it, the block's prefix growing (the work)."""
    d = _engine.NativeDecoder()
    s = testing.NativeScanner()
    view = memoryview(data)
    work0 = s.work
    results, framed = [], 0
    for i in range(0, len(data), piece):
        d.feed(data[i:i + piece])
        b = d.get()
        if b is not False:
            results.append(b)
        if not framed:
            framed = s.scan(view[:i + piece])
    assert framed == len(data)
    return s.work - work0, results, (len(data) + piece - 1) // piece


def test_large_string_block_scan_is_linear():
    rows = 200_000
    value = b"x" * 100
    data = block(rows, ("s", "String", (varint(len(value)) + value) * rows))
    assert len(data) > 20_000_000
    t0 = time.perf_counter()
    work, results, pieces = _feed_in_pieces(data)
    elapsed = time.perf_counter() - t0
    assert len(results) == 1 and len(results[0][2]) == rows and results[0][2][-1] == ("x" * 100,)
    # rescanning from the block start on each of the ~5000 pieces would be ~5e8 steps
    assert work < 2 * rows + 10 * pieces, work
    assert elapsed < 20, elapsed


@pytest.mark.parametrize("typ, one", [
    ("Array(String)", None),
    ("Nullable(String)", None),
    ("Tuple(String, Array(String))", None),
    ("Map(String, String)", None),
])
def test_large_nested_block_scan_is_linear(typ, one):
    rows = 20_000
    s = vstr(b"y" * 50)
    if typ == "Array(String)":
        data = u64(*[2 * (i + 1) for i in range(rows)]) + s * (2 * rows)
    elif typ == "Nullable(String)":
        data = b"\x00" * rows + s * rows
    elif typ == "Tuple(String, Array(String))":
        data = s * rows + u64(*[i + 1 for i in range(rows)]) + s * rows
    else:
        data = u64(*[i + 1 for i in range(rows)]) + s * rows + s * rows
    work, results, pieces = _feed_in_pieces(block(rows, ("c", typ, data)))
    assert len(results) == 1 and len(results[0][2]) == rows
    assert work < 4 * rows + 10 * pieces, work


# ---------------------------------------------------------------- live server

@pytest.fixture
def query(clickhouse_url):
    """query(sql) -> the server's Native body (urllib, not the driver)."""
    def run(sql, expect_error=False):
        try:
            return http_post(clickhouse_url, sql.encode(), query="default_format=Native", timeout=10)
        except urllib.error.HTTPError as e:
            if expect_error:
                return e.read()
            raise
    return run


def test_live_scalar_types(query):
    data = query("""
        SELECT toUInt8(255) AS u8, toInt8(-128) AS i8, toUInt16(65535) AS u16, toInt16(-32768) AS i16,
               toUInt32(4294967295) AS u32, toInt32(-2147483648) AS i32,
               toUInt64('18446744073709551615') AS u64, toInt64('-9223372036854775808') AS i64,
               toFloat32(0.5) AS f32, toFloat64(-2.25) AS f64, 'h\u00e9llo' AS s, toFixedString('ab', 3) AS fs,
               toDate('2019-12-31') AS d, toDateTime('2019-12-31 23:59:59', 'UTC') AS t,
               toDecimal32('-1.23', 2) AS d32, toDecimal64('12345.6789', 4) AS d64, toDecimal128('-0.5', 10) AS d128,
               toUUID('01234567-89ab-cdef-0123-456789abcdef') AS u,
               CAST('b' AS Enum8('a' = 1, 'b' = 2)) AS e8, CAST('x' AS Enum16('x' = -1000)) AS e16
    """)
    names, types, rows = decode_one(data)
    assert names[:4] == ("u8", "i8", "u16", "i16")
    assert types[-2:] == ("Enum8('a' = 1, 'b' = 2)", "Enum16('x' = -1000)")
    assert rows == [(255, -128, 65535, -32768, 4294967295, -2147483648, 2**64 - 1, -(2**63), 0.5, -2.25,
                     "h\u00e9llo", "ab", dt.date(2019, 12, 31), dt.datetime(2019, 12, 31, 23, 59, 59),
                     Decimal("-1.23"), Decimal("12345.6789"), Decimal("-0.5"),
                     uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"), "b", "x")]
    assert str(rows[0][16]) == "-0.5000000000"


def test_live_composite_types(query):
    data = query("""
        SELECT toNullable(7) AS n1, CAST(NULL AS Nullable(String)) AS n2, [[1], [], [2, 3]] AS aa,
               (1, 'a', [NULL, 2]) AS tup, [] AS empty, NULL AS nothing, toLowCardinality('lc') AS lc,
               [toNullable('p'), NULL] AS an
    """)
    names, types, rows = decode_one(data)
    assert rows == [(7, None, [[1], [], [2, 3]], (1, "a", [None, 2]), [], None, "lc", ["p", None])]


def test_live_many_rows_all_chunkings(query):
    data = query("SELECT number AS n, toString(number) AS s, if(number % 2 = 1, NULL, number) AS m, "
                 "[number, number + 1] AS a FROM system.numbers LIMIT 3000")
    expected = [(n, str(n), None if n % 2 else n, [n, n + 1]) for n in range(3000)]
    blocks = decode_all(data)
    assert [r for b in blocks for r in b[2]] == expected
    for piece in (1, 7, 4096):
        d = _engine.NativeDecoder()
        got = []
        for i in range(0, len(data), piece):
            d.feed(data[i:i + piece])
            while (b := d.get()) is not False:
                got.extend(b[2])
        assert got == expected


def test_live_empty_result(query):
    # ClickHouse 18.16 (and chdb 26.x) send no block at all for an empty result, so
    # column names are not available from the Native body (see docs/types.md).
    data = query("SELECT 1 AS a, 'x' AS b WHERE 0")
    if data:
        names, types, rows = decode_one(data)
        assert names == ("a", "b") and rows == []
    else:
        assert decode_all(data) == []


def test_live_error_text_is_rejected(query):
    body = query("SELECT * FROM system.no_such_table_xyz", expect_error=True)
    assert b"no_such_table_xyz" in body
    d = _engine.NativeDecoder()
    d.feed(body)
    try:
        assert d.get() is False
    except exc.InterfaceError:
        pass


def test_day_cache_across_columns_rows_and_blocks():
    """civil_from_days keeps the last day it converted: values that change day
    between rows, columns that alternate, and separate blocks all stay exact."""
    base = dt.datetime(1999, 12, 31, 23, 59, 58)
    secs = [int((base + dt.timedelta(seconds=k * 40000 + (k % 3))).replace(tzinfo=UTC).timestamp())
            for k in range(40)]
    days = [(dt.date(1970, 1, 1) + dt.timedelta(days=3 * k + 1)) for k in range(40)]
    blk = block(40, ("t", "DateTime", u32(*secs)),
                ("d", "Date", b"".join(((d - dt.date(1970, 1, 1)).days).to_bytes(2, "little") for d in days)),
                ("t2", "DateTime", u32(*reversed(secs))))
    want = [(dt.datetime.fromtimestamp(a, UTC).replace(tzinfo=None), d,
             dt.datetime.fromtimestamp(b, UTC).replace(tzinfo=None))
            for a, d, b in zip(secs, days, reversed(secs))]
    for _ in range(2):
        assert decode_one(blk)[2] == want
        assert decode_one(blk, columnar=True)[2] == [list(c) for c in zip(*want)]


def test_rows_of_plain_values_are_not_gc_tracked():
    """Row tuples holding only numbers/strings/dates are untracked at once (what the
    GC would do on its first pass); a row with a container stays tracked."""
    import gc

    blk = block(2, ("i", "UInt32", u32(1, 2)), ("s", "String", strings("a", "b")),
                ("n", "Nullable(Float64)", b"\x00\x01" + b"\x00" * 8 + b"\x00" * 8),
                ("t", "DateTime", u32(0, 86400)))
    rows = decode_one(blk)[2]
    assert rows[0][:2] == (1, "a") and rows[1][2] is None
    assert not any(gc.is_tracked(r) for r in rows)
    blk = block(2, ("i", "UInt32", u32(1, 2)), ("a", "Array(UInt8)", u64(1, 1) + b"\x07"))
    rows = decode_one(blk)[2]
    assert rows == [(1, [7]), (2, [])] and all(gc.is_tracked(r) for r in rows)
    # a UUID is an instance of a Python class: tracked, so its row stays tracked
    blk = block(1, ("u", "UUID", b"\x01" * 16), ("i", "UInt8", b"\x05"))
    (row,) = decode_one(blk)[2]
    assert isinstance(row[0], uuid.UUID) and gc.is_tracked(row)


def test_error_in_a_later_column_frees_earlier_ones():
    """Row mode keeps decoded columns until the rows are made: a malformed later
    column must release them (no leak, no crash)."""
    import tracemalloc

    good = ("s", "String", strings(*["x" * 200 + str(i) for i in range(500)]))
    bad = block(500, good, ("d", "DateTime64(0)", u64(*[2**62] * 500)))  # year > 9999
    with pytest.raises(exc.InterfaceError):
        decode_one(bad)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            with pytest.raises(exc.InterfaceError):
                decode_one(bad)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000  # 20 leaked columns would be > 2 MB


# --- buffer mode (columnar=2 NumPy, 3 Arrow; docs/columnar.md) ---------------------
def _buffers_as_rows(names, types, cols):
    """A buffer-mode block's values, through the columnar converters, as row tuples."""
    np = pytest.importorskip("numpy")
    from clickhouse_backend.driver import columnar

    return [columnar.numpy_column(np, c, t) for c, t in zip(cols, types)]


@pytest.mark.parametrize("name", ["bigints", "decimals", "dates", "bool_ip", "maps", "lowcard", "lowcard_wide",
                                  "tuples", "enums", "misc", "multiblock", "geo", "json_string"])
def test_buffer_mode_gives_the_row_values(name):
    np = pytest.importorskip("numpy")
    rows = [r for b in decode_all(fixture(name), tz=False) for r in b[2]]
    blocks = decode_all(fixture(name), tz=False, columnar=2)
    columns = [[] for _ in blocks[0][0]]
    for names, types, cols in blocks:
        for acc, a in zip(columns, _buffers_as_rows(names, types, cols)):
            mask = np.ma.getmaskarray(a) if isinstance(a, np.ma.MaskedArray) else None
            data = a.data if mask is not None else a
            if data.dtype == np.dtype("datetime64[ns]"):
                data = data.astype("datetime64[us]")  # the row path's datetimes stop at microseconds
            values = list(data) if data.dtype == object else data.tolist()
            acc.extend(None if mask is not None and m else v for v, m in zip(values, mask if mask is not None
                                                                              else [False] * len(values)))
    for c, col in enumerate(columns):
        want = [r[c] for r in rows]
        assert [v.date() if isinstance(v, dt.datetime) and isinstance(w, dt.date) and not isinstance(w, dt.datetime)
                else v for v, w in zip(col, want)] == want, (name, blocks[0][1][c])


@pytest.mark.parametrize("mode", [2, 3])
@pytest.mark.parametrize("name", SINGLE_BLOCK)
def test_buffer_mode_refuses_every_truncated_block(name, mode):
    """A block cut anywhere is an InterfaceError in buffer mode, never a read past it."""
    data = fixture(name)
    for n in range(len(data) - 1, 0, -max(1, len(data) // 300)):
        try:
            _engine.decode_block(data[:n], tz=False, columnar=mode)
        except (exc.InterfaceError, exc.NotSupportedError):
            continue
        raise AssertionError(f"{name}: {n} of {len(data)} bytes accepted")


@pytest.mark.parametrize("mode", [2, 3])
def test_buffer_mode_malformed_lowcardinality(mode):
    bad = u64(1) + u64((1 << 9) | (1 << 10)) + u64(2) + strings("", "a") + u64(1) + bytes([2])
    with pytest.raises(exc.InterfaceError):
        _engine.decode_block(block(1, ("c", "LowCardinality(String)", bad)), columnar=mode)


@pytest.mark.parametrize("name", ["bigints", "decimals", "dates", "bool_ip", "maps", "lowcard", "tuples", "enums",
                                  "misc", "geo", "json_string"])
def test_arrow_mode_makes_a_table_of_every_fixture_type(name):
    """Every type of the fixtures has an Arrow type, and Arrow gives back the row values'
    count (values are compared per type in tests/test_columnar.py)."""
    pa = pytest.importorskip("pyarrow")
    np = pytest.importorskip("numpy")
    from clickhouse_backend.driver import columnar

    sab = name == "misc"  # its String values are not all UTF-8: Arrow needs large_binary
    (names, types, rows), = decode_all(fixture(name), tz=False, strings_as_bytes=sab)
    (_, _, cols), = decode_all(fixture(name), tz=False, strings_as_bytes=sab, columnar=3)
    batch = columnar.arrow_batch(pa, np, names, types, cols, False, sab)
    assert batch.num_rows == len(rows) and batch.num_columns == len(names)
