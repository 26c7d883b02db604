"""Literal escaping and client-side query binding (ext/escape.c): exact literal text,
and round trips through the test server (CLICKHOUSE_HTTP_URL, like the rest of the
suite) and the in-process chDB (a recent ClickHouse)."""
import collections.abc
import datetime
import decimal
import enum
import ipaddress
import math
import re
import struct
import urllib.error
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clickhouse_backend.driver  # noqa: F401  (hands the exception classes to _engine)
from clickhouse_backend import _engine
from clickhouse_backend.driver import NotSupportedError, ProgrammingError
from tests.conftest import http_post, version_tuple
from tests.embedded_support import ecursor, embedded_conn  # noqa: F401  (fixtures)

quote = _engine.quote
format_query = _engine.format_query
format_rows = _engine.format_rows

UTC = datetime.timezone.utc


# --- exact literal text ------------------------------------------------------


class MyInt(int):
    def __str__(self):
        return "not a number"


class Color(enum.IntEnum):
    RED = 3


class MyStr(str):
    pass


class MyFloat(float):
    pass


class MyUUID(uuid.UUID):
    pass


@pytest.mark.parametrize(
    "value,text",
    [
        (None, "NULL"),
        (True, "1"),
        (False, "0"),
        (0, "0"),
        (-1, "-1"),
        (2**63 - 1, "9223372036854775807"),
        (-(2**63), "-9223372036854775808"),
        (2**64 - 1, "18446744073709551615"),
        (10**40, "1" + "0" * 40),
        (-(10**40), "-1" + "0" * 40),
        (MyInt(7), "7"),
        (Color.RED, "3"),
        (1.0, "1.0"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (1e16, "1e+16"),
        (1e-7, "1e-07"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (5e-324, "(1 * 2.2250738585072014e-308 / 4503599627370496)"),
        (-2.225073858507201e-308, "(-4503599627370495 * 2.2250738585072014e-308 / 4503599627370496)"),
        (-0.0, "-0.0"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (float("nan"), "nan"),
        (MyFloat(0.5), "0.5"),
        (decimal.Decimal("1E+3"), "1000"),
        (decimal.Decimal("1.50"), "1.50"),
        (decimal.Decimal("-0.001"), "-0.001"),
        (decimal.Decimal("1E-10"), "0.0000000001"),
        (decimal.Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
        ("", "''"),
        ("plain", "'plain'"),
        ("it's", r"'it\'s'"),
        ("back\\slash", r"'back\\slash'"),
        ("\0\b\f\n\r\t", r"'\0\b\f\n\r\t'"),
        ("\x01\x1f\x7f", r"'\x01\x1F\x7F'"),
        ("é€😀", "'é€😀'"),
        ("\u202eRTL", "'\u202eRTL'"),
        ("\x80\xff", "'\x80\xff'"),  # U+0080/U+00FF are characters: UTF-8 in the literal
        ("a\udcff\udc80", r"'a\xFF\x80'"),  # surrogateescape'd bytes
        ("é\udcff", r"'\xC3\xA9\xFF'"),
        ("%s", "'%s'"),
        (MyStr("x'"), r"'x\''"),
        (b"", "''"),
        (b"abc ~", "'abc ~'"),
        (b"\x00\n'\\\x7f\x80\xff", r"'\x00\x0A\'\\\x7F\x80\xFF'"),
        (bytearray(b"a\x01"), r"'a\x01'"),
        (memoryview(b"b\x02"), r"'b\x02'"),
        (datetime.date(2024, 1, 2), "'2024-01-02'"),
        (datetime.date(1, 1, 1), "'0001-01-01'"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5), "'2024-01-02 03:04:05'"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5, 60), "'2024-01-02 03:04:05.000060'"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "toDateTime('2024-01-02 03:04:05', 'UTC')"),
        (
            datetime.datetime(2024, 1, 1, 1, 4, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            "toDateTime64('2023-12-31 23:04:05.123456', 6, 'UTC')",
        ),
        (
            datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(-datetime.timedelta(hours=5, minutes=30))),
            "toDateTime('2024-01-02 08:34:05', 'UTC')",
        ),
        (datetime.time(1, 2, 3), "'01:02:03'"),
        (datetime.time(23, 59, 59, 999999), "'23:59:59.999999'"),
        (uuid.UUID(int=0x12345678123456781234567812345678), "'12345678-1234-5678-1234-567812345678'"),
        (MyUUID(int=1), "'00000000-0000-0000-0000-000000000001'"),
        (ipaddress.IPv4Address("192.168.0.1"), "'192.168.0.1'"),
        (ipaddress.IPv6Address("2001:db8::1"), "'2001:db8::1'"),
        ([], "[]"),
        ([1, "a", None], "[1, 'a', NULL]"),
        ([[1, 2], [3]], "[[1, 2], [3]]"),
        ((), "tuple()"),
        ((1,), "tuple(1)"),
        ((1, "a"), "(1, 'a')"),
        (((1,), [(2, 3)]), "(tuple(1), [(2, 3)])"),
        ({}, "map()"),
        ({"a": 1, "b": [2]}, "map('a', 1, 'b', [2])"),
        ({1: {2: 3}}, "map(1, map(2, 3))"),
    ],
)
def test_literal_text(value, text):
    assert quote(value) == text


class NoOffset(datetime.tzinfo):
    def utcoffset(self, dt):
        return None


def test_tzinfo_without_offset_is_naive():
    assert quote(datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=NoOffset())) == "'2024-01-02 03:04:05'"


def test_namedtuple_and_subclasses():
    Point = collections.namedtuple("Point", "x y")
    assert quote(Point(1, 2)) == "(1, 2)"
    assert quote(collections.OrderedDict([("k", "v")])) == "map('k', 'v')"

    class L(list):
        pass

    assert quote(L([1])) == "[1]"


@pytest.mark.parametrize("value", [decimal.Decimal("NaN"), decimal.Decimal("-Infinity"), decimal.Decimal("sNaN")])
def test_decimal_not_finite(value):
    with pytest.raises(ProgrammingError, match="Decimal"):
        quote(value)


@pytest.mark.parametrize("value,name", [(object(), "object"), ({1}, "set"), (1j, "complex"), (quote, "builtin_function_or_method")])
def test_unsupported_type(value, name):
    with pytest.raises(ProgrammingError, match=f"unsupported parameter type {name}"):
        quote(value)
    with pytest.raises(ProgrammingError, match="unsupported parameter type"):
        quote([1, (2, value)])


def test_unencodable_surrogate():
    with pytest.raises(ProgrammingError, match="encode"):
        quote("\ud800")


def test_self_referencing_list():
    loop = []
    loop.append(loop)
    with pytest.raises(RecursionError):
        quote(loop)


# --- format_query ---------------------------------------------------------------


def test_params_none_leaves_query_alone():
    q = "SELECT '100%', '%s', '%(x)s', '%%'"
    assert format_query(q) is q
    assert format_query(q, None) is q


def test_format_paramstyle():
    assert format_query("SELECT %s, %s", (1, "a")) == "SELECT 1, 'a'"
    assert format_query("SELECT %s, %s", [None, b"x"]) == "SELECT NULL, 'x'"
    assert format_query("SELECT %s LIKE 'a%%'", ["b"]) == "SELECT 'b' LIKE 'a%'"
    assert format_query("SELECT 1 %% 2", []) == "SELECT 1 % 2"
    assert format_query("SELECT x IN %s", [(1, 2)]) == "SELECT x IN (1, 2)"
    assert format_query("SELECT 'é', %s -- ü", ["ö"]) == "SELECT 'é', 'ö' -- ü"


def test_pyformat_paramstyle():
    assert format_query("SELECT %(a)s, %(b)s, %(a)s", {"a": 1, "b": "x", "unused": 3}) == "SELECT 1, 'x', 1"
    assert format_query("SELECT %(é)s", {"é": 2}) == "SELECT 2"

    class Params(collections.abc.Mapping):
        def __getitem__(self, k):
            if k == "n":
                return 5
            raise KeyError(k)

        def __iter__(self):
            return iter(["n"])

        def __len__(self):
            return 1

    assert format_query("SELECT %(n)s", Params()) == "SELECT 5"
    with pytest.raises(ProgrammingError, match="missing query parameter 'm'"):
        format_query("SELECT %(m)s", Params())


def test_negative_number_after_minus_is_not_a_comment():
    assert format_query("SELECT 5-%s", [-1]) == "SELECT 5- -1"
    assert format_query("SELECT 5-%(x)s", {"x": -1.5}) == "SELECT 5- -1.5"
    assert format_query("SELECT 5-%s", [1]) == "SELECT 5-1"


@pytest.mark.parametrize(
    "query,params,match",
    [
        ("SELECT %s, %s", [1], r"not enough parameters: the query has 2 %s placeholders, 1 given"),
        ("SELECT %s", [1, 2], r"not all parameters were used: the query has 1 %s placeholders, 2 given"),
        ("SELECT %s", [], "not enough parameters"),
        ("SELECT 1", [1], "not all parameters were used"),
        ("SELECT %(a)s", {"b": 1}, "missing query parameter 'a'"),
        ("SELECT %d", [1], r"unsupported format character 'd' \(0x64\) at index 8"),
        ("SELECT 'é' %d", [1], "at index 12"),
        ("SELECT 100%", [], "incomplete format"),
        ("SELECT %(a", {"a": 1}, "bad placeholder at index 7"),
        ("SELECT %(a)d", {"a": 1}, "bad placeholder"),
        ("SELECT %(a)s", [1], "parameters are a sequence"),
        ("SELECT %s", {"a": 1}, "parameters are a mapping"),
        ("SELECT %s", "a", "must be a sequence or a mapping, not str"),
        ("SELECT %s", b"a", "must be a sequence or a mapping, not bytes"),
        ("SELECT %s", 5, "must be a sequence or a mapping, not int"),
        ("SELECT %s", [object()], "unsupported parameter type object"),
        (b"SELECT %s", [1], "query must be str"),
    ],
)
def test_format_errors(query, params, match):
    with pytest.raises(ProgrammingError, match=match):
        format_query(query, params)


# --- format_rows ---------------------------------------------------------------


def test_format_rows():
    rows = [(1, "a", None), [2, "b'", 1.5], (3, b"\x00", [1, 2])]
    assert format_rows(rows) == b"(1,'a',NULL),(2,'b\\'',1.5),(3,'\\x00',[1, 2])"
    assert format_rows(iter(rows)) == format_rows(rows)
    assert format_rows((r for r in rows)) == format_rows(rows)
    assert format_rows([]) == b""
    assert format_rows([()]) == b"()"
    assert format_rows([("é",)]) == "('é')".encode()


@pytest.mark.parametrize("rows,match", [(["ab"], "not str"), ([1], "not int"), ([{"a": 1}], "not dict"), ([(1, object())], "unsupported parameter type object")])
def test_format_rows_errors(rows, match):
    with pytest.raises(ProgrammingError, match=match):
        format_rows(rows)


def test_format_rows_large():
    rows = [(i, f"s{i}", i / 3, None, b"x") for i in range(100000)]
    out = format_rows(rows)
    expected = ",".join(f"({i},'s{i}',{i / 3!r},NULL,'x')" for i in range(100000)).encode()
    assert out == expected


def test_format_rows_checks_each_value_as_it_writes_it():
    from clickhouse_backend.driver.exceptions import DataError
    from clickhouse_backend.driver.typecheck import column_checks

    checks = column_checks((("a", "UInt8"), ("s", "String"), ("d", "Decimal(5, 2)")))
    assert checks[1] is None  # String: nothing to check
    rows = [(255, "x", decimal.Decimal("999.99")), (0, "y", 1.25)]
    assert format_rows(rows, checks=checks) == format_rows(rows) == b"(255,'x',999.99),(0,'y',1.25)"
    for bad, message in [((256, "x", 1), "row 1, column 'a' (UInt8): 256 is out of range for UInt8 [0, 255]"),
                         ((1, "x", 0.125), "row 1, column 'd' (Decimal(5, 2)): 0.125 has more than 2 decimal "
                                           "places (Decimal(5, 2))")]:
        with pytest.raises(DataError) as ei:
            format_rows(iter([rows[0], bad]), checks=checks)
        assert str(ei.value) == message + "; nothing was inserted"
    for malformed in ([("a", "UInt8", ("int", 0))], [("a", "UInt8", ("what", 1, 2, 3))], [("a", 1, None)], 5):
        with pytest.raises((ValueError, TypeError)):
            format_rows(rows, checks=malformed)


# --- round trips through the server --------------------------------------------

@pytest.fixture(scope="session")
def ch(clickhouse_url):
    """ch(sql) -> the server's TSV answer; ch.post(sql) -> the raw body; ch.version."""
    def post(query):
        try:
            return http_post(clickhouse_url, query.encode())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"server rejected {query[:300]!r}: {e.read()[:500]!r}") from None

    ch = lambda q: post(q + " FORMAT TSV").decode()  # noqa: E731
    ch.post = post
    ch.version = version_tuple(post("SELECT version()").decode())
    return ch


