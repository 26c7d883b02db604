"""Columnar inserts (insert_columns / insert_df / insert_arrow): every type read back
through the row path, both targets; values that do not fit are refused with the
DataError executemany() gives (nothing is sent), never wrapped."""
import datetime
import decimal
import ipaddress
import uuid

import pytest
from hypothesis import given, strategies as st

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.test_columnar import FEW, ROW, conn  # noqa: F401  (conn: the server / embedded connection fixture)

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

UTC = datetime.timezone.utc
PARIS = __import__("zoneinfo").ZoneInfo("Europe/Paris")

# column type -> values (the row path's types), runs on 18.16
CASES = [
    ("Int8", [-128, 127, 0], True),
    ("UInt8", [0, 255], True),
    ("Int16", [-32768, 32767], True),
    ("UInt16", [65535, 1], True),
    ("Int32", [-2 ** 31, 2 ** 31 - 1], True),
    ("UInt32", [2 ** 32 - 1, 0], True),
    ("Int64", [-2 ** 63, 2 ** 63 - 1], True),
    ("UInt64", [2 ** 64 - 1, 0], True),
    ("Int128", [-2 ** 127, 2 ** 127 - 1], False),
    ("UInt256", [2 ** 256 - 1, 0], False),
    ("Int256", [-2 ** 255, 5], False),
    ("Float32", [1.5, -0.25], True),
    ("Float64", [1e308, -5e-324], True),
    ("Decimal(9, 2)", [decimal.Decimal("1234567.89"), decimal.Decimal("-0.01")], True),
    ("Decimal(18, 4)", [decimal.Decimal("-99999999999999.9999"), decimal.Decimal("0.0001")], True),
    ("Decimal(38, 10)", [decimal.Decimal("1234567890123456789012345678.0123456789")], True),
    ("Decimal(76, 20)", [decimal.Decimal("12345678901234567890123456789012345678901234567890.1")], False),
    ("Bool", [True, False], False),
    ("String", ["", "héllo", "a\x00b", "日本"], True),
    ("FixedString(4)", ["ab", "abcd"], True),
    ("UUID", [uuid.UUID("61f0c404-5cb3-11e7-907b-a6006ad3dba0"), uuid.UUID(int=0)], True),
    ("Date", [datetime.date(1970, 1, 1), datetime.date(2105, 12, 31), datetime.date(2024, 2, 29)], True),
    ("Date32", [datetime.date(1900, 1, 1), datetime.date(2299, 12, 31)], False),
    ("DateTime('UTC')", [datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)], True),
    ("DateTime('Europe/Paris')", [datetime.datetime(2024, 7, 1, 12, 0, tzinfo=PARIS)], True),
    ("DateTime64(3, 'UTC')", [datetime.datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC),
                              datetime.datetime(1900, 1, 1, tzinfo=UTC)], False),
    ("DateTime64(6, 'UTC')", [datetime.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)], False),
    ("Enum8('a' = 1, 'b c' = -2)", ["a", "b c"], True),
    ("Enum16('x' = 1000, 'y' = -1000)", ["y", "x"], True),
    ("IPv4", [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv4Address("255.255.255.255")], False),
    ("IPv6", [ipaddress.IPv6Address("::1"), ipaddress.IPv6Address("2001:db8::ff00:42:8329")], False),
    ("Nullable(Int32)", [None, 7, -7], True),
    ("Nullable(String)", ["x", None, ""], True),
    ("Nullable(Float64)", [1.5, None], True),
    ("Nullable(DateTime('UTC'))", [None, datetime.datetime(2020, 1, 1, tzinfo=UTC)], True),
    ("Nullable(Decimal(9, 2))", [None, decimal.Decimal("1.25")], True),
    ("LowCardinality(String)", ["a", "b", "", "a"], False),
    ("LowCardinality(Nullable(String))", ["a", None, "b", "a"], False),
    ("Array(Int32)", [[1, 2], [], [-3]], False),
    ("Array(Nullable(String))", [["a", None], []], False),
    ("Map(String, UInt64)", [{"a": 1, "b": 2}, {}], False),
    ("Tuple(a Int32, b String)", [(1, "x"), (-2, "")], False),
]


def _table(cur, ctype):
    cur.execute("DROP TABLE IF EXISTS default.colins")
    cur.execute(f"CREATE TABLE default.colins (k UInt32, v {ctype}) ENGINE = Memory")


def _instant(v):
    """18.16 names no zone in a result's DateTime type: compare instants."""
    if isinstance(v, datetime.datetime):
        return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    return v


