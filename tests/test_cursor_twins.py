"""The sync shell of the cursors' one step machine (clickhouse_backend/driver/cursor.py);
async_tests/test_cursor_twins.py holds the same checks for the async shell."""
import signal
import threading
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.embedded_support import EMBEDDED, requires_chdb

# an empty result: ClickHouse 18.16 sends no Native block, so no columns. The
# marker is a literal: 18.16 drops comments from query_log.query
EMPTY_SQL = "SELECT number AS n, toString(number) AS s FROM numbers(3) WHERE n > %%s AND '%s' != ''"


def count_logged(admin, marker, expect):
    """How many queries the server started whose text holds marker (system.query_log).
    18.16 may log a query after its answer is sent, even past SYSTEM FLUSH LOGS: wait
    for the expected count, then a while longer for any query too many."""
    cur = admin.cursor()

    def count():
        cur.execute("SYSTEM FLUSH LOGS")
        # the marker is split so that this query does not count itself
        cur.execute("SELECT count() FROM system.query_log WHERE type = 1 AND position(query, concat(%s, %s)) > 0",
                    [marker[:8], marker[8:]])
        return cur.fetchone()[0]

    deadline = time.monotonic() + 10
    while count() < expect and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # three flush intervals of tests/server/config.xml
    return count()


def connect(server_params, **kw):
    kw.setdefault("pool_name", uuid.uuid4().hex[:16])
    return chd.connect(**server_params, **kw)


def test_empty_select_costs_one_query_unless_described(server_params, _admin_conn):
    marker = uuid.uuid4().hex
    conn = connect(server_params, settings={"log_queries": 1})
    with conn.cursor() as cur:
        cur.execute(EMPTY_SQL % marker, [10])
        assert cur.fetchall() == []
        assert cur.rowcount == 0
    assert count_logged(_admin_conn, marker, 1) == 1
    with conn.cursor() as cur:
        cur.execute(EMPTY_SQL % marker, [10])
        assert [c[:2] for c in cur.description] == [("n", "UInt64"), ("s", "String")]
        assert cur.describe() == cur.description
    assert count_logged(_admin_conn, marker, 3) == 3


def test_error_ends_the_result(server_params):
    conn = connect(server_params)
    with conn.cursor() as cur:
        with pytest.raises(chd.DatabaseError):
            cur.execute("SELECT throwIf(number = 70000) FROM numbers(1000000)", settings={"max_block_size": 100})
        with pytest.raises(chd.ProgrammingError, match="ended early"):
            cur.fetchall()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]


@requires_chdb
def test_embedded_empty_select_is_one_request():
    conn = chd.connect(embedded=EMBEDDED)
    with conn.cursor() as cur:
        before = conn.pool_stats()["requests"]
        cur.execute("SELECT number AS n, toString(number) AS s FROM numbers(3) WHERE n > %s", [10])
        assert cur.fetchall() == [] and cur.rowcount == 0
        assert conn.pool_stats()["requests"] == before + 1
        assert [c[:2] for c in cur.describe()] == [("n", "UInt64"), ("s", "String")]


# --- issue 14 §3: a cursor shared by threads refuses, never answers wrongly ------

SHARED_SQL = "SELECT %s + number FROM numbers(%s)"


def shared_query(k, i):
    """The i-th query of worker k: its parameters and the only right answer."""
    v, n = k * 1_000_000 + i, 1 + i % 3
    return [v, n], [(v + j,) for j in range(n)]


def record(outcome, expected, rows):
    if rows is None:
        outcome["refused"] += 1
    elif rows == expected:
        outcome["right"] += 1
    else:
        outcome["wrong"].append((expected, rows))


def _shared_cursor_worker(cur, k, n, outcome):
    for i in range(n):
        params, expected = shared_query(k, i)
        try:
            cur.execute(SHARED_SQL, params)
            rows = cur.fetchall()
        except chd.ProgrammingError:
            rows = None
        record(outcome, expected, rows)