def select_hex(ch, values):
    """One query: hex() of each literal, compared as bytes."""
    out = ch("SELECT " + ", ".join(f"hex({quote(v)})" for v in values)).rstrip("\n")
    return [bytes.fromhex(h) for h in out.split("\t")]


def utf8(v):
    return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)


ADVERSARIAL = [
    "",
    "'",
    "''",
    "\\",
    "\\'",
    "'\\",
    "a'; DROP TABLE x; --",
    "\0",
    "a\0b",
    "".join(chr(i) for i in range(32)) + "\x7f",
    "😀🏳️‍🌈",
    "\u202eRTL\u202c \u05e9\u05dc\u05d5\u05dd",
    "\ufeffBOM",
    "\U0010ffff",
    "x\udcff\udc80y",
    "é\udcc3",
    "%s %(x)s %%",
    "\\x41\\n",
    "?",
    "line1\r\nline2",
    "".join(chr(i) for i in range(0x80, 0x100)),
]


def test_adversarial_strings(ch):
    assert select_hex(ch, ADVERSARIAL) == [utf8(v) for v in ADVERSARIAL]


def test_all_bytes(ch):
    values = [bytes(range(256)), bytes(range(255, -1, -1)), b"'\\", bytearray(b"\x00\xff"), memoryview(b"\x80")]
    assert select_hex(ch, values) == [bytes(v) for v in values]
    assert select_hex(ch, [bytes([i]) for i in range(256)]) == [bytes([i]) for i in range(256)]


