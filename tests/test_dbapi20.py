"""PEP 249 (DB-API 2.0) compliance of clickhouse_backend.driver, adapted to ClickHouse.

ClickHouse has no transactions and no multiple result sets, so: commit() is a
no-op, rollback() raises NotSupportedError, and a statement that returns no
rows has description None. Tables live in a per-test scratch database.
"""
import datetime
import socket
import threading
import time

import pytest

import clickhouse_backend.driver as chd

PEP249_EXCEPTIONS = [
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
    "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError",
]


@pytest.fixture
def table(scratch_db, cursor):
    """A fresh table `<scratch_db>.t (id UInt32, name Nullable(String))`."""
    name = f"{scratch_db}.t"
    cursor.execute(f"CREATE TABLE {name} (id UInt32, name Nullable(String)) ENGINE = Memory")
    return name


def _rows(rows):
    return [tuple(r) for r in rows]


def _fill(cursor, table, n):
    cursor.executemany(f"INSERT INTO {table} (id, name) VALUES (%s, %s)",
                       [(i, f"row{i}") for i in range(n)])


# --- module interface -------------------------------------------------------

def test_apilevel():
    assert chd.apilevel == "2.0"


def test_threadsafety():
    assert chd.threadsafety == 2


def test_paramstyle():
    assert chd.paramstyle == "format"


@pytest.mark.parametrize("name,base", [
    ("Warning", Exception),
    ("Error", Exception),
    ("InterfaceError", "Error"),
    ("DatabaseError", "Error"),
    ("DataError", "DatabaseError"),
    ("OperationalError", "DatabaseError"),
    ("IntegrityError", "DatabaseError"),
    ("InternalError", "DatabaseError"),
    ("ProgrammingError", "DatabaseError"),
    ("NotSupportedError", "DatabaseError"),
    ("PoolTimeout", "OperationalError"),
])
def test_exception_hierarchy(name, base):
    cls = getattr(chd, name)
    base_cls = getattr(chd, base) if isinstance(base, str) else base
    assert isinstance(cls, type)
    assert issubclass(cls, base_cls)


def test_warning_is_not_an_error():
    assert not issubclass(chd.Warning, chd.Error)
    assert not issubclass(chd.Error, chd.Warning)


@pytest.mark.parametrize("name", PEP249_EXCEPTIONS)
def test_exceptions_as_connection_attributes(conn, name):
    assert getattr(conn, name) is getattr(chd, name)


# --- connect / close --------------------------------------------------------

def test_connect_with_keywords(conn):
    cur = conn.cursor()
    cur.execute("SELECT 1 AS one")
    assert _rows(cur.fetchall()) == [(1,)]


def test_connect_http_dsn(server_params, scratch_db):
    dsn = f"http://{server_params['host']}:{server_params['port']}/{scratch_db}"
    with chd.connect(dsn) as c:
        cur = c.cursor()
        cur.execute("SELECT currentDatabase() AS db")
        assert cur.fetchone()[0] == scratch_db


def test_connect_clickhouse_dsn_with_user_and_setting(server_params):
    # users.xml of the harness (and the dev server) define user `tester`.
    dsn = (f"clickhouse://tester:s3cr3t-pa%24%24@{server_params['host']}:"
           f"{server_params['port']}/default?max_threads=3")
    with chd.connect(dsn) as c:
        cur = c.cursor()
        cur.execute("SELECT value FROM system.settings WHERE name = 'max_threads'")
        assert cur.fetchone()[0] == "3"


def test_wrong_password_is_rejected(server_params):
    params = dict(server_params, user="tester", password="wrong")
    with pytest.raises(chd.DatabaseError) as ei:
        c = chd.connect(**params)
        try:
            c.cursor().execute("SELECT 1")
        finally:
            c.close()
    # 193 WRONG_PASSWORD on old servers, 516 AUTHENTICATION_FAILED on new ones.
    assert ei.value.code in (193, 516)


def test_unreachable_server_raises_operational_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(chd.OperationalError) as ei:
        c = chd.connect(host="127.0.0.1", port=port, connect_timeout=3)
        try:
            c.cursor().execute("SELECT 1")
        finally:
            c.close()
    assert ei.value.code is None  # not a ClickHouse server error