def _read(cur):
    cur.execute("SELECT v FROM default.colins ORDER BY k")
    return [_instant(r[0]) for r in cur.fetchall()]


def _inputs(values, ctype):
    """The same values as NumPy (object/typed/masked), pandas and Arrow inputs."""
    keys = np.arange(len(values), dtype=np.uint32)
    obj = np.empty(len(values), dtype=object)
    obj[:] = [tuple(v) if isinstance(v, tuple) else v for v in values] if "Tuple" in ctype else values
    yield "numpy", {"k": keys, "v": obj}
    yield "list", {"k": keys.tolist(), "v": list(values)}
    if not any(isinstance(v, (dict, tuple)) for v in values):
        yield "pandas", pd.DataFrame({"k": keys, "v": pd.Series(list(values), dtype=object)})


@pytest.mark.parametrize("ctype,values,on_server", CASES, ids=[c[0] for c in CASES])
def test_every_type_reads_back(conn, ctype, values, on_server):
    if conn.target == "server" and not on_server:
        pytest.skip("the 18.16 server has no such type (tested on chDB)")
    cur = conn.cursor()
    for kind, data in _inputs(values, ctype):
        _table(cur, ctype)
        if kind == "pandas":
            cur.insert_df("default.colins", data)
        else:
            cur.insert_columns("default.colins", data)
        assert cur.rowcount == len(values)
        got = _read(cur)
        want = [_instant(v) for v in values]
        if ctype.startswith("Tuple"):
            got = [tuple(g) for g in got]
        assert got == want, kind
    if "256" in ctype:
        return  # Arrow has no 256-bit integer: such columns come as text (docs/columnar.md)
    # the same values back through Arrow: fetch_arrow_table() -> insert_arrow()
    cur.execute("SELECT k, v FROM default.colins ORDER BY k")
    table = cur.fetch_arrow_table()
    v = table.column("v")
    if pa.types.is_timestamp(v.type) and v.type.tz is None:  # naive from the decoder means UTC
        table = table.set_column(1, "v", v.cast(pa.timestamp(v.type.unit, tz="UTC")))
    _table(cur, ctype)
    cur.insert_arrow("default.colins", table)
    got = _read(cur)
    assert ([tuple(g) for g in got] if ctype.startswith("Tuple") else got) == [_instant(v) for v in values]


def test_typed_numpy_pandas_and_arrow_columns(conn):
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS default.colins2")
    cur.execute("CREATE TABLE default.colins2 (i Int64, u UInt8, f Float64, s String, n Nullable(Int32), "
                "d Date, t DateTime('UTC'), x Nullable(String)) ENGINE = Memory")
    n = 1000
    i = np.arange(n, dtype=np.int64) - 500
    data = {"i": i, "u": (np.arange(n) % 256).astype(np.uint8), "f": i / 7,
            "s": np.array([str(k) for k in range(n)], dtype=object),
            "n": np.ma.MaskedArray(np.arange(n, dtype=np.int32), mask=np.arange(n) % 3 == 0),
            "d": np.datetime64("2020-01-01") + np.arange(n).astype("timedelta64[D]"),
            "t": np.datetime64("2020-01-01T00:00:00") + np.arange(n).astype("timedelta64[s]"),
            "x": [None if k % 2 else "v" for k in range(n)]}
    cur.insert_columns("default.colins2", data)
    cur.execute("SELECT * FROM default.colins2 ORDER BY i")
    rows = cur.fetchall()
    assert rows[0][:6] == (-500, 0, -500 / 7, "0", None, datetime.date(2020, 1, 1)) and rows[0][7] == "v"
    assert _instant(rows[0][6]) == datetime.datetime(2020, 1, 1, tzinfo=UTC)
    assert rows[1][4] == 1 and rows[1][7] is None and len(rows) == n
    cur.execute("SELECT * FROM default.colins2 ORDER BY i")
    df = cur.fetch_df()
    cur.execute("TRUNCATE TABLE default.colins2")
    cur.insert_df("default.colins2", df)  # nullable Int32, tz-aware datetimes, NaT-free dates
    cur.execute("SELECT * FROM default.colins2 ORDER BY i")
    assert cur.fetchall() == rows
    cur.execute("SELECT * FROM default.colins2 ORDER BY i")
    t = cur.fetch_arrow_table()
    cur.execute("TRUNCATE TABLE default.colins2")
    cur.insert_arrow("default.colins2", t)
    cur.execute("SELECT * FROM default.colins2 ORDER BY i")
    assert cur.fetchall() == rows