FLOATS = [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 1e16, 1e-7, 123456789.123456789, 5e-324, -5e-324, 2.5e-310,
          2.225073858507201e-308, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
          float("inf"), float("-inf")]


def test_floats_bit_exact(ch):
    # reinterpretAsString drops trailing zero bytes
    out = ch("SELECT " + ", ".join(f"hex(reinterpretAsString(toFloat64({quote(f)})))" for f in FLOATS)).rstrip("\n")
    got = [bytes.fromhex(h) for h in out.split("\t")]
    assert got == [struct.pack("<d", f).rstrip(b"\0") for f in FLOATS]
    assert ch(f"SELECT isNaN({quote(float('nan'))})") == "1\n"


INTS = [0, 1, -1, 127, -128, 255, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, True, False]


def test_ints(ch):
    out = ch("SELECT " + ", ".join(f"toString({quote(i)})" for i in INTS)).rstrip("\n")
    assert out.split("\t") == [str(int(i)) for i in INTS]


def test_decimals(ch):
    values = [decimal.Decimal("1E+3"), decimal.Decimal("-0.25"), decimal.Decimal("12.5000"), decimal.Decimal("1E-5")]
    out = ch("SELECT " + ", ".join(quote(v) for v in values)).rstrip("\n")
    assert [decimal.Decimal(x) for x in out.split("\t")] == values


