"""executemany() rows as one typed Native block (issue 14 §6, driver/native_insert.py,
ext/native_encode.c) store exactly what the VALUES text stores, and refuse what it
refuses with the same errors: the same random rows go through insert_format='values'
and insert_format='native' into the server (18.16) and the embedded engine, and
what reads back, and every error, must be the same. async_tests/test_native_insert.py
is the async twin."""
import collections
import datetime
import math
import struct
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb

UTC = datetime.timezone.utc
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
INTS = {f"{u}Int{b}": ((0, 2 ** b - 1) if u else (-2 ** (b - 1), 2 ** (b - 1) - 1))
        for u in ("", "U") for b in (8, 16, 32, 64)}

# the columns of the compared table: 18.16 has these; the embedded engine more (MODERN)
GROUPS = {  # a table each
    "ints": list(INTS),
    "bytes": ["Float32", "Float64", "String", "FixedString(4)", "UUID", "Nullable(String)", "Nullable(Float64)"],
    "times": ["Date", "DateTime", "DateTime('Europe/Berlin')", "DateTime('Asia/Kolkata')", "Nullable(DateTime)",
              "Nullable(Int32)"],
}
MODERN = ["Bool", "Date32", "DateTime64(3)", "DateTime64(6, 'Europe/Berlin')", "DateTime64(9, 'UTC')",
          "Nullable(Date32)", "Nullable(UUID)"]


def ints(lo, hi):
    edges = st.sampled_from([lo, hi, lo - 1, hi + 1, 0, 2 ** 70, -2 ** 70])
    return st.one_of(edges, st.integers(lo - 2, hi + 2), st.booleans())


def datetimes(lo=1900, hi=2200):
    zones = st.sampled_from([None, UTC, BERLIN, zoneinfo.ZoneInfo("America/New_York"),
                             datetime.timezone(datetime.timedelta(hours=5, minutes=30))])
    dts = st.datetimes(datetime.datetime(lo, 1, 1), datetime.datetime(hi, 1, 1), timezones=zones)
    return st.one_of(dts, dts.map(lambda d: d.replace(microsecond=0)),
                     dts.map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)))


strings = st.one_of(st.text(), st.binary(max_size=8),
                    st.binary(max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape")),
                    st.text(alphabet="\x00\\'\n\t ab\u00e9\u4e2d\U0001f600", max_size=8))
floats = st.one_of(st.floats(), st.floats(width=32), st.integers(-2 ** 60, 2 ** 60),
                   st.sampled_from([0.0, -0.0, 5e-324, 3.4028235677973366e+38, 1e39, 2 ** 53 + 1]))


def mostly(good, rest):
    """good four times in five: a row is refused when any of its values is."""
    return st.one_of(good, good, good, good, rest)


def values(type_name):
    if type_name.startswith("Nullable("):
        return st.one_of(st.none(), values(type_name[9:-1]))
    if type_name in INTS:
        lo, hi = INTS[type_name]
        return mostly(st.integers(lo, hi), ints(lo, hi))
    if type_name.startswith("Float"):
        return floats
    if type_name == "Bool":
        return st.booleans()
    if type_name == "String":
        return strings
    if type_name.startswith("FixedString"):
        return mostly(st.binary(max_size=4), strings)
    if type_name.startswith("Date") and not type_name.startswith("DateTime"):
        lo, hi = (1970, 2105) if type_name == "Date" else (1900, 2299)
        return mostly(st.dates(datetime.date(lo, 1, 1), datetime.date(hi, 12, 31)),
                      st.one_of(st.dates(datetime.date(1899, 6, 1), datetime.date(2300, 6, 1)),
                                st.dates(datetime.date(1969, 12, 1), datetime.date(1970, 2, 1)),
                                st.sampled_from([datetime.date(lo - 1, 12, 31), datetime.date(hi + 1, 1, 1)])))
    if type_name.startswith("DateTime"):
        lo, hi = (1971, 2105) if type_name.startswith("DateTime(") or type_name == "DateTime" else (1901, 2298)
        good = datetimes(lo, hi)
        if not type_name.startswith("DateTime64"):
            good = good.map(lambda d: d.replace(microsecond=0))
        elif "(3" in type_name:
            good = good.map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
        return mostly(good, st.one_of(datetimes(), datetimes(1969, 1971), st.sampled_from(
            [datetime.datetime(2020, 3, 29, 2, 30), datetime.datetime(2020, 10, 25, 2, 30)])))
    if type_name.endswith("UUID"):
        return st.uuids()
    raise AssertionError(type_name)


def rows_of(types):
    return st.lists(st.tuples(*[values(t) for t in types]), min_size=1, max_size=3)


def comparable(rows):
    """NaN equals NaN here (two NaN objects are not ==)."""
    return [tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows]


def outcome(cur, table, names, rows):
    """What an INSERT of rows leaves: ('rows', what reads back) or ('error', type, message)."""
    cur.execute(f"TRUNCATE TABLE {table}")
    try:
        cur.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                        [(i, *r) for i, r in enumerate(rows)])
    except chd.NotSupportedError:
        raise
    except chd.Error as e:
        # a client-side refusal must say the same; the server's words may name the format
        return ("error", type(e).__name__, str(e) if getattr(e, "kind", None) == "client" else None)
    cur.execute(f"SELECT * FROM {table} ORDER BY id")
    return ("rows", comparable(cur.fetchall()))


