"""Errors keep ClickHouse's code and message and map to the right PEP 249 class;
network trouble gives clear OperationalErrors; a non-ClickHouse answer is an
InterfaceError; nothing leaks a pool slot."""
import socket
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.fake_http import NATIVE_SELECT_1, FakeServer, http_response


def wait_idle(conn, timeout=5):
    """Kill requests for aborted queries are fire-and-forget: wait for them."""
    deadline = time.monotonic() + timeout
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return conn.pool_stats()["in_use"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unknown_table_keeps_code_and_message(cursor):
    with pytest.raises(chd.ProgrammingError) as ei:
        cursor.execute("SELECT * FROM no_such_table_xyz")
    e = ei.value
    assert e.code == 60
    assert "no_such_table_xyz" in str(e)
    assert e.query_id and e.http_status == 404


def test_syntax_error_is_programming_error(cursor):
    with pytest.raises(chd.ProgrammingError) as ei:
        cursor.execute("SELEC 1")
    assert ei.value.code == 62
    assert "Syntax error" in str(ei.value)


def test_data_errors(cursor):
    with pytest.raises(chd.DataError) as ei:
        cursor.execute("SELECT toUInt8('not a number')")
    assert ei.value.code in (6, 72)
    with pytest.raises(chd.DataError) as ei:
        cursor.execute("SELECT throwIf(1)")
    assert ei.value.code == 395


def test_null_into_non_nullable_column_is_integrity_error(cursor):
    # 18.16: a range error (321) "Expression returns value NULL"; newer servers
    # with input_format_null_as_default=0: TYPE_MISMATCH (53) "Cannot insert
    # NULL value". Both are NOT NULL violations.
    table = "nn_" + uuid.uuid4().hex[:8]
    cursor.execute("CREATE TABLE %s (x UInt8) ENGINE = Memory" % table)
    try:
        settings = {"input_format_null_as_default": 0} if _knows(cursor, "input_format_null_as_default") else {}
        with pytest.raises(chd.IntegrityError) as ei:
            cursor.execute("INSERT INTO %s VALUES (NULL)" % table, settings=settings)
        assert ei.value.code in (53, 321)
    finally:
        cursor.execute("DROP TABLE %s" % table)


def _knows(cursor, setting):
    cursor.execute("SELECT count() FROM system.settings WHERE name = %s", [setting])
    return cursor.fetchone()[0] == 1


def test_null_violation_mapping_offline():
    from clickhouse_backend.driver.exceptions import make_error
    assert isinstance(make_error("server", 53, "Code: 53. DB::Exception: Cannot insert NULL value "
                                 "into a column of type 'Bool' at: NULL", 500, "q"), chd.IntegrityError)
    # TYPE_MISMATCH for anything else keeps its usual class.
    assert not isinstance(make_error("server", 53, "Type mismatch", 500, "q"), chd.IntegrityError)


def test_connection_still_usable_after_server_errors(make_conn):
    conn = make_conn(pool_name=uuid.uuid4().hex[:12])
    cur = conn.cursor()
    for _ in range(20):
        with pytest.raises(chd.ProgrammingError):
            cur.execute("SELECT * FROM no_such_table")
    assert cur.execute("SELECT 5").fetchall() == [(5,)]
    st = conn.pool_stats()
    assert st["created"] == 1 and st["in_use"] == 0


def test_wrong_password_is_operational_error(server_params):
    params = dict(server_params, user="tester", password="wrong")
    cur = chd.connect(**params).cursor()
    with pytest.raises(chd.OperationalError) as ei:
        cur.execute("SELECT 1")
    assert ei.value.code in (192, 193, 516)
    assert "wrong" not in repr(cur.connection)


@pytest.mark.parametrize("auth", ["basic", "headers"])
def test_password_user_both_auth_styles(server_params, auth):
    params = dict(server_params, user="tester", password="s3cr3t-pa$$", auth=auth)
    conn = chd.connect(**params)
    assert conn.cursor().execute("SELECT 1").fetchone() == (1,)
    assert "s3cr3t" not in repr(conn) and "s3cr3t" not in repr(conn._options)


def test_unreachable_host_is_operational_error():
    port = free_port()
    cur = chd.connect(host="127.0.0.1", port=port, connect_timeout=2).cursor()
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        cur.execute("SELECT 1")
    assert time.monotonic() - t0 < 2
    assert f"127.0.0.1:{port}" in str(ei.value)
    assert "refused" in str(ei.value).lower()
    assert cur.connection.pool_stats()["in_use"] == 0


def test_unresolvable_host_is_operational_error():
    with pytest.raises(chd.OperationalError) as ei:
        chd.connect(host="no-such-host.invalid", port=8123).cursor().execute("SELECT 1")
    assert "no-such-host.invalid" in str(ei.value)


def test_html_from_a_proxy_is_interface_error():
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

    def script(conn, req, n):
        conn.sendall(http_response(page, "502 Bad Gateway", ["Content-Type: text/html"]))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        with pytest.raises(chd.InterfaceError) as ei:
            cur.execute("SELECT 1")
        msg = str(ei.value)
        assert "502" in msg and "Bad Gateway" in msg and ei.value.http_status == 502
        assert cur.connection.pool_stats()["in_use"] == 0


def test_html_with_status_200_is_interface_error():
    page = b"<!DOCTYPE html><html><body>Welcome to nginx!</body></html>"

    def script(conn, req, n):
        conn.sendall(http_response(page, headers=["Content-Type: text/html"]))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        with pytest.raises(chd.InterfaceError) as ei:
            cur.execute("SELECT 1")
        assert "Welcome to nginx" in str(ei.value)


def test_non_http_peer_is_interface_error():
    def script(conn, req, n):
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
        return "close"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        with pytest.raises(chd.InterfaceError) as ei:
            cur.execute("SELECT 1")
        assert "SSH-2.0" in str(ei.value)


def test_connection_dropped_mid_body_never_passes_as_complete():
    body = NATIVE_SELECT_1 * 1  # a complete block...

    def script(conn, req, n):
        # ...announced as longer than it is, then the connection drops
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body)
        return "close"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        with pytest.raises(chd.OperationalError) as ei:
            cur.execute("SELECT 1")
            cur.fetchall()
        assert "incomplete" in str(ei.value) or "closed" in str(ei.value)