def test_connection_settings(make_conn):
    c = make_conn(settings={"max_threads": 3})
    cur = c.cursor()
    cur.execute("SELECT value FROM system.settings WHERE name = 'max_threads'")
    assert cur.fetchone()[0] == "3"
    # per-query settings override the connection's
    cur.execute("SELECT value FROM system.settings WHERE name = 'max_threads'",
                settings={"max_threads": 2})
    assert cur.fetchone()[0] == "2"


def test_cursor_on_closed_connection_raises(conn):
    conn.close()
    with pytest.raises(chd.Error):
        conn.cursor()


def test_existing_cursor_unusable_after_connection_close(conn):
    cur = conn.cursor()
    conn.close()
    with pytest.raises(chd.Error):
        cur.execute("SELECT 1")


def test_commit_on_closed_connection_raises(conn):
    conn.close()
    with pytest.raises(chd.Error):
        conn.commit()


def test_connection_context_manager_closes(conn):
    with conn as c:
        assert c is conn
        cur = c.cursor()
        cur.execute("SELECT 2")
        assert cur.fetchone()[0] == 2
    with pytest.raises(chd.Error):
        conn.cursor()


def test_closed_cursor_raises(conn):
    cur = conn.cursor()
    cur.close()
    with pytest.raises(chd.Error):
        cur.execute("SELECT 1")
    with pytest.raises(chd.Error):
        cur.fetchone()
    # the connection itself is still usable
    other = conn.cursor()
    other.execute("SELECT 3")
    assert other.fetchone()[0] == 3


def test_cursor_context_manager_closes(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT 4")
        assert cur.fetchone()[0] == 4
    with pytest.raises(chd.Error):
        cur.execute("SELECT 1")


def test_commit_is_a_noop_and_data_is_visible(conn, make_conn, table):
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, "a"))
    assert conn.commit() is None
    other = make_conn().cursor()
    other.execute(f"SELECT id, name FROM {table}")
    assert _rows(other.fetchall()) == [(1, "a")]


def test_rollback_not_supported(conn):
    with pytest.raises(chd.NotSupportedError):
        conn.rollback()


# --- errors -----------------------------------------------------------------

def test_syntax_error_is_programming_error(cursor):
    with pytest.raises(chd.ProgrammingError) as ei:
        cursor.execute("SELEC 1")
    assert ei.value.code == 62  # SYNTAX_ERROR
    assert "Syntax error" in str(ei.value)


def test_unknown_table_is_programming_error(cursor, scratch_db):
    with pytest.raises(chd.ProgrammingError) as ei:
        cursor.execute(f"SELECT * FROM {scratch_db}.no_such_table")
    assert ei.value.code == 60  # UNKNOWN_TABLE


def test_table_already_exists_is_programming_error(cursor, table):
    with pytest.raises(chd.ProgrammingError) as ei:
        cursor.execute(f"CREATE TABLE {table} (x UInt8) ENGINE = Memory")
    assert ei.value.code == 57  # TABLE_ALREADY_EXISTS


def test_cursor_usable_after_error(cursor):
    with pytest.raises(chd.DatabaseError):
        cursor.execute("SELEC 1")
    cursor.execute("SELECT 5")
    assert cursor.fetchone()[0] == 5


def test_error_in_the_middle_of_a_stream_raises(cursor):
    # The server has already answered 200 and sent ~5 MB of blocks when
    # throwIf fires; the error text arrives in place of the next block. The
    # driver must raise, not return a silently truncated result.
    with pytest.raises(chd.DatabaseError) as ei:
        cursor.execute(
            "SELECT throwIf(number = 30000) AS e, concat(toString(number), %s) AS s "
            "FROM system.numbers LIMIT 40000",
            ("." * 180,), settings={"max_block_size": 1000})
        cursor.fetchall()
    assert ei.value.code == 395  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO


# --- description / rowcount / arraysize -------------------------------------

def test_description_before_execute(cursor):
    assert cursor.description is None