def test_dates_and_times(ch):
    d = [datetime.date(1970, 1, 2), datetime.date(2024, 2, 29), datetime.date(2105, 12, 31)]
    out = ch("SELECT " + ", ".join(f"toString(toDate({quote(v)}))" for v in d)).rstrip("\n")
    assert out.split("\t") == [v.isoformat() for v in d]

    naive = datetime.datetime(2024, 2, 29, 23, 59, 58)
    tz = datetime.timezone(datetime.timedelta(hours=-3))
    aware = datetime.datetime(2024, 2, 29, 22, 0, 1, tzinfo=tz)
    out = ch(
        f"SELECT toString(toDateTime({quote(naive)}, 'UTC')), toString({quote(aware)}, 'UTC'), "
        f"toUnixTimestamp({quote(aware)}), {quote(datetime.datetime(2024, 1, 1, 0, 0, 0, 5))}, "
        f"{quote(datetime.time(12, 30, 0, 1))}"
    ).rstrip("\n")
    assert out.split("\t") == [
        "2024-02-29 23:59:58",
        "2024-03-01 01:00:01",
        str(int(aware.timestamp())),
        "2024-01-01 00:00:00.000005",
        "12:30:00.000001",
    ]


AWARE_US = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
AWARE_S = AWARE_US.replace(microsecond=0)
DATETIME64_SINCE = (20, 1)


