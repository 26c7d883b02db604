"""The driver on the embedded engine (ClickHouse 26.x in-process through chDB).

Types the 18.16 dev server lacks are decoded here through the real driver
(chDB's Native bytes -> the C decoder), parameters make round trips, and the
chDB constraints (one path per process, no fork, lazy import) give clear errors.
"""
import datetime
import decimal
import ipaddress
import json
import math
import os
import threading
import time
import uuid
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.embedded_support import EMBEDDED, driver, ecursor, embedded_conn, requires_chdb, run_python  # noqa: F401
from tests.wire import varint

pytestmark = requires_chdb

chd = driver()
UTC = datetime.timezone.utc


def one(cur, sql, params=None, **kw):
    cur.execute(sql, params, **kw)
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return rows[0]


# --- engine ------------------------------------------------------------------

def test_version_is_modern(ecursor):
    (v,) = one(ecursor, "SELECT version()")
    assert tuple(int(p) for p in v.split(".")[:2]) >= (24, 1)


def test_seed_settings_verbatim(embedded_conn):
    c = chd.connect(embedded=EMBEDDED, settings={"mutations_sync": 2})
    cur = c.cursor()
    assert one(cur, "SELECT getSetting('mutations_sync')") == (2,)
    cur.execute("DROP TABLE IF EXISTS seed_mut")
    cur.execute("CREATE TABLE seed_mut (id UInt32, v String) ENGINE = MergeTree ORDER BY id")
    cur.executemany("INSERT INTO seed_mut VALUES (%s, %s)", [(1, "a"), (2, "b")])
    assert cur.rowcount == 2
    cur.execute("ALTER TABLE seed_mut UPDATE v = 'z' WHERE id = 2")
    # mutations_sync=2: the mutation is finished when ALTER returns
    cur.execute("SELECT id, v FROM seed_mut ORDER BY id")
    assert cur.fetchall() == [(1, "a"), (2, "z")]
    cur.execute("DROP TABLE seed_mut")
    # another connection's settings do not leak through the shared chDB connections
    assert one(embedded_conn.cursor(), "SELECT getSetting('mutations_sync')") != (2,)


def test_per_query_settings_and_reset(ecursor):
    assert one(ecursor, "SELECT getSetting('max_threads')", settings={"max_threads": 1}) == (1,)
    assert one(ecursor, "SELECT getSetting('max_threads')") != (1,)


def test_user_set_statement_does_not_leak(ecursor):
    # Like over HTTP without a session: SET affects that request only.
    ecursor.execute("SET max_threads = 1")
    for _ in range(3):
        assert one(ecursor, "SELECT getSetting('max_threads')") != (1,)


def test_database_option(embedded_conn):
    cur = embedded_conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS emb_db_opt")
    c = chd.connect(embedded=EMBEDDED, database="emb_db_opt")
    assert one(c.cursor(), "SELECT currentDatabase()") == ("emb_db_opt",)
    assert one(cur, "SELECT currentDatabase()") == ("default",)
    with pytest.raises(chd.ProgrammingError) as ei:
        chd.connect(embedded=EMBEDDED, database="emb_no_such_db").cursor().execute("SELECT 1")
    assert ei.value.code == 81
    cur.execute("DROP DATABASE emb_db_opt")


def test_errors_carry_codes(ecursor):
    cases = [("SELECT nosuch_column", chd.ProgrammingError, 47),
             ("SELEC 1", chd.ProgrammingError, 62),
             ("SELECT * FROM no_such_table_xyz", chd.ProgrammingError, 60),
             ("SELECT throwIf(1)", chd.DataError, 395),
             ("SELECT toInt8('x')", chd.DataError, 6)]
    for sql, cls, code in cases:
        with pytest.raises(cls) as ei:
            ecursor.execute(sql, query_id=f"err-{code}")
        assert ei.value.code == code, sql
        assert ei.value.query_id == f"err-{code}"
        assert f"Code: {code}" in str(ei.value)
    # the cursor is usable after an error
    assert one(ecursor, "SELECT 7") == (7,)