def test_description_of_select(cursor):
    cursor.execute("SELECT toUInt64(1) AS n, 'x' AS s, toDateTime('2024-01-02 03:04:05') AS t")
    d = cursor.description
    assert len(d) == 3
    assert all(len(col) == 7 for col in d)
    assert [col[0] for col in d] == ["n", "s", "t"]
    assert [col[1] for col in d] == ["UInt64", "String", "DateTime"]
    assert d[0][1] == chd.NUMBER
    assert d[1][1] == chd.STRING
    assert d[2][1] == chd.DATETIME


def test_description_none_for_statements_without_rows(cursor, scratch_db):
    cursor.execute("SELECT 1")
    assert cursor.description is not None
    cursor.execute(f"CREATE TABLE {scratch_db}.d (x UInt8) ENGINE = Memory")
    assert cursor.description is None
    cursor.execute(f"INSERT INTO {scratch_db}.d VALUES (%s)", (1,))
    assert cursor.description is None


def test_description_of_empty_select(cursor, table):
    # ClickHouse sends no Native block for an empty result; the columns still
    # have to be known (Django's raw() reads them before any row).
    cursor.execute(f"SELECT id, name, toDateTime(id) AS t FROM {table} WHERE id > %s", (5,))
    assert cursor.fetchall() == []
    assert [col[:2] for col in cursor.description] == [
        ("id", "UInt32"), ("name", "Nullable(String)"), ("t", "DateTime")]
    assert cursor.rowcount == 0
    # a statement DESCRIBE cannot wrap keeps description None, without an error
    cursor.execute("SHOW TABLES FROM system LIKE 'no_such_table_%'")
    assert cursor.fetchall() == []
    assert cursor.description is None


def test_rowcount(cursor, table):
    assert cursor.rowcount == -1
    cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(1, "a"), (2, "b")])
    # an INSERT's row count is only known where the server sends a summary
    assert cursor.rowcount in (-1, 2)
    cursor.execute(f"SELECT id FROM {table} ORDER BY id")
    rows = cursor.fetchall()
    assert len(rows) == 2
    assert cursor.rowcount in (-1, 2)


def test_arraysize_default_and_writable(cursor):
    assert cursor.arraysize == 1
    cursor.arraysize = 7
    assert cursor.arraysize == 7


# --- fetch* ------------------------------------------------------------------

def test_fetch_before_execute_raises(cursor):
    with pytest.raises(chd.Error):
        cursor.fetchone()
    with pytest.raises(chd.Error):
        cursor.fetchmany()
    with pytest.raises(chd.Error):
        cursor.fetchall()


def test_fetchone(cursor, table):
    _fill(cursor, table, 3)
    cursor.execute(f"SELECT id, name FROM {table} ORDER BY id")
    assert tuple(cursor.fetchone()) == (0, "row0")
    assert tuple(cursor.fetchone()) == (1, "row1")
    assert tuple(cursor.fetchone()) == (2, "row2")
    assert cursor.fetchone() is None
    assert cursor.fetchone() is None


def test_fetchmany_defaults_to_arraysize(cursor, table):
    _fill(cursor, table, 6)
    cursor.execute(f"SELECT id FROM {table} ORDER BY id")
    assert _rows(cursor.fetchmany()) == [(0,)]  # arraysize == 1
    cursor.arraysize = 4
    assert _rows(cursor.fetchmany()) == [(1,), (2,), (3,), (4,)]
    assert _rows(cursor.fetchmany()) == [(5,)]  # fewer than asked: what is left
    assert _rows(cursor.fetchmany()) == []
    assert _rows(cursor.fetchmany(3)) == []


def test_fetchmany_explicit_size(cursor, table):
    _fill(cursor, table, 5)
    cursor.execute(f"SELECT id FROM {table} ORDER BY id")
    assert _rows(cursor.fetchmany(2)) == [(0,), (1,)]
    assert _rows(cursor.fetchmany(size=2)) == [(2,), (3,)]
    assert _rows(cursor.fetchmany(10)) == [(4,)]
    assert cursor.arraysize == 1  # an explicit size does not change arraysize