def test_aware_datetime_rendered_for_the_server(ch):
    # the escaper told the server's version: DateTime64 (toDateTime64) from 20.1 on, before
    # that a clear refusal naming the version, never a value cut to the second
    sv = ch.version
    assert quote(AWARE_S, server_version=sv) == "toDateTime('2024-01-02 02:04:05', 'UTC')"
    assert ch(f"SELECT toString({quote(AWARE_S, server_version=sv)}, 'UTC')") == "2024-01-02 02:04:05\n"
    if sv >= DATETIME64_SINCE:
        literal = quote(AWARE_US, server_version=sv)
        assert ch(f"SELECT toString({literal}, 'UTC')") == "2024-01-02 02:04:05.123456\n"
    else:
        version = ".".join(map(str, sv))
        for render in (lambda: quote(AWARE_US, server_version=sv),
                       lambda: format_query("SELECT %s", [[AWARE_US]], server_version=sv),
                       lambda: format_rows([(1, AWARE_US)], server_version=sv)):
            with pytest.raises(NotSupportedError, match=rf"ClickHouse {re.escape(version)} has no DateTime64"):
                render()


def test_literal_needing_the_version_says_so():
    # () = version unknown: only a literal that depends on it asks for it
    assert quote(AWARE_S, server_version=()) == "toDateTime('2024-01-02 02:04:05', 'UTC')"
    assert format_query("SELECT %s", [AWARE_US.replace(tzinfo=None)], server_version=()) == \
        "SELECT '2024-01-02 03:04:05.123456'"
    with pytest.raises(_engine.ServerVersionNeeded):
        format_query("SELECT %s", [{"k": (AWARE_US,)}], server_version=())
    with pytest.raises(TypeError, match="server_version"):
        quote(AWARE_US, server_version="18.16")
    # without a version: a current server
    assert quote(AWARE_US) == "toDateTime64('2024-01-02 02:04:05.123456', 6, 'UTC')"


