"""Network faults between the driver and a real server, injected by a proxy:
a reset at each phase, a truncated chunked body, garbage or an HTML page instead
of an answer, an answer trickling one byte at a time, and the 25.11+ tagged
mid-stream exception. Every case ends in a clear error or the complete, correct
result; never a partial result passed off as complete, never a leaked slot.
(The scripted fake server of tests/test_errors.py covers synthetic answers; here
the bytes around the fault are the real server's.)"""
import asyncio
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.faults.proxy import EXCEPTION_TAG, THROW_IF_TEXT

ROWS = "SELECT number, toString(number) FROM numbers(20000) SETTINGS max_block_size=1000"
EXPECTED = [(i, str(i)) for i in range(20000)]


def connect(proxy, **kw):
    kw.setdefault("pool_name", "px-" + uuid.uuid4().hex[:10])
    kw.setdefault("send_receive_timeout", 10)
    return chd.connect(host="127.0.0.1", port=proxy.port, **kw)


def settle(conn, timeout=5):
    """Wait for fire-and-forget KILL QUERY requests to finish; return the stats."""
    deadline = time.monotonic() + timeout
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return conn.pool_stats()


def fetch_all(cur, sql):
    cur.execute(sql)
    return cur.fetchall()


# --- resets ----------------------------------------------------------------

@pytest.mark.parametrize("fault,words", [
    ("reset_on_connect", ("reset", "closed")),      # accepted, then RST before anything
    ("reset_after_request", ("reset", "closed")),   # request read, never answered
    ("reset_in_headers", ("reset", "closed", "incomplete", "HTTP")),
    ("reset_in_body", ("reset", "closed", "incomplete")),
])
def test_reset_at_each_phase_is_an_operational_error(proxy, fault, words):
    conn = connect(proxy)
    cur = conn.cursor()
    proxy.push(fault)
    with pytest.raises(chd.OperationalError) as ei:
        fetch_all(cur, ROWS)
    msg = str(ei.value)
    assert any(w in msg for w in words), msg
    assert f"127.0.0.1:{proxy.port}" in msg
    st = settle(conn)
    assert st["in_use"] == 0 and st["retries"] == 0, st  # a fresh connection is never retried
    assert fetch_all(cur, ROWS) == EXPECTED  # and the next query is fine


def test_reset_in_body_streaming_never_looks_complete(proxy):
    conn = connect(proxy)
    cur = conn.cursor()
    proxy.cut_at = 0.6
    proxy.push("reset_in_body")
    cur.execute(ROWS)
    got = []
    with pytest.raises(chd.OperationalError):
        while True:
            rows = cur.fetchmany(500)
            if not rows:
                break
            got += rows
    assert got == EXPECTED[:len(got)] and len(got) < len(EXPECTED)


def test_truncated_chunked_body_is_an_error(proxy):
    # every chunk arrives, then a clean FIN instead of the terminating 0-chunk
    conn = connect(proxy)
    cur = conn.cursor()
    proxy.push("truncate_chunked")
    with pytest.raises(chd.OperationalError) as ei:
        fetch_all(cur, ROWS)
    assert "incomplete" in str(ei.value) or "closed" in str(ei.value)
    assert settle(conn)["in_use"] == 0


# --- not a ClickHouse answer -----------------------------------------------

@pytest.mark.parametrize("fault,expect", [
    ("garbage", "not an HTTP/ClickHouse answer"),   # bytes that are not HTTP at all
    ("html", "Captive portal"),                     # a 200 HTML page from a middlebox
    ("garbage_body", ""),                           # real headers, body not Native
])
def test_garbage_instead_of_an_answer_is_an_interface_error(proxy, fault, expect):
    conn = connect(proxy)
    cur = conn.cursor()
    proxy.push(fault)
    with pytest.raises(chd.InterfaceError) as ei:
        fetch_all(cur, ROWS)
    assert expect in str(ei.value)
    assert settle(conn)["in_use"] == 0
    assert fetch_all(cur, "SELECT 7") == [(7,)]


# --- slow answers ----------------------------------------------------------

def test_answer_trickling_one_byte_at_a_time_is_complete(proxy):
    # send_receive_timeout bounds inactivity, not the whole answer: 1 byte per ms
    # for ~3 s passes with a 0.5 s timeout
    conn = connect(proxy, send_receive_timeout=0.5)
    cur = conn.cursor()
    proxy.push("trickle")
    sql = "SELECT number, substring('xxxxxx', 1, number % 7) FROM numbers(300)"
    assert fetch_all(cur, sql) == [(i, "x" * (i % 7)) for i in range(300)]
    assert settle(conn)["in_use"] == 0


def test_trickling_answer_is_cut_by_query_timeout(proxy):
    conn = connect(proxy, query_timeout=0.5)
    cur = conn.cursor()
    proxy.push("trickle")
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        fetch_all(cur, "SELECT number FROM numbers(3000)")
    assert time.monotonic() - t0 < 2
    assert "query_timeout" in str(ei.value)
    assert settle(conn)["in_use"] == 0


def test_stalled_proxy_times_out(proxy):
    conn = connect(proxy, send_receive_timeout=0.5)
    proxy.push("stall")
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        fetch_all(conn.cursor(), "SELECT 1")
    assert 0.4 < time.monotonic() - t0 < 2
    assert "send_receive_timeout" in str(ei.value)


# --- retries ----------------------------------------------------------------

def test_read_on_dead_reused_connection_is_retried_once(proxy):
    conn = connect(proxy)
    cur = conn.cursor()
    assert fetch_all(cur, "SELECT 1") == [(1,)]   # connection now pooled
    proxy.push("reset_after_request")              # ...and dies under the next request
    assert fetch_all(cur, ROWS) == EXPECTED
    st = conn.pool_stats()
    assert st["retries"] == 1 and st["in_use"] == 0, st