def instant(v):
    """µs since 1970 of a datetime (naive: UTC)."""
    v = v if v.utcoffset() is not None else v.replace(tzinfo=UTC)
    return (v - datetime.datetime(1970, 1, 1, tzinfo=UTC)) // datetime.timedelta(microseconds=1)


def falls_back(types, rows):
    """The values the encoder leaves to the VALUES text (docs/driver.md)."""
    for row in rows:
        for t, v in zip(types, row):
            inner = t[9:-1] if t.startswith("Nullable(") else t
            if v is None:
                if inner == t:
                    return True
            elif inner in INTS:
                if not isinstance(v, int):
                    return True
            elif inner.startswith("Float"):
                if isinstance(v, int) and abs(v) > 2 ** 53:
                    return True
                if inner == "Float32" and isinstance(v, float) and math.isfinite(v) and abs(v) > 3.4028234663852886e38:
                    return True
                if isinstance(v, float) and v and abs(v) < 2.2250738585072014e-308:
                    return True  # subnormal: the text is an expression
            elif inner.startswith("FixedString"):
                data = v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")
                if len(data) > 4:
                    return True
            elif inner.startswith("DateTime64(9") and abs(instant(v)) * 1000 >= 2 ** 63:
                return True  # beyond Int64 nanoseconds (1677..2262): the server refuses the text
            elif inner.startswith("DateTime") and v.utcoffset() is None:
                zone = BERLIN if "Berlin" in inner else None
                if zone and zone.utcoffset(v.replace(fold=0)) != zone.utcoffset(v.replace(fold=1)):
                    return True  # a wall time a DST change skips or repeats
    return False


def compare(native, values, auto, table, types, rows, seen):
    """seen: a Counter of which path gave which outcome (a test that never stored a
    row through the encoder would prove nothing)."""
    names = ["id"] + [f"c{i}" for i in range(len(types))]
    expected = outcome(values, table, names, rows)
    exact = True  # the Native body stores every float exactly
    try:
        got = outcome(native, table, names, rows)
        seen["native " + got[0]] += 1
    except chd.NotSupportedError:
        assert falls_back(types, rows), rows
        got = outcome(auto, table, names, rows)
        seen["values " + got[0]] += 1
        exact = False
    if got[0] == expected[0] == "rows":
        same_rows(got[1], expected[1], types, rows, exact)
    else:
        assert got == expected, rows


def stored_float(type_name, v):
    """A float column's value of v, stored exactly."""
    v = float(v)
    if "Float32" in type_name and math.isfinite(v):
        v = struct.unpack("<f", struct.pack("<f", v))[0]
    return "nan" if math.isnan(v) else v


def ulp(type_name, x):
    """One unit in the last place of x in the column's float width."""
    if "Float32" not in type_name:
        return math.ulp(x)
    return max(2.0 ** (math.frexp(x)[1] - 24), 2.0 ** -149)


def same_rows(native, text, types, rows, exact):
    """What both paths stored is the same, but for one thing: 18.16 reads some float
    literals of the VALUES text one unit in the last place off (1.0221943832730446e-120
    is stored as ...448e-120); the Native body stores every float exactly."""
    assert len(native) == len(text) == len(rows)
    for n_row, t_row, sent in zip(native, text, rows):
        for t, a, b, v in zip(["UInt32", *types], n_row, t_row, (None, *sent)):
            if t.startswith(("Float", "Nullable(Float")) and v is not None:
                assert not exact or a == stored_float(t, v), (t, v)
                if a != b:
                    assert isinstance(b, float) and abs(a - b) <= ulp(t, a), (t, v, a, b)
            else:
                assert a == b, (t, v)


def create(cur, table, types):
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cols = ", ".join(f"c{i} {t}" for i, t in enumerate(types))
    cur.execute(f"CREATE TABLE {table} (id UInt32, {cols}) ENGINE = Memory")


SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def server_cursors(server_params, name):
    return [chd.connect(**server_params, insert_format=f, pool_name=f"native-{name}").cursor()
            for f in ("native", "values", "auto")]


def compare_random_rows(cursors, table, types):
    """Random rows through the three cursors (native, values, auto), one table."""
    native, values, auto = cursors
    create(native, table, types)
    seen = collections.Counter()

    @SETTINGS
    @given(rows_of(types))
    def check(rows):
        compare(native, values, auto, table, types, rows, seen)

    check()
    checked = any(t.startswith(("Int", "UInt", "Date", "Nullable(Int")) for t in types)  # refusals are possible
    assert seen["native rows"] >= 5 and (seen["native error"] >= 1 or not checked), seen