def test_cursor_binds_aware_datetimes_for_its_server(cursor, ch):
    cursor.execute("SELECT toString(%s, 'UTC')", [AWARE_S])
    assert cursor.fetchall() == [("2024-01-02 02:04:05",)]
    assert cursor.connection._server_version_info == ()  # nothing needed the version yet
    if ch.version >= DATETIME64_SINCE:
        cursor.execute("SELECT toString(%s, 'UTC')", [AWARE_US])
        assert cursor.fetchall() == [("2024-01-02 02:04:05.123456",)]
    else:
        with pytest.raises(NotSupportedError, match=r"ClickHouse 18\.16\.\d+ has no DateTime64.*microseconds"):
            cursor.execute("SELECT toString(%s, 'UTC')", [AWARE_US])
        with pytest.raises(NotSupportedError, match="has no DateTime64"):
            cursor.executemany("INSERT INTO nowhere VALUES (%s)", [(AWARE_S,), (AWARE_US,)])
    assert cursor.connection._server_version_info == ch.version


def test_cursor_binds_aware_datetime64_on_chdb(ecursor):
    ecursor.execute("SELECT toString(%s, 'UTC'), toString(%s, 'UTC')", [AWARE_US, AWARE_S])
    assert ecursor.fetchall() == [("2024-01-02 02:04:05.123456", "2024-01-02 02:04:05")]
    assert ecursor.connection._server_version_info >= DATETIME64_SINCE


def test_aware_datetime_outside_datetime_range_is_datetime64():
    # DateTime holds whole seconds of 1970-2105: toDateTime() of a 1900 or 2200 value
    # would wrap (a 1900 value was stored as 1970 in a DateTime64 column)
    old = datetime.datetime(1900, 1, 1, 12, tzinfo=datetime.timezone.utc)
    late = datetime.datetime(2200, 1, 1, tzinfo=datetime.timezone.utc)
    assert quote(old, server_version=(26, 9)) == "toDateTime64('1900-01-01 12:00:00', 6, 'UTC')"
    assert quote(late, server_version=(26, 9)) == "toDateTime64('2200-01-01 00:00:00', 6, 'UTC')"
    with pytest.raises(NotSupportedError, match=r"ClickHouse 18\.16 has no DateTime64.*outside 1970-2105"):
        quote(old, server_version=(18, 16))
    with pytest.raises(_engine.ServerVersionNeeded):
        format_rows([(old,)], server_version=())


def test_aware_datetimes_into_datetime64_read_back_on_chdb(ecursor):
    ecursor.execute("CREATE TABLE t_aware64 (d DateTime64(6, 'UTC')) ENGINE = Memory")
    try:
        utc = datetime.timezone.utc
        values = [datetime.datetime(1900, 1, 1, tzinfo=utc), datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=utc),
                  datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=utc),
                  datetime.datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=utc)]
        ecursor.executemany("INSERT INTO t_aware64 (d) VALUES", [(v,) for v in values])
        ecursor.execute("SELECT d FROM t_aware64 ORDER BY d")
        assert [r[0] for r in ecursor.fetchall()] == values
    finally:
        ecursor.execute("DROP TABLE t_aware64")


def test_uuid_and_ips(ch):
    u = uuid.UUID("0123abcd-4567-89ef-0123-456789abcdef")
    v4 = ipaddress.IPv4Address("10.20.30.40")
    v6 = [ipaddress.IPv6Address(a) for a in ("2001:db8::ff00:42:8329", "::1", "::ffff:1.2.3.4", "fe80::1", "::")]
    out = ch(
        f"SELECT toString(toUUID({quote(u)})), IPv4NumToString(IPv4StringToNum({quote(v4)})), "
        + ", ".join(f"hex(IPv6StringToNum({quote(a)}))" for a in v6)
    ).rstrip("\n")
    assert out.split("\t") == [str(u), str(v4)] + [a.packed.hex().upper() for a in v6]


def test_nested_containers(ch):
    values = [[[1, 2], [3]], (1, "a", None), (5,), ["x", "y'z"], [(1, "a"), (2, "b")]]
    out = ch("SELECT " + ", ".join(quote(v) for v in values) + f", length({quote([])})").rstrip("\n")
    assert out.split("\t") == ["[[1,2],[3]]", "(1,'a',NULL)", "(5)", "['x','y\\'z']", "[(1,'a'),(2,'b')]", "0"]


