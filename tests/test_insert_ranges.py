"""executemany() into a table refuses, before sending anything, the values its
columns would wrap (issue 14 §6); boundary values are stored exactly. On the server
(18.16) and the embedded engine; async_tests/test_insert_ranges.py is the async twin."""
import datetime
import decimal

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb

D = decimal.Decimal
UTC = datetime.timezone.utc

# column type -> (values that must be stored exactly, values that must be refused)
COMMON = {
    "Int8": ([-128, 127, 0], [-129, 128, 2 ** 70]),
    "UInt8": ([0, 255], [256, 300, -1]),
    "Int16": ([-2 ** 15, 2 ** 15 - 1], [2 ** 15, -2 ** 15 - 1]),
    "UInt16": ([0, 2 ** 16 - 1], [2 ** 16, -1]),
    "Int32": ([-2 ** 31, 2 ** 31 - 1], [2 ** 31, -2 ** 31 - 1]),
    "UInt32": ([0, 2 ** 32 - 1], [2 ** 32, -1]),
    "Int64": ([-2 ** 63, 2 ** 63 - 1], [2 ** 63, -2 ** 63 - 1, 2 ** 70]),
    "UInt64": ([0, 2 ** 64 - 1], [2 ** 64, -1]),
    "Decimal(9, 2)": ([D("9999999.99"), D("-9999999.99"), D("0.01"), D("1.50")],
                      [D("10000000.00"), D("0.001"), D("1.005"), 10 ** 7]),
    "Decimal64(4)": ([D("99999999999999.9999"), D("-0.0001")], [D("0.00001"), 10 ** 14]),
    # 18.16 reads anything after 2105-12-31 as 1970: refused on every server
    "Date": ([datetime.date(1970, 1, 1), datetime.date(2105, 12, 31)],
             [datetime.date(1969, 12, 31), datetime.date(2106, 1, 1), datetime.date(2150, 1, 1)]),
    "DateTime('UTC')": ([datetime.datetime(1970, 1, 1, tzinfo=UTC), datetime.datetime(2105, 12, 31, 23, 59, 59)],
                        [datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
                         datetime.datetime(2106, 1, 1), datetime.datetime(2106, 2, 7, 6, 28, 16)]),
    "Nullable(UInt8)": ([None, 255], [256]),
    "Array(Int8)": ([[1, -128, 127]], [[1, 128]]),
}
MODERN = {  # the embedded engine (ClickHouse 24+) has these; 18.16 does not
    "Int128": ([-2 ** 127, 2 ** 127 - 1], [2 ** 127, -2 ** 127 - 1]),
    "UInt128": ([0, 2 ** 128 - 1], [2 ** 128, -1]),
    "Int256": ([-2 ** 255, 2 ** 255 - 1], [2 ** 255, -2 ** 255 - 1]),
    "UInt256": ([0, 2 ** 256 - 1], [2 ** 256, -1]),
    "Decimal256(10)": ([D("1" * 66 + ".0123456789")], [D("1" * 67), D("0.00000000001")]),
    "Date32": ([datetime.date(1900, 1, 1), datetime.date(2299, 12, 31)],
               [datetime.date(1899, 12, 31), datetime.date(2300, 1, 1)]),
    # naive: the column's timezone (an aware value is sent as toDateTime(), see the report)
    "DateTime64(3, 'UTC')": ([datetime.datetime(1900, 1, 1),
                              datetime.datetime(2299, 12, 31, 23, 59, 59, 999000)],
                             [datetime.datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC),
                              datetime.datetime(2020, 1, 1, 0, 0, 0, 1500, tzinfo=UTC)]),
}

# What the C check (ext/typecheck.c) reads from a value's text or fields, beyond the plain
# cases above: floats and exponent-form Decimals digit by digit, nested wrappers.
SPELLINGS = {
    "Decimal(9, 2)": ([1.5, -0.25, 1e3, D("1E+3"), D("1.2300000"), D("-0E-30")],
                      [0.001, 1e7, float("nan"), D("1E+7"), D("1E-3"), D("-Infinity"), 1e300]),
    "Array(Nullable(Int16))": ([[None, -2 ** 15, 2 ** 15 - 1], []], [[None, 2 ** 15]]),
    "Nullable(Date)": ([None, datetime.date(2105, 12, 31)], [datetime.datetime(2106, 1, 1, 12)]),
}


def cases(types):
    return [(t, good, bad) for t, (goods, bads) in types.items() for good in [goods] for bad in bads]