def test_truncated_native_block_is_an_error():
    def script(conn, req, n):
        conn.sendall(http_response(NATIVE_SELECT_1[:-1], chunked=True))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        with pytest.raises(chd.InterfaceError) as ei:
            cur.execute("SELECT 1")
            cur.fetchall()
        assert "incomplete" in str(ei.value)


def test_exception_text_after_data_is_raised_with_its_code():
    text = b"Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero\n"

    def script(conn, req, n):
        conn.sendall(http_response(NATIVE_SELECT_1 + text, chunked=True))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        with pytest.raises(chd.DataError) as ei:
            cur.execute("SELECT 1")
            cur.fetchall()
        assert ei.value.code == 395 and "throwIf" in str(ei.value)


def test_dead_keepalive_connection_is_retried_once_for_reads():
    def script(conn, req, n):
        conn.sendall(http_response(NATIVE_SELECT_1, chunked=True))
        return "close"  # the server drops the connection after answering, silently

    with FakeServer(script) as srv:
        conn = chd.connect(host="127.0.0.1", port=srv.port, idle_timeout=60)
        cur = conn.cursor()
        assert cur.execute("SELECT 1").fetchall() == [(1,)]
        time.sleep(0.05)  # let the close arrive... but the pool may not have noticed:
        for _ in range(5):
            assert cur.execute("SELECT 1").fetchall() == [(1,)]
        st = conn.pool_stats()
        assert st["in_use"] == 0