def test_error_in_the_middle_of_a_stream(ecursor):
    ecursor.execute("SELECT throwIf(number = 150000) FROM numbers(300000) SETTINGS max_block_size = 1000")
    with pytest.raises(chd.DataError) as ei:
        ecursor.fetchall()
    assert ei.value.code == 395


def test_query_timeout(embedded_conn):
    c = chd.connect(embedded=EMBEDDED, query_timeout=0.3)
    with pytest.raises(chd.OperationalError) as ei:
        c.cursor().execute("SELECT sleepEachRow(0.2) FROM numbers(10) SETTINGS max_block_size = 1").fetchall()
    assert ei.value.code == 159


def test_streaming_large_result_and_summary(ecursor):
    ecursor.execute("SELECT number, toString(number) FROM numbers(300000)")
    assert ecursor.description[0][:2] == ("number", "UInt64")
    n = 0
    for i, (a, b) in enumerate(ecursor):
        assert a == i and b == str(i)
        n += 1
    assert n == 300000 and ecursor.rowcount == 300000
    assert ecursor.summary.read_rows == 300000 and ecursor.summary.result_rows == 300000


def test_abandoned_stream_frees_its_chdb_connection(embedded_conn):
    before = embedded_conn.pool_stats()["in_use"]
    cur = embedded_conn.cursor()
    cur.execute("SELECT number FROM numbers(10000000) SETTINGS max_block_size = 1000")
    assert cur.fetchone() == (0,)
    assert embedded_conn.pool_stats()["in_use"] == before + 1
    cur.execute("SELECT 1")  # abandons the first result
    assert cur.fetchall() == [(1,)]
    assert embedded_conn.pool_stats()["in_use"] == before


def test_empty_result_and_ddl(ecursor):
    ecursor.execute("SELECT 1 WHERE 0")
    assert ecursor.fetchall() == []
    ecursor.execute("SHOW DATABASES")
    assert ("system",) in ecursor.fetchall()
    ecursor.execute("DESCRIBE TABLE system.one")
    assert ecursor.fetchall()[0][:2] == ("dummy", "UInt8")