@pytest.mark.parametrize("types", GROUPS.values(), ids=GROUPS.keys())
def test_server_stores_what_the_values_text_stores(server_params, scratch_db, types):
    compare_random_rows(server_cursors(server_params, scratch_db), f"{scratch_db}.n", types)


@requires_chdb
@pytest.mark.parametrize("types", [*GROUPS.values(), MODERN], ids=[*GROUPS.keys(), "modern"])
def test_embedded_stores_what_the_values_text_stores(types):
    cursors = [chd.connect(embedded=EMBEDDED, insert_format=f).cursor() for f in ("native", "values", "auto")]
    compare_random_rows(cursors, "default.native_insert", types)

def test_what_the_encoder_leaves_to_the_values_text(server_params, scratch_db):
    """A wall time a DST change skips or repeats (the server reads them its own way), a
    str into an Int column, a row template with an expression: 'auto' sends VALUES text
    and stores what it stores; 'native' says why it cannot."""
    native, values, auto = server_cursors(server_params, scratch_db)
    table = f"{scratch_db}.f"
    native.execute(f"CREATE TABLE {table} (id UInt32, t DateTime('Europe/Berlin'), n Int64) ENGINE = Memory")
    gap, overlap = datetime.datetime(2020, 3, 29, 2, 30), datetime.datetime(2020, 10, 25, 2, 30)
    names = ["id", "t", "n"]
    for row in ((gap, 1), (overlap, 1), (overlap.replace(hour=4), "7")):
        with pytest.raises(chd.NotSupportedError, match=r"insert_format='native'\): a value is not one"):
            outcome(native, table, names, [row])
        assert outcome(auto, table, names, [row]) == outcome(values, table, names, [row])
    outcome(auto, table, names, [(gap, 1)])
    auto.execute(f"SELECT toUInt32(t) FROM {table}")
    assert auto.fetchall() == [(1585441800,)]  # 18.16 reads the skipped 02:30 as 01:30 UTC
    with pytest.raises(chd.NotSupportedError, match="not plain placeholders"):
        native.executemany(f"INSERT INTO {table} VALUES (%s, toDateTime(%s), %s)", [(0, "2020-01-01 00:00:00", 1)])
    auto.executemany(f"INSERT INTO {table} VALUES (%s, toDateTime(%s), %s)", [(0, "2020-01-01 00:00:00", 1)])
    with pytest.raises(chd.NotSupportedError, match="column 'd' has type Decimal"):
        native.execute(f"CREATE TABLE {table}2 (d Decimal(9, 2)) ENGINE = Memory")
        native.executemany(f"INSERT INTO {table}2 VALUES (%s)", [(1,)])
    with pytest.raises(chd.InterfaceError, match="insert_format"):
        chd.connect(**server_params, insert_format="binary")


def test_native_rows_is_one_block_with_the_checks_of_the_text():
    """The encoder's bytes: the Native block executemany sends, and the checks'
    DataError before any of it (the first bad value in row order)."""
    from clickhouse_backend import _engine
    from clickhouse_backend.driver.native_insert import plan
    from clickhouse_backend.driver.typecheck import column_checks

    columns = (("a", "UInt8"), ("s", "Nullable(String)"))
    body = _engine.native_rows([(1, "x"), (255, None)], plan(columns), checks=column_checks(columns), head=b"H\n")
    assert body == (b"H\n\x02\x02" + b"\x01a\x05UInt8" + b"\x01\xff" + b"\x01s\x10Nullable(String)" + b"\x00\x01"
                    + b"\x01x\x00")
    with pytest.raises(chd.DataError, match=r"^row 1, column 'a' \(UInt8\): 256 is out of range"):
        _engine.native_rows([(1, "x"), (256, "y"), (1, 2)], plan(columns), checks=column_checks(columns))
    assert _engine.native_rows([(1, 2)], plan(columns), checks=column_checks(columns)) is None  # int into String


def blank_line_rows(n):
    """Rows whose Native block holds "\n\n" (the UInt64 2570 and the strings), which
    ends data written inline after chDB's query text."""
    return [(0x0A0A + i, f"a\n\nb{i}") for i in range(n)]


@pytest.mark.parametrize("how", ["executemany", "insert_columns"])
@pytest.mark.parametrize("target", ["server", "embedded"])
def test_a_block_holding_a_blank_line_is_stored_whole(request, target, how):
    if target == "server":
        params, db = request.getfixturevalue("server_params"), request.getfixturevalue("scratch_db")
        conn, table = chd.connect(**params, insert_format="native"), f"{db}.blank_{how}"
    else:
        pytest.importorskip("chdb")
        conn, table = chd.connect(embedded=EMBEDDED, insert_format="native"), f"default.blank_{how}"
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id UInt64, s String) ENGINE = Memory")
    rows = blank_line_rows(3000)
    if how == "executemany":
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", rows)
    else:
        pytest.importorskip("numpy")
        cur.insert_columns(table, {"id": [r[0] for r in rows], "s": [r[1] for r in rows]})
    cur.execute(f"SELECT id, s FROM {table} ORDER BY id")
    assert cur.fetchall() == rows
    cur.execute(f"DROP TABLE {table}")