def test_format_query_on_server(ch):
    q = format_query("SELECT %s, 5-%s, %s LIKE 'a%%', length(%s)", ["it's", -1, "abc", "😀"])
    assert ch(q) == "it\\'s\t6\t1\t4\n"
    q = format_query("SELECT %(a)s + %(a)s, %(b)s", {"a": 2, "b": [1]})
    assert ch(q) == "4\t[1]\n"


def test_format_rows_insert(ch):
    table = f"test_escape_{uuid.uuid4().hex}"
    ch(f"CREATE TABLE {table} (i Int64, s String, f Float64, n Nullable(String), d Date) ENGINE = Memory")
    try:
        rows = [(i, ADVERSARIAL[i % len(ADVERSARIAL)], i / 7, None if i % 2 else "x", datetime.date(2024, 1, 1 + i % 28))
                for i in range(500)]
        ch.post(f"INSERT INTO {table} VALUES " + format_rows(rows).decode())
        out = ch(f"SELECT i, hex(s), f, n, toString(d) FROM {table} ORDER BY i").splitlines()
        assert len(out) == len(rows)
        for line, (i, s, f, n, d) in zip(out, rows):
            gi, gs, gf, gn, gd = line.split("\t")
            assert (int(gi), bytes.fromhex(gs), gn, gd) == (i, utf8(s), "\\N" if n is None else n, d.isoformat())
            # 18.16's fast Values parser is not correctly rounded (any float text; SELECT literals are exact)
            assert math.isclose(float(gf), f, rel_tol=1e-15)
    finally:
        ch(f"DROP TABLE IF EXISTS {table}")


# random strings and bytes, 50 values per query so that a few hundred values stay fast
texts = st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape"))


@settings(max_examples=12, deadline=None)
@given(st.lists(texts, min_size=1, max_size=50))
def test_random_strings_round_trip(ch, values):
    assert select_hex(ch, values) == [utf8(v) for v in values]


@settings(max_examples=12, deadline=None)
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=50))
def test_random_bytes_round_trip(ch, values):
    assert select_hex(ch, values) == values


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=50))
def test_random_floats_round_trip(ch, values):
    out = ch("SELECT " + ", ".join(f"hex(reinterpretAsString(toFloat64({quote(f)})))" for f in values)).rstrip("\n")
    assert [bytes.fromhex(h) for h in out.split("\t")] == [struct.pack("<d", f).rstrip(b"\0") for f in values]


# --- a recent ClickHouse in-process (chdb): literals the old dev server lacks --


def test_recent_clickhouse_literals(ecursor):
    # Through the driver's embedded engine, not chdb.query(): chDB runs one data
    # path per process and the embedded tests have opened theirs already.
    def q(sql):
        ecursor.execute(sql)
        (row,) = ecursor.fetchall()
        return list(row)

    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=45))
    values = [
        datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=tz),
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=tz),
    ]
    got = q("SELECT " + ", ".join(f"toString({quote(v)}, 'UTC')" for v in values))
    assert got == ["2024-01-01 21:19:05.123456", "2024-01-01 21:19:05"]
    got = q("SELECT " + ", ".join(f"toString({quote(v)})" for v in ({"a": 1, "b": 2}, {}, (1,), (), {1: [2, 3]})))
    assert got == ["{'a':1,'b':2}", "{}", "(1)", "()", "{1:[2,3]}"]
    got = q("SELECT " + ", ".join(f"hex({quote(v)})" for v in ADVERSARIAL))
    assert [bytes.fromhex(h) for h in got] == [utf8(v) for v in ADVERSARIAL]
    got = q("SELECT " + ", ".join(f"hex(reinterpretAsString(toFloat64({quote(f)})))" for f in FLOATS))
    assert [bytes.fromhex(h) for h in got] == [struct.pack("<d", f).rstrip(b"\0") for f in FLOATS]
    assert math.isnan(float(q(f"SELECT {quote(float('nan'))}")[0]))