REFUSED = [
    ("UInt8", np.array([1, 256], dtype=np.int64), r"row 1, column v: 256 is out of range for UInt8 \[0, 255\]"),
    ("Int8", np.array([-129]), r"-129 is out of range for Int8"),
    ("Int64", [0, 2 ** 70], r"row 1, column v: 1180591620717411303424 is out of range for Int64"),
    ("UInt64", np.array([-1]), r"-1 is out of range for UInt64"),
    ("Int32", np.array([1.5]), r"1.5 is not an integer"),
    ("Decimal(9, 2)", [decimal.Decimal("1.234")], r"has more than 2 decimal places"),
    ("Decimal(9, 2)", [decimal.Decimal("12345678")], r"is out of range for Decimal\(9, 2\)"),
    ("Date", np.array(["1969-12-31"], dtype="datetime64[D]"), r"is out of range for Date"),
    ("DateTime('UTC')", [datetime.datetime(2106, 1, 1, tzinfo=UTC)], r"is out of range for DateTime"),
    # datetime64[s] arrays are checked in seconds (no pass through ns): the same bounds
    ("DateTime('UTC')", np.array(["2105-12-31T23:59:59", "2106-01-01T00:00:00"], dtype="datetime64[s]"),
     r"row 1, column v: .* is out of range for DateTime"),
    ("DateTime", np.array(["1970-01-01T00:00:00", "1969-12-31T23:59:59"], dtype="datetime64[s]"),
     r"row 1, column v: .* is out of range for DateTime"),
    ("DateTime", np.array(["2020-01-01T00:00:00", "NaT"], dtype="datetime64[s]"), r"row 1, column v: "),
    ("Int32", [1, None], r"row 1, column v: NULL in a column that is not Nullable"),
    ("FixedString(2)", ["abc"], r"longer than 2 bytes"),
    ("Enum8('a' = 1)", ["b"], r"is not a value of Enum8"),
]


@pytest.mark.parametrize("ctype,values,message", REFUSED, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(REFUSED)])
def test_values_that_do_not_fit_are_refused(conn, ctype, values, message):
    cur = conn.cursor()
    _table(cur, ctype)
    with pytest.raises(chd.DataError, match=message):
        cur.insert_columns("default.colins", {"k": np.arange(len(values), dtype=np.uint32), "v": values})
    assert _read(cur) == []  # nothing was sent


@requires_chdb
def test_datetime64_precision_is_refused_not_cut():
    cur = chd.connect(embedded=EMBEDDED).cursor()
    _table(cur, "DateTime64(3, 'UTC')")
    with pytest.raises(chd.DataError, match="more than 3 fractional digits"):
        cur.insert_columns("default.colins", {"k": [0], "v": np.array(["2024-01-01T00:00:00.0001"],
                                                                        dtype="datetime64[us]")})
    assert _read(cur) == []


def test_datetime64_seconds_bounds_read_back(conn):
    cur = conn.cursor()
    _table(cur, "DateTime('UTC')")
    v = np.array(["1970-01-01T00:00:00", "2105-12-31T23:59:59", "2024-02-29T12:34:56"], dtype="datetime64[s]")
    cur.insert_columns("default.colins", {"k": np.arange(3, dtype=np.uint32), "v": v})
    assert _read(cur) == [_instant(x) for x in v.astype(object)]


def test_unknown_table_or_column(conn):
    cur = conn.cursor()
    _table(cur, "Int8")
    with pytest.raises(chd.ProgrammingError, match="no column 'nope'"):
        cur.insert_columns("default.colins", {"k": [1], "nope": [1]})
    with pytest.raises(chd.ProgrammingError, match="cannot be described"):
        cur.insert_columns("default.no_such_table_colins", {"k": [1]})


@FEW
@given(rows=st.lists(ROW, min_size=1, max_size=20))
def test_hypothesis_inserts_read_back(conn, rows):
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS default.colins_hyp (k UInt32, i Int64, s Nullable(String), f Float64, "
                "n Nullable(Int32), d Decimal(12, 3)) ENGINE = Memory")
    cur.execute("TRUNCATE TABLE default.colins_hyp")
    names = ["i", "s", "f", "n", "d"]
    data = {"k": np.arange(len(rows), dtype=np.uint32)}
    data.update({name: [r[j] for r in rows] for j, name in enumerate(names)})
    data["i"] = np.array(data["i"], dtype=np.int64)  # typed, vectorised checks
    data["f"] = np.array(data["f"], dtype=np.float64)
    cur.insert_columns("default.colins_hyp", data)
    cur.execute("SELECT i, s, f, n, d FROM default.colins_hyp ORDER BY k")
    assert cur.fetchall() == [tuple(r) for r in rows]