def test_threads_run_in_parallel(embedded_conn):
    # Each query takes its own chDB connection, so one Connection serves several threads.
    out = []

    def work():
        c = embedded_conn.cursor()
        out.append(one(c, "SELECT sleep(0.5), 1"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [(0, 1)] * 4
    assert time.monotonic() - t0 < 1.5  # 4 x 0.5 s serialized would be 2 s


# --- INSERT data inline ----------------------------------------------------------

def test_binary_safe_insert(embedded_conn):
    cur = embedded_conn.cursor()
    cur.execute("DROP TABLE IF EXISTS emb_bin")
    cur.execute("CREATE TABLE emb_bin (id UInt8, b String) ENGINE = MergeTree ORDER BY id")
    blobs = [bytes(range(256)), b"\x00", b"'\\\"", "héllo".encode(), b"\xff\xfe" * 1000]
    cur.executemany("INSERT INTO emb_bin VALUES (%s, %s)", list(enumerate(blobs)))
    # RowBinary right after the statement text: the body travels to chDB as bytes.
    raw = bytearray()
    for i, b in enumerate(blobs, start=10):
        raw += bytes([i]) + varint(len(b)) + b
    cur.execute("INSERT INTO emb_bin FORMAT RowBinary\n" + bytes(raw).decode("utf-8", "surrogateescape"))
    assert cur.rowcount == len(blobs)
    bc = chd.connect(embedded=EMBEDDED, strings_as_bytes=True).cursor()
    bc.execute("SELECT id, b FROM emb_bin ORDER BY id")
    got = bc.fetchall()
    assert got == [(i, b) for i, b in enumerate(blobs)] + [(i, b) for i, b in enumerate(blobs, start=10)]
    cur.execute("DROP TABLE emb_bin")




def test_insert_native_format(embedded_conn):
    cur = embedded_conn.cursor()
    cur.execute("DROP TABLE IF EXISTS emb_native")
    cur.execute("CREATE TABLE emb_native (a UInt32, s String) ENGINE = Memory")
    # A Native block: 2 columns, 3 rows.
    block = (varint(2) + varint(3) + varint(1) + b"a" + varint(6) + b"UInt32"
             + b"".join(i.to_bytes(4, "little") for i in (5, 6, 7))
             + varint(1) + b"s" + varint(6) + b"String"
             + b"".join(varint(len(x)) + x for x in (b"x", b"\x00y", b"\xffz")))
    cur.execute("INSERT INTO emb_native FORMAT Native\n" + block.decode("utf-8", "surrogateescape"))
    cur.execute("SELECT a, s FROM emb_native ORDER BY a")
    assert cur.fetchall() == [(5, "x"), (6, "\x00y"), (7, "\udcffz")]  # surrogateescape by default
    cur.execute("DROP TABLE emb_native")


# --- types the 18.16 server lacks ------------------------------------------------

TYPE_CASES = [
    ("toDateTime64('2024-01-02 03:04:05.123456', 6, 'Asia/Tokyo')", "DateTime64(6, 'Asia/Tokyo')",
     datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))),
    ("toDateTime64('2021-03-28 02:30:00.5', 1, 'UTC')", "DateTime64(1, 'UTC')",
     datetime.datetime(2021, 3, 28, 2, 30, 0, 500000, tzinfo=UTC)),
    ("toDateTime64('1925-06-07 08:09:10.123', 3, 'America/New_York')", "DateTime64(3, 'America/New_York')",
     datetime.datetime(1925, 6, 7, 8, 9, 10, 123000, tzinfo=zoneinfo.ZoneInfo("America/New_York"))),
    # Native at client revision 0 (HTTP's default, and chDB's) names DateTime columns
    # without their timezone (ClickHouse keeps that for old clients); DateTime64 keeps it.
    # The instant is right: naive UTC, as for any DateTime without a timezone.
    ("toDateTime('2023-10-29 02:30:00', 'Europe/Berlin')", "DateTime",
     datetime.datetime(2023, 10, 29, 0, 30)),
    ("toDate32('1900-01-01')", "Date32", datetime.date(1900, 1, 1)),
    ("toDate32('2299-12-31')", "Date32", datetime.date(2299, 12, 31)),
    ("true", "Bool", True),
    ("CAST(NULL AS Nullable(Bool))", "Nullable(Bool)", None),
    ("toIPv4('255.255.255.255')", "IPv4", ipaddress.IPv4Address("255.255.255.255")),
    ("toIPv4('1.2.3.4')", "IPv4", ipaddress.IPv4Address("1.2.3.4")),
    ("toIPv6('2001:db8::1')", "IPv6", ipaddress.IPv6Address("2001:db8::1")),
    ("toIPv6('::ffff:1.2.3.4')", "IPv6", ipaddress.IPv6Address("::ffff:1.2.3.4")),
    ("map('a', 1, 'b', 2)", "Map(String, UInt8)", {"a": 1, "b": 2}),
    ("CAST(map(1, [NULL, 2]), 'Map(UInt8, Array(Nullable(Int32)))')", "Map(UInt8, Array(Nullable(Int32)))",
     {1: [None, 2]}),
    ("CAST(map(), 'Map(String, String)')", "Map(String, String)", {}),
    ("toLowCardinality('x')", "LowCardinality(String)", "x"),
    ("CAST(NULL AS LowCardinality(Nullable(String)))", "LowCardinality(Nullable(String))", None),
    ("toInt128('-170141183460469231731687303715884105728')", "Int128", -2**127),
    ("toUInt128('340282366920938463463374607431768211455')", "UInt128", 2**128 - 1),
    ("toInt256('-57896044618658097711785492504343953926634992332820282019728792003956564819968')", "Int256",
     -2**255),
    ("toUInt256('115792089237316195423570985008687907853269984665640564039457584007913129639935')", "UInt256",
     2**256 - 1),
    ("CAST((1, 'x'), 'Tuple(a Int32, b String)')", "Tuple(a Int32, b String)", (1, "x")),
    ("CAST((1, (2.5, [3])), 'Tuple(a Int8, b Tuple(c Float64, d Array(UInt8)))')",
     "Tuple(a Int8, b Tuple(c Float64, d Array(UInt8)))", (1, (2.5, [3]))),
    ("toDecimal256('-123.4560000001', 40)", "Decimal(76, 40)", decimal.Decimal("-123.4560000001")),
    ("toDecimal256('9' || repeat('9', 75), 0)", "Decimal(76, 0)", decimal.Decimal("9" * 76)),
    ("toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')", "UUID", uuid.UUID("61f0c404-5cb3-11e7-907b-a6006ad3dba0")),
    ("CAST('b' AS Enum8('a' = 1, 'b' = 2))", "Enum8('a' = 1, 'b' = 2)", "b"),
]


