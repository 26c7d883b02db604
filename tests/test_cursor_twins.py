"""The sync shell of the cursors' one step machine (clickhouse_backend/driver/cursor.py);
async_tests/test_cursor_twins.py holds the same checks for the async shell."""
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
        with pytest.raises(chd.ProgrammingError, match="failed"):
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