def test_cursor_shared_by_32_threads_refuses_and_never_returns_wrong_rows(server_params):
    conn = connect(server_params)
    cur = conn.cursor()
    outcome = {"right": 0, "refused": 0, "wrong": []}
    threads = [threading.Thread(target=_shared_cursor_worker, args=(cur, k, 200, outcome)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome["wrong"] == []
    assert outcome["right"] + outcome["refused"] == 32 * 200
    assert outcome["refused"] > 0 and outcome["right"] > 0


def test_result_may_change_threads_once_its_thread_is_done(server_params):
    cur = connect(server_params).cursor()
    t = threading.Thread(target=cur.execute, args=("SELECT 1",))
    t.start()
    t.join()
    assert cur.fetchall() == [(1,)]
    cur.execute("SELECT 2")
    t = threading.Thread(target=lambda: pytest.raises(chd.ProgrammingError, cur.fetchall))
    t.start()
    t.join()
    assert cur.fetchall() == [(2,)]


# --- §4: closing closes; Ctrl-C while iterating frees the slot ---------------------

def running(admin, query_id):
    cur = admin.cursor()
    cur.execute("SELECT count() FROM system.processes WHERE query_id = %s", [query_id])
    return cur.fetchone()[0]


def wait_until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


ENDLESS = "SELECT number FROM system.numbers"


def test_connection_close_closes_open_results(server_params, _admin_conn):
    conn = connect(server_params, pool_size=2, pool_timeout=2)
    cur = conn.cursor()
    cur.execute(ENDLESS)
    assert cur.fetchone() == (0,)
    assert running(_admin_conn, cur.query_id) == 1
    conn.close()
    assert wait_until(lambda: running(_admin_conn, cur.query_id) == 0)
    assert wait_until(lambda: conn.pool_stats()["in_use"] == 0)
    with pytest.raises(chd.InterfaceError):
        cur.fetchone()


def test_connection_close_from_another_thread_fails_the_reader(server_params):
    conn = connect(server_params)
    cur = conn.cursor()
    threading.Timer(0.5, conn.close).start()
    start = time.monotonic()
    with pytest.raises(chd.InterfaceError, match="closed"):
        # never an empty or cut result passed off as complete
        cur.execute("SELECT sleep(3), number FROM numbers(10)")
    assert time.monotonic() - start < 2.5
    assert wait_until(lambda: conn.pool_stats()["in_use"] == 0)


def test_ctrl_c_while_iterating_frees_the_slot(server_params, _admin_conn):
    conn = connect(server_params, pool_size=1, pool_timeout=2)
    cur = conn.cursor()
    cur.execute(ENDLESS)
    with pytest.raises(KeyboardInterrupt):
        for row in cur:
            if row[0] == 100_000:
                signal.raise_signal(signal.SIGINT)  # lands in this loop's body
    assert wait_until(lambda: running(_admin_conn, cur.query_id) == 0)
    other = conn.cursor()
    other.execute("SELECT 1")  # the only slot is free again: no PoolTimeout
    assert other.fetchall() == [(1,)]
    with pytest.raises(chd.ProgrammingError, match="ended early"):
        cur.fetchone()


def test_leaving_a_for_loop_early_closes_the_rest(server_params):
    conn = connect(server_params, pool_size=1, pool_timeout=2)
    cur = conn.cursor()
    cur.execute(ENDLESS)
    for row in cur:
        if row[0] == 10:
            break
    assert wait_until(lambda: conn.pool_stats()["in_use"] == 0)
    cur.execute("SELECT 1")
    assert [r for r in cur] == [(1,)]


# --- §5: every error a PEP 249 one, with the original as __cause__ ------------------

BAD_CALLS = [
    (("SELECT %(a\ud800)s", {"a\ud800": 1}), {}, chd.DataError, UnicodeEncodeError),
    (("SELECT 'a\ud800'",), {}, chd.DataError, UnicodeEncodeError),
    (("SELECT 1",), {"query_id": "é\x00"}, chd.ProgrammingError, None),
    (("SELECT 1",), {"settings": 5}, chd.ProgrammingError, AttributeError),
    (("SELECT %s", [object()]), {}, chd.ProgrammingError, None),
]


@pytest.mark.parametrize("args, kwargs, cls, cause", BAD_CALLS)
def test_errors_are_dbapi_errors(server_params, args, kwargs, cls, cause):
    cur = connect(server_params).cursor()
    with pytest.raises(cls) as info:
        cur.execute(*args, **kwargs)
    assert cause is None or type(info.value.__cause__) is cause
    with pytest.raises(chd.Error):
        cur.executemany("INSERT INTO t VALUES (%s)", [(1,), ("a\ud800",)])
    cur.execute("SELECT 1")  # the cursor still works
    assert cur.fetchall() == [(1,)]


@requires_chdb
@pytest.mark.parametrize("args, kwargs, cls, cause", BAD_CALLS)
def test_embedded_errors_are_dbapi_errors(args, kwargs, cls, cause):
    cur = chd.connect(embedded=EMBEDDED).cursor()
    with pytest.raises(cls) as info:
        cur.execute(*args, **kwargs)
    assert cause is None or type(info.value.__cause__) is cause


@pytest.mark.parametrize("kwargs", [{"host": "a\x00b"}, {"port": "x"}, {"settings": 5}])
def test_bad_connect_options_are_interface_errors(kwargs):
    with pytest.raises(chd.InterfaceError) as info:
        chd.connect(**kwargs).cursor().execute("SELECT 1")
    assert info.value.__cause__ is not None