@pytest.mark.parametrize("expr,type_name,expected", TYPE_CASES, ids=[c[1] + ":" + c[0][:30] for c in TYPE_CASES])
def test_modern_types(ecursor, expr, type_name, expected):
    ecursor.execute(f"SELECT {expr} AS v")
    assert ecursor.description[0][1] == type_name
    (got,) = ecursor.fetchall()[0]
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(expected, datetime.datetime):
        assert got.utcoffset() == expected.utcoffset()


def test_json_type(ecursor):
    ecursor.execute("""SELECT '{"a": {"b": [1, 2]}, "c": "x"}'::JSON AS j""")
    assert ecursor.description[0][1] == "JSON"
    (got,) = ecursor.fetchone()
    assert isinstance(got, str) and json.loads(got) == {"a": {"b": ["1", "2"]}, "c": "x"} or \
        json.loads(got) == {"a": {"b": [1, 2]}, "c": "x"}


def test_many_rows_of_modern_types(ecursor):
    ecursor.execute("""
        SELECT toInt128(number) * toInt128('-1000000000000000000000') AS i, toLowCardinality(toString(number % 3)) AS lc,
               toDateTime64(number, 3, 'Europe/Moscow') AS dt, map(toString(number), number) AS m,
               toDecimal256(number, 20) / 3 AS d, toIPv4(number) AS ip, (number, toString(number))::Tuple(n UInt64, s String) AS t
        FROM numbers(5000) SETTINGS max_block_size = 1024""")
    rows = ecursor.fetchall()
    assert len(rows) == 5000
    msk = zoneinfo.ZoneInfo("Europe/Moscow")
    for n, (i, lc, dt, m, d, ip, t) in enumerate(rows):
        assert i == -n * 10**21
        assert lc == str(n % 3)
        assert dt == datetime.datetime.fromtimestamp(n, tz=UTC) and dt.tzinfo == msk
        assert m == {str(n): n}
        assert d == (decimal.Decimal(n) / 3).quantize(decimal.Decimal(1).scaleb(-20), rounding=decimal.ROUND_DOWN)
        assert ip == ipaddress.IPv4Address(n)
        assert t == (n, str(n))


def test_connection_timezone(embedded_conn):
    c = chd.connect(embedded=EMBEDDED, timezone="America/Sao_Paulo")
    (dt,) = one(c.cursor(), "SELECT toDateTime64('2024-01-01 00:00:00', 3, 'UTC') :: DateTime64(3)")
    assert dt == datetime.datetime(2024, 1, 1, tzinfo=UTC)


# --- parameter round trips --------------------------------------------------------

ADVERSARIAL = ["", "'", "''", "\\", "\\'", "\0", "a\0b", "\n\r\t\b\f\v", "%s", "%%", "%(x)s", "{x:String}",
               "?", "-- c", "/* c */", "é日本😀", "\x7f\x01\x1f", "`", '"', "$$", "x" * 100000, "\u2028\u2029",
               "\ufeff", "\U0010ffff"]