def test_read_is_not_retried_after_response_bytes(proxy):
    conn = connect(proxy)
    cur = conn.cursor()
    assert fetch_all(cur, "SELECT 1") == [(1,)]
    proxy.push("reset_in_headers")
    with pytest.raises(chd.OperationalError):
        fetch_all(cur, ROWS)
    assert conn.pool_stats()["retries"] == 0


def test_insert_is_never_retried_even_when_the_server_ran_it(proxy, scratch_db):
    conn = connect(proxy, database=scratch_db)
    cur = conn.cursor()
    cur.execute("CREATE TABLE t (a UInt32) ENGINE = Memory")
    # a reused connection, the INSERT reaches the server, the answer is lost
    proxy.push("forward_then_reset")
    with pytest.raises(chd.OperationalError):
        cur.execute("INSERT INTO t VALUES (1)")
    assert conn.pool_stats()["retries"] == 0
    assert fetch_all(cur, "SELECT count() FROM t") == [(1,)]  # exactly once
    # same for executemany's single-request INSERT (its first use also asks the
    # table's column types, cached: done here so that the fault hits the INSERT)
    cur.executemany("INSERT INTO t VALUES (%s)", [(2,)])
    proxy.push("forward_then_reset")
    with pytest.raises(chd.OperationalError):
        cur.executemany("INSERT INTO t VALUES (%s)", [(3,), (4,)])
    assert fetch_all(cur, "SELECT count() FROM t") == [(4,)]
    # each INSERT crossed the proxy exactly once: no second attempt
    assert sum(b"INSERT INTO t" in req for _, _, req in proxy.log) == 3


# --- mid-stream exceptions -------------------------------------------------

MIDSTREAM = "SELECT throwIf(number = 3000000) FROM numbers(10000000) SETTINGS max_block_size=1000"


def test_server_exception_after_many_blocks_is_raised(make_conn):
    """18.16 appends the exception text after the blocks already sent; the rows
    received before it must never be returned as a complete result."""
    conn = make_conn(pool_name="ms-" + uuid.uuid4().hex[:8], stream_buffer_bytes=1 << 20)
    cur = conn.cursor()
    n = 0
    with pytest.raises(chd.DataError) as ei:
        cur.execute(MIDSTREAM)
        while True:
            rows = cur.fetchmany(100000)
            if not rows:
                break
            n += len(rows)
    assert ei.value.code == 395 and "throwIf" in str(ei.value)
    assert n <= 3000000  # at most the rows before the failing one, and then the error
    assert settle(conn)["in_use"] == 0
    assert cur.execute("SELECT 1").fetchall() == [(1,)]


def test_server_exception_after_many_blocks_async(server_params):
    async def main():
        conn = await chd.connect_async(**server_params, pool_name="msa-" + uuid.uuid4().hex[:8])
        cur = conn.cursor()
        n = 0
        with pytest.raises(chd.DataError) as ei:
            await cur.execute(MIDSTREAM)
            async for _ in cur:
                n += 1
        assert ei.value.code == 395 and n <= 3000000

    asyncio.run(main())


TAGGED = "SELECT number FROM numbers(200000) SETTINGS max_block_size=1000"


TAG_FAULTS = ["tag_exception_end", "tag_exception_close", "tag_exception_mid_block"]


def tagged_error(proxy, fault):
    conn = connect(proxy)
    cur = conn.cursor()
    proxy.push(fault)
    n = 0
    with pytest.raises(chd.DatabaseError) as ei:
        cur.execute(TAGGED)
        while True:
            rows = cur.fetchmany(10000)
            if not rows:
                break
            n += len(rows)
    assert n < 200000
    assert settle(conn)["in_use"] == 0
    assert fetch_all(cur, "SELECT 1") == [(1,)]
    return ei.value


@pytest.mark.parametrize("fault", TAG_FAULTS)
def test_tagged_exception_25_11_is_raised(proxy, fault):
    """The 25.11+ form: X-ClickHouse-Exception-Tag header, then the tagged block in
    the body (followed by the end of the chunked body, or by a dropped connection;
    at a Native block boundary or in the middle of a block)."""
    e = tagged_error(proxy, fault)
    assert isinstance(e, chd.DataError) and e.code == 395, (type(e), str(e))
    assert "throwIf" in str(e)
    assert EXCEPTION_TAG not in str(e) and "__exception__" not in str(e), str(e)


@pytest.mark.parametrize("fault", TAG_FAULTS)
def test_tagged_exception_message_is_exactly_the_servers_text(proxy, fault):
    assert str(tagged_error(proxy, fault)) == THROW_IF_TEXT


def test_tagged_exception_completing_a_block_yields_no_wrong_rows(proxy):
    """The exception's bytes can complete the Native block they interrupt; that
    block is the server's error, not rows: every row handed out is a true one."""
    conn = connect(proxy)
    cur = conn.cursor()
    proxy.push("tag_exception_block_tail")
    rows = []
    with pytest.raises(chd.DataError) as ei:
        cur.execute(TAGGED)
        while True:
            got = cur.fetchmany(1000)
            if not got:
                break
            rows.extend(got)
    assert str(ei.value) == THROW_IF_TEXT
    assert 0 < len(rows) < 200000 and len(rows) % 1000 == 0
    assert rows == [(i,) for i in range(len(rows))]
    assert settle(conn)["in_use"] == 0


def test_exception_tag_header_on_a_good_answer_changes_nothing(proxy):
    conn = connect(proxy)
    proxy.push("tag_header_only")
    assert fetch_all(conn.cursor(), TAGGED) == [(i,) for i in range(200000)]