def check_column(cur, table, type_name, goods, bad):
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id UInt32, v {type_name}) ENGINE = Memory")
    rows = [(i, v) for i, v in enumerate(goods)]
    with pytest.raises(chd.DataError, match=rf"row {len(rows)}, column 'v' \("):
        cur.executemany(f"INSERT INTO {table} (id, v) VALUES (%s, %s)", rows + [(len(rows), bad)])
    cur.execute(f"SELECT count() FROM {table}")
    assert cur.fetchone() == (0,)  # nothing was sent
    with pytest.raises(chd.DataError, match="column 'v'"):  # without a column list too
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(0, bad)])
    cur.executemany(f"INSERT INTO {table} (id, v) VALUES (%s, %s)", rows)
    cur.execute(f"SELECT v FROM {table} ORDER BY id")
    got = [r[0] for r in cur.fetchall()]
    if type_name.startswith("DateTime"):
        goods = [g.replace(tzinfo=UTC) if g.tzinfo is None else g for g in goods]
        got = [g.replace(tzinfo=UTC) if g.tzinfo is None else g for g in got]
    assert got == goods


@pytest.mark.parametrize("type_name, goods, bad", cases(COMMON))
def test_server_refuses_what_it_would_wrap(server_params, scratch_db, type_name, goods, bad):
    cur = chd.connect(**server_params).cursor()
    check_column(cur, f"{scratch_db}.r", type_name, goods, bad)


@requires_chdb
@pytest.mark.parametrize("type_name, goods, bad", cases({**COMMON, **MODERN}))
def test_embedded_refuses_what_it_would_wrap(type_name, goods, bad):
    cur = chd.connect(embedded=EMBEDDED).cursor()
    check_column(cur, "default.insert_ranges", type_name, goods, bad)


def test_column_types_are_described_once_and_again_after_a_schema_change(server_params, scratch_db):
    conn = chd.connect(**server_params, pool_name="ranges-" + scratch_db)
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {scratch_db}.c (v UInt8) ENGINE = Memory")
    cur.execute(f"CREATE TABLE {scratch_db}.keep (v UInt16) ENGINE = Memory")
    requests = conn.pool_stats()["requests"]
    for _ in range(3):
        cur.executemany(f"INSERT INTO {scratch_db}.c VALUES (%s)", [(255,)])
    assert conn.pool_stats()["requests"] == requests + 4  # one DESCRIBE, three INSERTs
    cur.execute(f"INSERT INTO {scratch_db}.keep SELECT v FROM {scratch_db}.c")
    cur.execute(f"DROP TABLE {scratch_db}.c")  # a schema change on this connection
    cur.execute(f"RENAME TABLE {scratch_db}.keep TO {scratch_db}.c")
    cur.executemany(f"INSERT INTO {scratch_db}.c VALUES (%s)", [(65535,)])  # UInt16 now
    with pytest.raises(chd.DataError):
        cur.executemany(f"INSERT INTO {scratch_db}.c VALUES (%s)", [(65536,)])
    cur.execute(f"SELECT v FROM {scratch_db}.c ORDER BY v")
    assert cur.fetchall() == [(255,), (255,), (255,), (65535,)]


@pytest.mark.parametrize("type_name, goods, bad", cases(SPELLINGS))
def test_server_checks_every_spelling_of_a_value(server_params, scratch_db, type_name, goods, bad):
    cur = chd.connect(**server_params).cursor()
    check_column(cur, f"{scratch_db}.r", type_name, goods, bad)


@requires_chdb
@pytest.mark.parametrize("type_name, goods, bad", cases(SPELLINGS))
def test_embedded_checks_every_spelling_of_a_value(type_name, goods, bad):
    cur = chd.connect(embedded=EMBEDDED).cursor()
    check_column(cur, "default.insert_ranges", type_name, goods, bad)


def check_zone_and_message(cur, table):
    """A naive datetime is the column's local time: 09:00 in Tokyo is 1970's first
    second, 08:59:59 is before it. The message names row, column and value; of two
    bad values the first row's is named."""
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id UInt8, v DateTime('Asia/Tokyo')) ENGINE = Memory")
    first = datetime.datetime(1970, 1, 1, 9)
    with pytest.raises(chd.DataError) as ei:
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)",
                        [(0, first), (1, first - datetime.timedelta(seconds=1)), (256, first)])
    assert str(ei.value) == ("row 1, column 'v' (DateTime('Asia/Tokyo')): 1970-01-01 08:59:59 is out of range for "
                             "DateTime('Asia/Tokyo') (1970-01-01 00:00:00 to 2105-12-31 23:59:59 UTC); "
                             "nothing was inserted")
    assert ei.value.kind == "client"
    cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(0, first)])
    cur.execute(f"SELECT toUInt32(v) FROM {table}")
    assert cur.fetchall() == [(0,)]


def test_server_reads_naive_datetimes_in_the_column_zone(server_params, scratch_db):
    check_zone_and_message(chd.connect(**server_params).cursor(), f"{scratch_db}.z")


@requires_chdb
def test_embedded_reads_naive_datetimes_in_the_column_zone():
    check_zone_and_message(chd.connect(embedded=EMBEDDED).cursor(), "default.insert_zone")
