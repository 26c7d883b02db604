"""Columnar results (fetchnumpy / fetch_df / fetch_arrow_table / record batches) against
the row path, value by value, per type, on the server and the embedded engine: NULLs,
empty results, multi-block and one-row-block results. async_tests/test_columnar.py
is the async twin. Types the 18.16 server lacks run on chDB only."""
import datetime
import ipaddress
import math
import sys
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

UTC = datetime.timezone.utc

# (ClickHouse type, SQL expressions of the values, runs on 18.16)
CASES = [
    ("Int8", ["'-128'", "'127'", "'0'"], True),
    ("Int16", ["'-32768'", "'32767'"], True),
    ("Int32", ["'-2147483648'", "'2147483647'"], True),
    ("Int64", ["'-9223372036854775808'", "'9223372036854775807'"], True),
    ("UInt8", ["'0'", "'255'"], True),
    ("UInt16", ["'0'", "'65535'"], True),
    ("UInt32", ["'0'", "'4294967295'"], True),
    ("UInt64", ["'0'", "'18446744073709551615'"], True),
    ("Int128", ["'-170141183460469231731687303715884105728'", "'170141183460469231731687303715884105727'"], False),
    ("UInt128", ["'0'", "'340282366920938463463374607431768211455'"], False),
    ("Int256", ["'-57896044618658097711785492504343953926634992332820282019728792003956564819968'", "'5'"], False),
    ("UInt256", ["'115792089237316195423570985008687907853269984665640564039457584007913129639935'"], False),
    ("Float32", ["'1.5'", "'-0.25'", "'3.4e38'"], True),
    ("Float64", ["'1.5'", "'-1e308'", "'5e-324'"], True),
    ("Decimal(9, 2)", ["'1234567.89'", "'-0.01'"], True),
    ("Decimal(18, 4)", ["'-99999999999999.9999'", "'0.0001'"], True),
    ("Decimal(38, 10)", ["'1234567890123456789012345678.0123456789'", "'-1'"], True),
    ("Decimal(76, 20)", ["'12345678901234567890123456789012345678901234567890.12345678901234567890'"], False),
    ("Bool", ["true", "false"], False),
    ("String", ["''", "'héllo'", "'a\\0b'", "'日本'"], True),
    ("FixedString(4)", ["'ab'", "'abcd'"], True),
    ("UUID", ["'61f0c404-5cb3-11e7-907b-a6006ad3dba0'", "'00000000-0000-0000-0000-000000000000'"], True),
    ("Date", ["'1970-01-01'", "'2149-06-06'", "'2024-02-29'"], True),
    ("Date32", ["'1900-01-01'", "'2299-12-31'"], False),
    ("DateTime", ["'1970-01-01 00:00:00'", "'2106-02-07 06:28:15'"], True),
    ("DateTime('Asia/Tokyo')", ["'2024-01-01 09:00:00'", "'1999-12-31 23:59:59'"], True),
    ("DateTime64(3, 'UTC')", ["'2024-01-01 00:00:00.123'", "'1900-01-01 00:00:00'"], False),
    ("DateTime64(6, 'Europe/Paris')", ["'2024-07-01 12:00:00.123456'"], False),
    ("DateTime64(2)", ["'2024-07-01 12:00:00.12'"], False),
    ("Enum8('a' = 1, 'b c' = -2)", ["'a'", "'b c'"], True),
    ("Enum16('x' = 1000, 'y' = -1000)", ["'x'", "'y'"], True),
    ("IPv4", ["'127.0.0.1'", "'255.255.255.255'"], False),
    ("IPv6", ["'::1'", "'2001:db8::ff00:42:8329'"], False),
    ("Nullable(Int32)", ["NULL", "'7'", "'-7'"], True),
    ("Nullable(Float64)", ["'1.5'", "NULL"], True),
    ("Nullable(String)", ["NULL", "'x'", "''"], True),
    ("Nullable(DateTime)", ["NULL", "'2020-01-01 00:00:00'"], True),
    ("Nullable(Date)", ["'2020-01-01'", "NULL"], True),
    ("Nullable(Decimal(9, 2))", ["NULL", "'1.25'"], False),  # 18.16: CAST(NULL) to it fails
    ("Nullable(UInt8)", ["NULL", "'255'"], True),
    ("LowCardinality(String)", ["'a'", "'b'", "''", "'a'"], False),
    ("LowCardinality(Nullable(String))", ["'a'", "NULL", "'b'"], False),
    ("LowCardinality(FixedString(2))", ["'ab'", "'c'"], False),
    ("Array(Int32)", ["[1, 2]", "[]", "[-3]"], False),
    ("Array(Nullable(String))", ["['a', NULL]", "[]"], False),
    ("Map(String, UInt64)", ["map('a', 1, 'b', 2)", "map()"], False),
    ("Tuple(a Int32, b String)", ["tuple(1, 'x')", "tuple(-2, '')"], False),
]