def test_fetchall_returns_the_rest(cursor, table):
    _fill(cursor, table, 4)
    cursor.execute(f"SELECT id FROM {table} ORDER BY id")
    cursor.fetchone()
    assert _rows(cursor.fetchall()) == [(1,), (2,), (3,)]
    assert _rows(cursor.fetchall()) == []


def test_empty_result(cursor, table):
    cursor.execute(f"SELECT id FROM {table}")
    assert _rows(cursor.fetchall()) == []
    cursor.execute(f"SELECT id FROM {table}")
    assert cursor.fetchone() is None
    cursor.execute(f"SELECT id FROM {table}")
    assert _rows(cursor.fetchmany(5)) == []


def test_iteration(cursor):
    cursor.execute("SELECT number FROM system.numbers LIMIT 5")
    assert [tuple(r) for r in cursor] == [(i,) for i in range(5)]


def test_reexecute_discards_previous_result(cursor):
    cursor.execute("SELECT number FROM system.numbers LIMIT 100000",
                   settings={"max_block_size": 1000})
    assert tuple(cursor.fetchone()) == (0,)
    cursor.execute("SELECT 'second' AS s")
    assert _rows(cursor.fetchall()) == [("second",)]


def test_multi_block_result(cursor):
    # many Native blocks; fetchmany sizes that straddle block boundaries
    cursor.execute("SELECT number FROM system.numbers LIMIT 100000",
                   settings={"max_block_size": 1000})
    cursor.arraysize = 333
    seen = []
    while True:
        chunk = cursor.fetchmany()
        if not chunk:
            break
        assert len(chunk) <= 333
        seen.extend(r[0] for r in chunk)
    assert seen == list(range(100000))


def test_close_cursor_mid_stream_frees_connection(conn):
    cur = conn.cursor()
    cur.execute("SELECT number FROM system.numbers LIMIT 50000000",
                settings={"max_block_size": 10000})
    assert tuple(cur.fetchone()) == (0,)
    t0 = time.monotonic()
    cur.close()
    # closing must not read the remaining ~400 MB first
    assert time.monotonic() - t0 < 10
    cur2 = conn.cursor()
    cur2.execute("SELECT 6")
    assert cur2.fetchone()[0] == 6
    cur2.close()
    # the abandoned HTTP connection is torn down by the engine thread, so allow
    # it a moment; it must not stay checked out
    deadline = time.monotonic() + 5
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.pool_stats()["in_use"] == 0


# --- execute / executemany and parameters -----------------------------------

def test_execute_format_paramstyle(cursor):
    cursor.execute("SELECT %s AS a, %s AS b", (42, "x"))
    assert _rows(cursor.fetchall()) == [(42, "x")]


def test_execute_pyformat_paramstyle(cursor):
    cursor.execute("SELECT %(a)s AS a, %(b)s AS b, %(a)s AS c", {"a": 7, "b": "y"})
    assert _rows(cursor.fetchall()) == [(7, "y", 7)]


def test_percent_escape_with_params(cursor):
    cursor.execute("SELECT %s AS a, 'x%%y' AS b", (1,))
    assert _rows(cursor.fetchall()) == [(1, "x%y")]


def test_no_params_means_no_formatting(cursor):
    cursor.execute("SELECT 'x%y' AS a, '100%%' AS b")
    assert _rows(cursor.fetchall()) == [("x%y", "100%%")]


def test_wrong_number_of_params(cursor):
    with pytest.raises(chd.ProgrammingError):
        cursor.execute("SELECT %s, %s", (1,))
    with pytest.raises(chd.ProgrammingError):
        cursor.execute("SELECT %s", (1, 2))
    with pytest.raises(chd.ProgrammingError):
        cursor.execute("SELECT %(a)s", {"b": 1})


@pytest.mark.parametrize("value", [
    "plain",
    "it's",
    "back\\slash",
    "new\nline\ttab\r",
    "nul\x00byte",
    "'; DROP TABLE x; --",
    "ünïcödé ✓ 🚀",
    "",
])
def test_string_parameter_round_trip(cursor, value):
    cursor.execute("SELECT %s AS v", (value,))
    assert cursor.fetchone()[0] == value