@pytest.mark.parametrize("s", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_roundtrip_adversarial_strings(ecursor, s):
    assert one(ecursor, "SELECT %s", [s]) == (s,)
    assert one(ecursor, "SELECT %(v)s, length(%(v)s)", {"v": s}) == (s, len(s.encode()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_roundtrip_any_string(ecursor, s):
    assert one(ecursor, "SELECT %s", [s]) == (s,)


def test_roundtrip_bytes(embedded_conn):
    cur = chd.connect(embedded=EMBEDDED, strings_as_bytes=True).cursor()
    for b in (bytes(range(256)), b"", b"\xff" * 3, b"'\\", "é".encode()):
        assert one(cur, "SELECT %s", [b]) == (b,)


FLOATS = [0.0, -0.0, 0.1, 1 / 3, -2.5e-300, 5e-324, 1.7976931348623157e308, float("inf"), float("-inf"), 123456789.125]


@pytest.mark.parametrize("f", FLOATS, ids=[repr(f) for f in FLOATS])
def test_roundtrip_floats(ecursor, f):
    (got,) = one(ecursor, "SELECT toFloat64(%s)", [f])
    assert got == f and math.copysign(1, got) == math.copysign(1, f)


def test_roundtrip_nan(ecursor):
    (got,) = one(ecursor, "SELECT %s", [float("nan")])
    assert math.isnan(got)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.floats(allow_nan=False))
def test_roundtrip_any_float(ecursor, f):
    assert one(ecursor, "SELECT toFloat64(%s)", [f]) == (f,)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=-2**255, max_value=2**255 - 1))
def test_roundtrip_big_ints(ecursor, n):
    # Integer literals beyond 64 bits are Float64 in ClickHouse; `::Int256` parses the text.
    assert one(ecursor, "SELECT %s::Int256", [n]) == (n,)


@pytest.mark.parametrize("n", [0, -1, 2**63 - 1, -2**63, 2**64 - 1])
def test_roundtrip_64bit_ints(ecursor, n):
    assert one(ecursor, "SELECT %s", [n]) == (n,)


def test_roundtrip_scalars(ecursor):
    assert one(ecursor, "SELECT %s, %s, %s", [None, True, False]) == (None, 1, 0)
    assert one(ecursor, "SELECT %s::Decimal(38, 10)", [decimal.Decimal("-12345678901234567.0123456789")]) == \
        (decimal.Decimal("-12345678901234567.0123456789"),)
    u = uuid.uuid4()
    assert one(ecursor, "SELECT toUUID(%s)", [u]) == (u,)
    for ip in (ipaddress.IPv4Address("10.0.0.255"), ipaddress.IPv4Address("0.0.0.0")):
        assert one(ecursor, "SELECT toIPv4(%s)", [ip]) == (ip,)
    for ip in (ipaddress.IPv6Address("fe80::1"), ipaddress.IPv6Address("::")):
        assert one(ecursor, "SELECT toIPv6(%s)", [ip]) == (ip,)


@pytest.mark.parametrize("d", [datetime.date(1900, 1, 1), datetime.date(1969, 12, 31), datetime.date(2024, 2, 29),
                               datetime.date(2299, 12, 31)])
def test_roundtrip_dates(ecursor, d):
    assert one(ecursor, "SELECT toDate32(%s)", [d]) == (d,)