def test_insert_is_never_retried():
    seen = []

    def script(conn, req, n):
        seen.append(req)
        if n == 0:
            conn.sendall(http_response(NATIVE_SELECT_1, chunked=True))
            return "keep"
        return "close"  # second request on the same connection: dropped unanswered

    with FakeServer(script) as srv:
        conn = chd.connect(host="127.0.0.1", port=srv.port, idle_timeout=60)
        cur = conn.cursor()
        assert cur.execute("SELECT 1").fetchall() == [(1,)]
        with pytest.raises(chd.OperationalError) as ei:
            cur.execute("INSERT INTO t VALUES (1)")
        assert "before answering" in str(ei.value)
        assert sum(b"INSERT" in r for r in seen) == 1
        # a SELECT in the same situation is repeated on a fresh connection
        before = len(seen)
        assert cur.execute("SELECT 1").fetchall() == [(1,)]
        assert len(seen) - before in (1, 2)


def test_send_receive_timeout(make_conn):
    conn = make_conn(send_receive_timeout=0.5, pool_name=uuid.uuid4().hex[:12])
    cur = conn.cursor()
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        cur.execute("SELECT sleep(2)")
    assert time.monotonic() - t0 < 1.8
    assert "send_receive_timeout" in str(ei.value)
    assert wait_idle(conn) == 0


def test_query_timeout_kills_the_query(make_conn, conn):
    slow = make_conn(query_timeout=0.5, pool_name=uuid.uuid4().hex[:12])
    cur = slow.cursor()
    qid = "timeout-" + uuid.uuid4().hex
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        cur.execute("SELECT count() FROM system.numbers", query_id=qid)
    assert time.monotonic() - t0 < 2
    assert "query_timeout" in str(ei.value)
    assert wait_idle(slow) == 0
    check = conn.cursor()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        check.execute("SELECT count() FROM system.processes WHERE query_id = %s", [qid])
        if check.fetchone()[0] == 0:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the query kept running on the server after the timeout")


def test_closed_connection_and_cursor_raise_interface_error(conn):
    cur = conn.cursor()
    cur.close()
    with pytest.raises(chd.InterfaceError):
        cur.execute("SELECT 1")
    conn.close()
    with pytest.raises(chd.InterfaceError):
        conn.cursor()


def test_unknown_option_is_rejected():
    with pytest.raises(chd.InterfaceError) as ei:
        chd.connect(host="127.0.0.1", colour="blue")
    assert "colour" in str(ei.value)


CTRL_C_CHILD = r"""
import json, sys, time
import clickhouse_backend.driver as chd
conn = chd.connect(**json.loads(sys.argv[1]))
cur = conn.cursor()
print("ready", flush=True)
t0 = time.monotonic()
try:
    cur.execute("SELECT sleep(3)")
    print("not interrupted", flush=True)
except KeyboardInterrupt:
    waited = time.monotonic() - t0
    deadline = time.monotonic() + 5
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        time.sleep(0.02)
    print(json.dumps({"waited": waited, "in_use": conn.pool_stats()["in_use"]}), flush=True)
"""


def test_ctrl_c_interrupts_a_sync_wait_and_cancels_the_query(server_params):
    import json
    import signal
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD, json.dumps(server_params)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    result = json.loads(out)
    assert result["waited"] < 1.5  # not the 3 s of the query
    assert result["in_use"] == 0


def test_clickhouse_headers_of_newer_servers_are_read():
    """18.16 sends none of these; newer servers do (a scripted answer stands in)."""
    summary = '{"read_rows":"0","written_rows":"7","written_bytes":"56"}'

    def script(conn, req, n):
        if b"INSERT" in req:
            conn.sendall(http_response(b"", headers=[f"X-ClickHouse-Summary: {summary}",
                                                     "X-ClickHouse-Query-Id: server-side-id"]))
        else:  # an error whose text has no "Code:": the header carries the code
            conn.sendall(http_response(b"Memory limit (total) exceeded", "500 Internal Server Error",
                                       ["X-ClickHouse-Exception-Code: 241"]))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        cur.execute("INSERT INTO t VALUES (1)")
        assert cur.rowcount == 7
        assert cur.summary.written_bytes == 56 and cur.summary.read_bytes is None
        assert cur._stream.server_query_id == "server-side-id"
        with pytest.raises(chd.OperationalError) as ei:
            cur.execute("SELECT 1")
        assert ei.value.code == 241 and "Memory limit" in str(ei.value)