@pytest.mark.parametrize("value", [0, 1, -1, 255, 2**63 - 1, -2**63, 2**64 - 1])
def test_int_parameter_round_trip(cursor, value):
    cursor.execute("SELECT %s AS v", (value,))
    assert cursor.fetchone()[0] == value


def test_executemany_format(cursor, table):
    cursor.executemany(f"INSERT INTO {table} (id, name) VALUES (%s, %s)",
                       [(1, "a"), (2, "b"), (3, None)])
    cursor.execute(f"SELECT id, name FROM {table} ORDER BY id")
    assert _rows(cursor.fetchall()) == [(1, "a"), (2, "b"), (3, None)]


def test_executemany_pyformat(cursor, table):
    cursor.executemany(f"INSERT INTO {table} (id, name) VALUES (%(id)s, %(name)s)",
                       [{"id": 10, "name": "x"}, {"id": 11, "name": "y"}])
    cursor.execute(f"SELECT id, name FROM {table} ORDER BY id")
    assert _rows(cursor.fetchall()) == [(10, "x"), (11, "y")]


def test_executemany_many_rows(cursor, table):
    n = 20000
    cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s)",
                       [(i, None if i % 7 == 0 else f"n{i}") for i in range(n)])
    cursor.execute(f"SELECT count(), sum(id), countIf(name IS NULL) FROM {table}")
    assert tuple(cursor.fetchone()) == (n, n * (n - 1) // 2, len(range(0, n, 7)))


def test_executemany_accepts_an_iterator(cursor, table):
    cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s)",
                       ((i, str(i)) for i in range(5)))
    cursor.execute(f"SELECT count() FROM {table}")
    assert cursor.fetchone()[0] == 5


def test_none_round_trip(cursor, table):
    cursor.execute("SELECT %s AS v", (None,))
    assert _rows(cursor.fetchall()) == [(None,)]
    cursor.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, None))
    cursor.execute(f"SELECT name, isNull(name) FROM {table}")
    assert _rows(cursor.fetchall()) == [(None, 1)]


# --- type constructors and type objects -------------------------------------

def test_date_constructor_round_trip(cursor, scratch_db):
    d = chd.Date(2024, 2, 29)
    assert d == datetime.date(2024, 2, 29)
    cursor.execute(f"CREATE TABLE {scratch_db}.dates (d Date) ENGINE = Memory")
    cursor.execute(f"INSERT INTO {scratch_db}.dates VALUES (%s)", (d,))
    cursor.execute(f"SELECT d, toString(d) FROM {scratch_db}.dates")
    assert _rows(cursor.fetchall()) == [(datetime.date(2024, 2, 29), "2024-02-29")]


def test_time_constructor():
    assert chd.Time(13, 45, 30) == datetime.time(13, 45, 30)


def test_timestamp_constructor_round_trip(cursor, scratch_db):
    ts = chd.Timestamp(2024, 1, 2, 3, 4, 5)
    assert ts == datetime.datetime(2024, 1, 2, 3, 4, 5)
    # DateTime('UTC') so the result does not depend on the server's timezone
    cursor.execute(f"CREATE TABLE {scratch_db}.ts (t DateTime('UTC')) ENGINE = Memory")
    cursor.execute(f"INSERT INTO {scratch_db}.ts VALUES (%s)", (ts,))
    cursor.execute(f"SELECT t, toString(t) FROM {scratch_db}.ts")
    got, text = cursor.fetchone()
    assert text == "2024-01-02 03:04:05"
    assert got.replace(tzinfo=None) == ts
    assert got.utcoffset() in (None, datetime.timedelta(0))


def test_from_ticks_constructors():
    ticks = 1_700_000_000  # 2023-11-14 22:13:20 UTC
    lt = time.localtime(ticks)
    assert chd.DateFromTicks(ticks) == datetime.date(*lt[:3])
    assert chd.TimeFromTicks(ticks) == datetime.time(*lt[3:6])
    assert chd.TimestampFromTicks(ticks) == datetime.datetime(*lt[:6])