@pytest.mark.parametrize("dt", [
    datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    datetime.datetime(1960, 1, 2, 3, 4, 5, 1, tzinfo=zoneinfo.ZoneInfo("Asia/Kolkata")),
    datetime.datetime(2023, 10, 29, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
    datetime.datetime(2023, 10, 29, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
    datetime.datetime(2038, 1, 19, 3, 14, 8, tzinfo=datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))),
])
def test_roundtrip_aware_datetimes(ecursor, dt):
    # DateTime columns come without their timezone (see TYPE_CASES): a connection
    # timezone makes them aware.
    # (PEP 495: an ambiguous local time never compares == across zones, so compare instants.)
    want = (dt - dt.utcoffset()).replace(tzinfo=UTC)
    (got,) = one(chd.connect(embedded=EMBEDDED, timezone="UTC").cursor(), "SELECT %s", [dt])
    assert got == want and got.tzinfo is not None
    (got,) = one(ecursor, "SELECT toDateTime64(%s, 6, 'Asia/Tokyo')", [dt])
    assert got.astimezone(UTC) == want and got.tzinfo == zoneinfo.ZoneInfo("Asia/Tokyo")


def test_roundtrip_naive_datetime(ecursor):
    dt = datetime.datetime(2001, 2, 3, 4, 5, 6, 789)
    (got,) = one(ecursor, "SELECT toDateTime64(%s, 6, 'UTC')", [dt])
    assert got == dt.replace(tzinfo=UTC)


def test_roundtrip_containers(ecursor):
    cases = [
        ("SELECT %s", [1, 2, 3], [1, 2, 3]),
        ("SELECT %s", ["a", "b'c", "\\"], ["a", "b'c", "\\"]),
        ("SELECT %s", [[1], [2, 3], []], [[1], [2, 3], []]),
        ("SELECT %s", [None, 1], [None, 1]),
        ("SELECT %s", [], []),
        ("SELECT %s", (1, "a", None), (1, "a", None)),
        ("SELECT %s", (5,), (5,)),
        ("SELECT %s", {"a": 1, "b'": 2}, {"a": 1, "b'": 2}),
        ("SELECT %s::Map(String, Array(String))", {"k": ["x", "y"]}, {"k": ["x", "y"]}),
        ("SELECT %s::Array(Date32)", [datetime.date(1901, 5, 6)], [datetime.date(1901, 5, 6)]),
        ("SELECT %s::Array(UUID)", [uuid.UUID(int=1)], [uuid.UUID(int=1)]),
        ("SELECT %s::Array(IPv6)", [ipaddress.IPv6Address("::2")], [ipaddress.IPv6Address("::2")]),
    ]
    for sql, v, expected in cases:
        assert one(ecursor, sql, [v]) == (expected,), v


# --- chDB's constraints: clear errors ----------------------------------------------

def test_chdb_is_imported_lazily():
    r = run_python("""
        import sys
        import clickhouse_backend.driver as chd
        c = chd.connect(host="127.0.0.1", port=1)  # an HTTP connection: no chDB
        assert "chdb" not in sys.modules, "imported too early"
        e = chd.connect(embedded=True)
        assert "chdb" in sys.modules
        cur = e.cursor(); cur.execute("SELECT 41 + 1"); print(cur.fetchone()[0])
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


def test_second_data_path_is_refused(embedded_conn, tmp_path):
    with pytest.raises(chd.InterfaceError, match="one data path per process") as ei:
        chd.connect(embedded=str(tmp_path / "other"))
    assert embedded_conn._client.path in str(ei.value)
    # the open engine is not disturbed
    assert one(embedded_conn.cursor(), "SELECT 1") == (1,)


def test_second_data_path_is_refused_in_a_fresh_process(tmp_path):
    r = run_python(f"""
        import clickhouse_backend.driver as chd
        a = chd.connect(embedded={str(tmp_path / 'a')!r})
        a.cursor().execute("SELECT 1")
        try:
            chd.connect(embedded={str(tmp_path / 'b')!r})
        except chd.InterfaceError as e:
            print("refused:", e)
        from clickhouse_backend.driver import embedded
        embedded.shutdown()  # after an explicit shutdown another path may be opened
        b = chd.connect(embedded={str(tmp_path / 'b')!r})
        cur = b.cursor(); cur.execute("SELECT 2"); print("b:", cur.fetchone()[0])
    """)
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "one data path per process" in r.stdout
    assert "b: 2" in r.stdout


def _in_fork(fn):
    """Run fn in a forked child; returns what it printed (as text)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(rfd)
        try:
            msg = fn()
        except BaseException as e:
            msg = f"{type(e).__name__}: {e}"
        os.write(wfd, msg.encode())
        os._exit(0)
    os.close(wfd)
    chunks = []
    deadline = time.monotonic() + 60
    while True:
        b = os.read(rfd, 65536)
        if not b:
            break
        chunks.append(b)
        assert time.monotonic() < deadline
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks).decode()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads running
def test_forked_child_gets_a_clear_error(embedded_conn):
    cur = embedded_conn.cursor()
    cur.execute("SELECT number FROM numbers(10)")

    def use_parents_connection():
        embedded_conn.cursor().execute("SELECT 1")
        return "no error"

    def open_new_connection():
        chd.connect(embedded=EMBEDDED)
        return "no error"

    def read_parents_result():
        cur.fetchall()
        return "no error"

    for fn in (use_parents_connection, open_new_connection, read_parents_result):
        msg = _in_fork(fn)
        assert msg.startswith("InterfaceError"), msg
        assert "fork" in msg
    assert len(cur.fetchall()) == 10  # the parent's result is intact