@pytest.fixture(scope="module", params=["server", pytest.param("embedded", marks=requires_chdb)])
def conn(request, server_params):
    c = chd.connect(**server_params) if request.param == "server" else chd.connect(embedded=EMBEDDED)
    c.target = request.param
    yield c
    c.close()


def canon(v):
    """One form for the values every API gives: NULL/NA/NaT -> None, datetimes -> naive
    UTC, dates -> midnight datetimes, containers element-wise, addresses/UUIDs as text."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime.datetime):
        return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
    if isinstance(v, datetime.date):
        return datetime.datetime(v.year, v.month, v.day)
    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address, uuid.UUID)):
        return str(v)
    if isinstance(v, dict):
        return [[canon(k), canon(x)] for k, x in v.items()]
    if isinstance(v, (list, tuple, np.ndarray)):
        return [canon(x) for x in v]
    return v


def column_values(api, result, name, ctype):
    if api.startswith("numpy"):
        a = result[name]
        mask = np.ma.getmaskarray(a) if isinstance(a, np.ma.MaskedArray) else None
        data = a.data if mask is not None else a
        return [None if mask is not None and m else canon(v) for v, m in
                zip(data.tolist() if data.dtype != object else list(data), mask if mask is not None else [False] * len(a))]
    if api == "pandas":
        return [canon(v) for v in result[name].tolist()]
    values = result.column(name).to_pylist()
    if "UUID" in ctype:
        values = [uuid.UUID(bytes=v) if isinstance(v, bytes) else v for v in values]
    if "Tuple" in ctype:
        values = [list(v.values()) if isinstance(v, dict) else v for v in values]
    return [canon(v) for v in values]


def expected(rows, ctype, api):
    values = [canon(r[0]) for r in rows]
    if api == "arrow" and "Int256" in ctype:
        values = [str(v) for v in values]  # wider than any Arrow number: text
    return values


def select(ctype, exprs, n):
    return (f"SELECT CAST([{', '.join(exprs)}][number % {len(exprs)} + 1] AS {ctype}) AS c "
            f"FROM system.numbers LIMIT {n}")


def fetch(cur, api):
    return {"numpy": cur.fetchnumpy, "numpy-object": lambda: cur.fetchnumpy(strings="object"),
            "pandas": cur.fetch_df, "arrow": cur.fetch_arrow_table}[api]()


@pytest.mark.parametrize("ctype,exprs,on_server", CASES, ids=[c[0] for c in CASES])
def test_each_type_as_the_row_path_gives_it(conn, ctype, exprs, on_server):
    if conn.target == "server" and not on_server:
        pytest.skip("the 18.16 server has no such type (tested on chDB)")
    cur = conn.cursor()
    for block in (1, 3, 65536):  # one-row blocks, several blocks, one block
        sql = select(ctype, exprs, 7)
        settings = {"max_block_size": block}
        cur.execute(sql, settings=settings)
        rows = cur.fetchall()
        assert len(rows) == 7
        for api in ("numpy", "numpy-object", "pandas", "arrow"):
            cur.execute(sql, settings=settings)
            got = column_values(api, fetch(cur, api), "c", ctype)
            assert got == expected(rows, ctype, api), (api, block)


@pytest.mark.parametrize("api", ["numpy", "numpy-object", "pandas", "arrow"])
def test_rest_of_the_result_after_row_fetches(conn, api):
    cur = conn.cursor()
    sql = "SELECT number AS n, toString(number) AS s FROM system.numbers LIMIT 10"
    cur.execute(sql, settings={"max_block_size": 4})
    assert cur.fetchone() == (0, "0")  # the rest of the first block comes from its buffers
    got = column_values(api, fetch(cur, api), "n", "UInt64")
    assert got == list(range(1, 10))
    cur.execute(sql, settings={"max_block_size": 4})
    cur.fetchmany(6)  # two blocks' rows buffered: their Python values
    assert column_values(api, fetch(cur, api), "s", "String") == [str(i) for i in range(6, 10)]
    assert cur.rowcount == 10


def test_empty_result_has_typed_columns(conn):
    cur = conn.cursor()
    sql = "SELECT toInt16(1) AS a, 'x' AS b, toNullable(toFloat32(1)) AS c WHERE 0"
    cur.execute(sql)
    arrays = cur.fetchnumpy()
    assert list(arrays) == ["a", "b", "c"]
    assert arrays["a"].dtype == np.int16 and len(arrays["a"]) == 0
    assert arrays["b"].dtype == np.dtypes.StringDType() and len(arrays["b"]) == 0  # the default strings="str"
    cur.execute(sql)
    assert cur.fetchnumpy(strings="object")["b"].dtype == object
    cur.execute(sql)
    df = cur.fetch_df()
    assert list(df.columns) == ["a", "b", "c"] and len(df) == 0 and str(df["c"].dtype) == "Float32"
    cur.execute(sql)
    t = cur.fetch_arrow_table()
    assert t.schema.types == [pa.int16(), pa.large_string(), pa.float32()] and t.num_rows == 0


def test_dtypes(conn):
    cur = conn.cursor()
    cur.execute("SELECT toUInt32(number) AS u, toNullable(toInt64(number)) AS ni, toFloat64(number) AS f, "
                "toDateTime(number, 'UTC') AS dt, toDate(number) AS d FROM numbers(3)")
    a = cur.fetchnumpy()
    assert a["u"].dtype == np.uint32 and isinstance(a["ni"], np.ma.MaskedArray) and a["ni"].dtype == np.int64
    assert a["dt"].dtype == np.dtype("datetime64[s]") and a["d"].dtype == np.dtype("datetime64[D]")
    cur.execute("SELECT toNullable(toInt64(number)) AS ni, toDateTime(number) AS dt FROM numbers(3)")
    assert str(cur.fetch_df()["ni"].dtype) == "Int64"


def test_datetimes_in_the_connections_timezone(conn, server_params):
    kw = server_params if conn.target == "server" else {"embedded": EMBEDDED}
    c = chd.connect(timezone="Asia/Tokyo", **kw)
    cur = c.cursor()
    sql = "SELECT toDateTime(number * 86400) AS dt FROM numbers(3)"
    cur.execute(sql)
    rows = [r[0] for r in cur.fetchall()]
    assert rows[0].tzinfo is not None
    cur.execute(sql)
    df = cur.fetch_df()
    assert str(df["dt"].dtype) == "datetime64[s, Asia/Tokyo]" and df["dt"].tolist() == rows
    cur.execute(sql)
    t = cur.fetch_arrow_table()
    assert t.schema.field("dt").type == pa.timestamp("s", tz="Asia/Tokyo") and t.column("dt").to_pylist() == rows
    c.close()


@requires_chdb
def test_lowcardinality_is_categorical_and_dictionary():
    c = chd.connect(embedded=EMBEDDED)
    cur = c.cursor()
    sql = ("SELECT toLowCardinality(toString(number % 3)) AS lc, "
           "toLowCardinality(toNullable(if(number % 2, 'x', NULL))) AS ln FROM numbers(9)")
    cur.execute(sql, settings={"max_block_size": 4})
    df = cur.fetch_df()
    assert isinstance(df["lc"].dtype, pd.CategoricalDtype)
    assert df["lc"].tolist() == [str(i % 3) for i in range(9)]
    assert [None if pd.isna(v) else v for v in df["ln"].tolist()] == [("x" if i % 2 else None) for i in range(9)]
    cur.execute(sql)
    t = cur.fetch_arrow_table()
    assert pa.types.is_dictionary(t.schema.field("lc").type)
    assert t.column("ln").to_pylist() == [("x" if i % 2 else None) for i in range(9)]


def test_record_batches_stream_block_by_block(conn):
    cur = conn.cursor()
    cur.execute("SELECT number AS n FROM system.numbers LIMIT 10", settings={"max_block_size": 3})
    reader = cur.fetch_record_batch()
    sizes = [b.num_rows for b in reader]
    assert sum(sizes) == 10 and max(sizes) <= 3
    cur.execute("SELECT number AS n FROM system.numbers LIMIT 10", settings={"max_block_size": 3})
    blocks = list(cur.numpy_blocks())
    assert np.concatenate([b["n"] for b in blocks]).tolist() == list(range(10))
    cur.execute("SELECT number AS n FROM system.numbers LIMIT 10", settings={"max_block_size": 3})
    assert pa.Table.from_batches(list(cur.record_batches())).column("n").to_pylist() == list(range(10))


def test_leaving_a_batch_iteration_early_frees_the_result(conn):
    cur = conn.cursor()
    cur.execute("SELECT number AS n FROM system.numbers LIMIT 100000", settings={"max_block_size": 10})
    for _ in cur.record_batches():
        break
    with pytest.raises(chd.ProgrammingError, match="ended early"):
        cur.fetchall()
    cur.execute("SELECT 1")
    assert cur.fetchall() == [(1,)]


def test_use_numpy_gives_masked_arrays_for_nullable(conn):
    cur = conn.cursor()
    cur.set_query_execution_args(columnar=True, use_numpy=True)
    cur.execute("SELECT if(number = 1, NULL, number) AS x FROM numbers(3)", settings={"max_block_size": 2})
    (x,) = cur.fetchall()
    assert isinstance(x, np.ma.MaskedArray) and x.mask.tolist() == [False, True, False]
    with pytest.raises(chd.ProgrammingError, match="fetchall"):
        cur.execute("SELECT 1")
        cur.fetchnumpy()


@pytest.mark.parametrize("module,extra,call", [("numpy", "numpy", "fetchnumpy"), ("pandas", "pandas", "fetch_df"),
                                               ("pyarrow", "arrow", "fetch_arrow_table")])
def test_missing_extra_is_an_import_error_naming_it(conn, monkeypatch, module, extra, call):
    cur = conn.cursor()
    cur.execute("SELECT 1 AS a")
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"clickhouse-backend\[{extra}\]"):
        getattr(cur, call)()
    assert cur.fetchall() == [(1,)]  # the row API is unchanged


# Rows of (Int64, Nullable(String), Float64, Nullable(Int32), Decimal(12, 3)) values
# (tests/test_columnar_insert.py inserts them too).
ROW = st.tuples(st.integers(-2 ** 63, 2 ** 63 - 1), st.one_of(st.none(), st.text(max_size=8)),
                st.floats(allow_nan=False, width=64), st.one_of(st.none(), st.integers(-2 ** 31, 2 ** 31 - 1)),
                st.decimals(min_value=-10 ** 6, max_value=10 ** 6, places=3))
FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FEW
@given(rows=st.lists(ROW, max_size=20), block=st.sampled_from([1, 2, 7, 65536]))
def test_hypothesis_values(conn, rows, block):
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS default.columnar_hyp (i Int64, s Nullable(String), f Float64, "
                "n Nullable(Int32), d Decimal(12, 3)) ENGINE = Memory")
    cur.execute("TRUNCATE TABLE default.columnar_hyp")
    if rows:
        cur.executemany("INSERT INTO default.columnar_hyp VALUES", rows)
    sql = "SELECT * FROM default.columnar_hyp"
    cur.execute(sql, settings={"max_block_size": block})
    want = cur.fetchall()
    for api in ("numpy", "pandas", "arrow"):
        cur.execute(sql, settings={"max_block_size": block})
        got = fetch(cur, api)
        for i, (name, ctype) in enumerate([("i", "Int64"), ("s", "Nullable(String)"), ("f", "Float64"),
                                           ("n", "Nullable(Int32)"), ("d", "Decimal(12, 3)")]):
            assert column_values(api, got, name, ctype) == [canon(r[i]) for r in want], (api, name)


def test_strings_that_are_not_utf8(conn):
    cur = conn.cursor()
    sql = "SELECT arrayJoin([unhex('ff'), 'ok']) AS s"
    cur.execute(sql)
    want = [r[0] for r in cur.fetchall()]
    assert want[0] == "\udcff"  # the row path: surrogateescape
    for api in ("numpy-object", "pandas"):
        cur.execute(sql)
        assert column_values(api, fetch(cur, api), "s", "String") == want
    for strings in (None, "str"):  # StringDType holds text only: refused, naming the ways out
        cur.execute(sql)
        with pytest.raises(chd.InterfaceError, match="not UTF-8.*strings='object'.*strings_as_bytes"):
            cur.fetchnumpy(strings=strings)
    cur.execute(sql)  # the cursor runs the next query
    assert column_values("numpy-object", cur.fetchnumpy(strings="object"), "s", "String") == want
    cur.execute(sql)
    with pytest.raises(chd.InterfaceError, match="strings_as_bytes"):
        cur.fetch_arrow_table()
    params = conn._options
    kw = {"host": params.host, "port": params.port} if conn.target == "server" else {"embedded": EMBEDDED}
    c = chd.connect(strings_as_bytes=True, **kw)
    cur = c.cursor()
    cur.execute(sql)
    t = cur.fetch_arrow_table()
    assert t.schema.field("s").type == pa.large_binary() and t.column("s").to_pylist() == [b"\xff", b"ok"]
    cur.execute(sql)
    assert cur.fetch_df()["s"].tolist() == [b"\xff", b"ok"]
    cur.execute(sql)
    a = cur.fetchnumpy()["s"]  # bytes: object arrays (StringDType is text)
    assert a.dtype == object and a.tolist() == [b"\xff", b"ok"]
    cur.execute(sql)
    with pytest.raises(chd.ProgrammingError, match="strings_as_bytes"):
        cur.fetchnumpy(strings="str")
    c.close()


def test_rows_after_a_partly_read_batch_reader(conn):
    cur = conn.cursor()
    cur.execute("SELECT number AS n FROM system.numbers LIMIT 10", settings={"max_block_size": 3})
    reader = cur.fetch_record_batch()
    first = reader.read_next_batch()
    assert first.column("n").to_pylist() == [0, 1, 2]
    assert cur.fetchall() == [(n,) for n in range(3, 10)]  # the rest, as rows again


@pytest.mark.parametrize("block", [1, 3, 65536])  # one-row blocks, several blocks, one block
def test_fixed_width_columns_joined_as_numpy_joins_the_blocks(conn, block):
    """fetchnumpy() joins a result's fixed-width blocks and converts them in one pass
    (columnar._join_fixed): the arrays numpy_blocks() gives, joined by NumPy (dtypes,
    values, NULL masks; no mask array for a Nullable without NULLs, as numpy.ma)."""
    cols = ["number AS u", "toInt32(number) - 3 AS i", "number / 3 AS f", "toUInt8(number % 2) AS b",
            "toDate(number) AS d", "toDateTime(number * 100000, 'UTC') AS t",
            "if(number % 4 = 1, NULL, toInt16(number)) AS ni", "toNullable(number) AS nn",
            "if(number % 3 = 0, NULL, toDateTime(number, 'UTC')) AS nt"]
    if conn.target == "embedded":
        cols += ["toDateTime64(number / 1000, 3, 'UTC') AS t64", "toDate32(number) AS d32",
                 "if(number = 2, NULL, toDateTime64(number, 6, 'UTC')) AS nt64", "number % 2 = 1 AS bo"]
    sql = f"SELECT {', '.join(cols)} FROM system.numbers LIMIT 7"
    cur = conn.cursor()
    cur.execute(sql, settings={"max_block_size": block})
    got = cur.fetchnumpy()
    cur.execute(sql, settings={"max_block_size": block})
    blocks = list(cur.numpy_blocks())
    assert len(blocks) == -(-7 // block)
    for name in got:
        parts = [b[name] for b in blocks]
        want = parts[0] if len(parts) == 1 else (
            np.ma.concatenate(parts) if isinstance(parts[0], np.ma.MaskedArray) else np.concatenate(parts))
        a = got[name]
        assert type(a) is type(want) and a.dtype == want.dtype, name
        assert np.ma.getdata(a).tolist() == np.ma.getdata(want).tolist(), name
        assert (np.ma.getmask(a) is np.ma.nomask) == (np.ma.getmask(want) is np.ma.nomask), name
        assert np.ma.getmaskarray(a).tolist() == np.ma.getmaskarray(want).tolist(), name