BINARY_SAMPLE = b"\x00\xff\x01'\\\n\x80abc"


def test_binary_constructor_round_trip(make_conn):
    b = chd.Binary(BINARY_SAMPLE)
    assert bytes(b) == BINARY_SAMPLE
    cur = make_conn(strings_as_bytes=True).cursor()
    cur.execute("SELECT %s AS b", (b,))
    assert cur.fetchone()[0] == BINARY_SAMPLE


def test_binary_as_str_uses_surrogateescape(cursor):
    cursor.execute("SELECT %s AS b", (chd.Binary(BINARY_SAMPLE),))
    v = cursor.fetchone()[0]
    assert isinstance(v, str)
    assert v.encode("utf-8", "surrogateescape") == BINARY_SAMPLE


@pytest.mark.parametrize("type_name", [
    "UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64",
    "Float32", "Float64",
])
def test_number_type_object(type_name):
    assert chd.NUMBER == type_name
    assert chd.STRING != type_name
    assert chd.DATETIME != type_name


def test_string_type_object():
    assert chd.STRING == "String"
    assert chd.NUMBER != "String"
    assert chd.DATETIME != "String"


@pytest.mark.parametrize("type_name", ["DateTime", "Date"])
def test_datetime_type_object(type_name):
    assert chd.DATETIME == type_name
    assert chd.NUMBER != type_name
    assert chd.STRING != type_name


def test_type_objects_see_through_nullable(cursor):
    cursor.execute("SELECT toNullable(toUInt8(1)) AS n, toNullable('x') AS s")
    (_, n_type, *_), (_, s_type, *_) = cursor.description
    assert (n_type, s_type) == ("Nullable(UInt8)", "Nullable(String)")
    assert n_type == chd.NUMBER
    assert s_type == chd.STRING


def test_binary_and_rowid_type_objects_exist():
    # PEP 249 requires them; ClickHouse has no row ids and String is also binary,
    # so what they compare equal to is the driver's choice.
    assert hasattr(chd, "BINARY")
    assert hasattr(chd, "ROWID")


# --- optional / no-op methods ------------------------------------------------

def test_setinputsizes_and_setoutputsize_are_noops(cursor):
    assert cursor.setinputsizes([10, None]) is None
    assert cursor.setoutputsize(100) is None
    assert cursor.setoutputsize(100, 0) is None
    cursor.execute("SELECT 8")
    assert cursor.fetchone()[0] == 8


def test_nextset(cursor):
    cursor.execute("SELECT 9")
    # PEP 249: None = no more result sets (ClickHouse sends one per statement)
    assert cursor.nextset() is None
    assert cursor.fetchall() == [(9,)]  # the current set is untouched
    cursor.close()
    with pytest.raises(chd.InterfaceError):
        cursor.nextset()


# --- driver extensions used by the backend ------------------------------------

def test_query_id(cursor):
    cursor.execute("SELECT 1", query_id="chb-test-query-id-1")
    assert cursor.query_id == "chb-test-query-id-1"
    cursor.fetchall()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    assert isinstance(cursor.query_id, str) and cursor.query_id
    assert cursor.query_id != "chb-test-query-id-1"


def test_summary(cursor):
    cursor.execute("SELECT 1")
    cursor.fetchall()
    s = cursor.summary
    assert isinstance(s, chd.Summary)
    if cursor.connection._options.embedded:  # chDB's statistics
        assert (s.read_rows, s.result_rows) == (1, 1) and s.elapsed_ns > 0
    else:  # 18.16 sends no X-ClickHouse-Summary: every field is unknown
        assert not s and s.read_rows is None


def test_connection_shared_between_threads(conn):
    # threadsafety == 2: threads may share a connection (each with its own cursor).
    n_threads, results, errors = 4, {}, []

    def work(k):
        try:
            cur = conn.cursor()
            for _ in range(5):
                cur.execute("SELECT sum(number) FROM numbers(%s)", (1000 * (k + 1),))
                results.setdefault(k, set()).add(cur.fetchone()[0])
            cur.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == {k: {sum(range(1000 * (k + 1)))} for k in range(n_threads)}