def test_persistence_across_processes(tmp_path):
    path = str(tmp_path / "data")
    w = run_python(f"""
        import clickhouse_backend.driver as chd
        c = chd.connect(embedded={path!r})
        cur = c.cursor()
        cur.execute("CREATE TABLE kept (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
        cur.executemany("INSERT INTO kept VALUES (%s, %s)", [(i, "v%d" % i) for i in range(1000)])
        cur.execute("CREATE DATABASE other_db")
        cur.execute("CREATE TABLE other_db.t ENGINE = MergeTree ORDER BY x AS SELECT 1 AS x")
    """)
    assert w.returncode == 0, w.stderr
    r = run_python(f"""
        import clickhouse_backend.driver as chd
        cur = chd.connect(embedded={path!r}).cursor()
        cur.execute("SELECT count(), sum(id), any(s) LIKE 'v%%' FROM kept")
        print(cur.fetchone())
        cur.execute("SELECT * FROM other_db.t")
        print(cur.fetchall())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["(1000, 499500, 1)", "[(1,)]"]


def test_temp_form_shares_one_directory_and_is_removed(tmp_path):
    r = run_python("""
        import os
        import clickhouse_backend.driver as chd
        from clickhouse_backend.driver import embedded
        a = chd.connect(embedded=True)
        b = chd.connect(embedded=":memory:")
        assert a._client.path == b._client.path
        a.cursor().execute("CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x")
        cur = b.cursor(); cur.execute("EXISTS TABLE t"); assert cur.fetchone() == (1,)
        print(a._client.path)
    """)
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    assert path and not os.path.exists(path)


def test_bad_embedded_option():
    with pytest.raises(chd.InterfaceError):
        chd.connect(embedded=42)
    with pytest.raises(chd.InterfaceError):
        chd.connect(embedded="/tmp/x?verbose")


def test_django_seed_configuration_verbatim(tmp_path):
    # Django configures itself once per process: run it in a fresh one.
    r = run_python(f"""
        import django
        from django.conf import settings
        settings.configure(DATABASES={{"default": {{
            "ENGINE": "clickhouse_backend.backend", "NAME": "default",
            "OPTIONS": {{"embedded": {str(tmp_path / "dj")!r}, "settings": {{"mutations_sync": 2}}}}}}}},
            INSTALLED_APPS=[], USE_TZ=True)
        django.setup()
        from django.db import connection
        with connection.cursor() as c:
            c.execute("SELECT version()")
            print(c.fetchone()[0])
            c.execute("SELECT getSetting('mutations_sync')")
            print(c.fetchone()[0])
    """)
    assert r.returncode == 0, r.stderr
    version, sync = r.stdout.split()[:2]
    assert int(version.split(".")[0]) >= 24 and sync == "2"
