"""Query progress and summaries (issue 19).

The 18.16 server here sends no X-ClickHouse-Progress nor X-ClickHouse-Summary, so
what current servers send is replayed by a scripted server (tests/fake_http.py),
byte for byte in their form: the status line and the usual headers first, then one
X-ClickHouse-Progress line per update while the query runs (ProgressValues::
writeJSON: numbers as strings, in this order), X-ClickHouse-Summary, the empty line
and the chunked Native body. The script sends the next update only once the
client's callback has seen the previous one: updates are delivered as they arrive,
not when the answer ends.
"""
import os
import re
import threading
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from clickhouse_backend.driver.progress import Progress, Summary
from tests.embedded_support import EMBEDDED, requires_chdb
from tests.fake_http import NATIVE_SELECT_1, FakeServer, http_response

FIELDS = ("read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read", "result_rows",
          "result_bytes", "elapsed_ns")


def progress_json(read_rows, read_bytes, total_rows_to_read, elapsed_ns, result_rows=0, result_bytes=0):
    values = dict(read_rows=read_rows, read_bytes=read_bytes, written_rows=0, written_bytes=0,
                  total_rows_to_read=total_rows_to_read, result_rows=result_rows, result_bytes=result_bytes,
                  elapsed_ns=elapsed_ns)
    return "{" + ",".join(f'"{k}":"{values[k]}"' for k in FIELDS) + "}"


# What a current server reports for a query over 3 million rows whose total grows
# once while it runs (a second part found).
STEPS = [progress_json(65505, 524040, 2000000, 101233841),
         progress_json(1310100, 10480800, 3000000, 202530117),
         progress_json(2751210, 22009680, 3000000, 303771120)]
SUMMARY = progress_json(3000000, 24000000, 3000000, 351023811, 1, 8)


def head(req):
    qid = re.search(rb"[?&]query_id=([^& ]+)", req).group(1).decode()
    return ("HTTP/1.1 200 OK\r\n"
            "Date: Sat, 05 Dec 2026 07:00:00 GMT\r\n"
            "Connection: Keep-Alive\r\n"
            "Content-Type: application/octet-stream\r\n"
            "X-ClickHouse-Server-Display-Name: ch-1\r\n"
            "Transfer-Encoding: chunked\r\n"
            f"X-ClickHouse-Query-Id: {qid}\r\n"
            "X-ClickHouse-Format: Native\r\n"
            "X-ClickHouse-Timezone: UTC\r\n"
            "Keep-Alive: timeout=10, max=10000\r\n").encode()


def finish(conn, summary=SUMMARY):
    body = NATIVE_SELECT_1
    conn.sendall(f"X-ClickHouse-Summary: {summary}\r\n\r\n".encode()
                 + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")


def live_script(seen):
    """Sends STEPS one by one, each once the client saw the previous (seen: Events)."""
    def script(conn, req, n):
        conn.sendall(head(req))
        for i, p in enumerate(STEPS):
            conn.sendall(f"X-ClickHouse-Progress: {p}\r\n".encode())
            if not seen[i].wait(30):
                return "close"  # the client did not get it while the query "ran": it fails
        finish(conn)
        return "keep"
    return script


def request_line(req):
    return req.split(b"\r\n", 1)[0].decode()


def test_progress_parse_forms():
    p = Progress.parse(STEPS[1])
    assert (p.read_rows, p.total_rows_to_read, p.elapsed_ns) == (1310100, 3000000, 202530117)
    assert p.fraction == pytest.approx(1310100 / 3000000)
    assert Progress.parse({"read_rows": 5, "total_rows_to_read": 0}).fraction is None
    s = Summary.parse('{"read_rows":"7","written_rows":"0"}')
    assert (s.read_rows, s.written_rows, s.result_rows) == (7, 0, None)
    assert not Summary.parse(None) and not Summary.parse("not json")


def test_sync_progress_delivered_as_it_arrives():
    seen = [threading.Event() for _ in STEPS]
    updates, threads = [], []

    def on_progress(p):
        updates.append(p)
        threads.append(threading.current_thread())
        seen[len(updates) - 1].set()

    with FakeServer(live_script(seen)) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        cur.execute("SELECT 1", progress=on_progress)
        assert cur.fetchall() == [(1,)]
        assert "send_progress_in_http_headers=1" in request_line(srv.requests[0])
    assert updates == [Progress.parse(p) for p in STEPS]
    assert updates[0].total_rows_to_read < updates[1].total_rows_to_read  # the total grows
    assert threads == [threading.current_thread()] * 3
    assert cur.last_progress == updates[-1]
    assert cur.summary == Summary.parse(SUMMARY) and cur.summary.read_rows == 3000000


def test_connection_option_and_no_progress_settings_unless_asked():
    seen = [threading.Event() for _ in STEPS]
    updates = []

    def on_progress(p):
        updates.append(p)
        seen[len(updates) - 1].set()

    def script(conn, req, n):
        if b"send_progress_in_http_headers" in req:
            return live_script(seen)(conn, req, n)
        conn.sendall(head(req))
        finish(conn, summary=progress_json(1, 1, 0, 1000, 1, 1))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        cur.execute("SELECT 1")
        cur.fetchall()
        assert "progress" not in request_line(srv.requests[-1])
        assert cur.summary.read_rows == 1 and cur.last_progress is None

        cur = chd.connect(host="127.0.0.1", port=srv.port, progress=on_progress).cursor()
        cur.execute("SELECT 1", settings={"http_headers_progress_interval_ms": 500})
        line = request_line(srv.requests[-1])
        assert "send_progress_in_http_headers=1" in line and "http_headers_progress_interval_ms=500" in line
    assert updates == [Progress.parse(p) for p in STEPS]


def test_many_progress_headers_do_not_hit_the_header_limits():
    # A long query sends one every 100 ms: thousands, beyond the 128 headers / 64 KiB
    # the parser accepts otherwise.
    def script(conn, req, n):
        lines = "".join(f"X-ClickHouse-Progress: {progress_json(i, i * 8, 5000, i)}\r\n" for i in range(5000))
        conn.sendall(head(req) + lines.encode())
        finish(conn)
        return "keep"

    updates = []
    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        assert cur.execute("SELECT 1", progress=updates.append).fetchall() == [(1,)]
    assert updates and updates[-1].read_rows == 4999  # coalesced: the latest at each wake-up
    assert [u.read_rows for u in updates] == sorted(u.read_rows for u in updates)


def stalled_script(conn, req, n):
    """One progress update, then the query "runs" on; answers KILL QUERY."""
    if b"KILL QUERY" in req:
        conn.sendall(http_response(b""))
        return "keep"
    conn.sendall(head(req) + f"X-ClickHouse-Progress: {STEPS[0]}\r\n".encode())
    time.sleep(3)  # the client gives up before
    return "close"


def assert_killed(srv, cur):
    """The pool slot is free and KILL QUERY went out for cur's query (the engine
    thread does both after the error)."""
    deadline = time.monotonic() + 10
    while (cur.connection.pool_stats()["in_use"] or not any(b"KILL QUERY" in r for r in srv.requests)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cur.connection.pool_stats()["in_use"] == 0
    kills = [r for r in srv.requests if b"KILL QUERY" in r]
    assert kills and cur.query_id.encode() in kills[0]


def test_callback_error_cancels_the_query():
    def on_progress(p):
        raise ValueError("enough")

    with FakeServer(stalled_script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port).cursor()
        with pytest.raises(chd.Error) as ei:
            cur.execute("SELECT 1", progress=on_progress)
        assert isinstance(ei.value.__cause__, ValueError)
        assert_killed(srv, cur)


# -- HTTP/2 through nginx ------------------------------------------------------------
# nginx reads an upstream's whole header section before it answers, so through it the
# updates arrive together with the result, in one HEADERS frame: the callback gets the
# latest one, and those it could take before (updates that come faster than the
# consumer reads them are coalesced).

def delivered_in_order(updates):
    expected = [Progress.parse(p) for p in STEPS]
    return bool(updates) and updates[-1] == expected[-1] and all(u in expected for u in updates) and \
        [expected.index(u) for u in updates] == sorted({expected.index(u) for u in updates})

def _h2_fake():
    for name in ("CHB_NGINX_DIR", "CHB_NGINX_H2_FAKE_PORT", "CHB_TLS_DIR"):
        if name not in os.environ:
            pytest.skip(f"{name} is not set: run through scripts/test.sh or tests/server/ctl.sh")
    env = os.environ

    def script(conn, req, n):
        conn.sendall(head(req) + "".join(f"X-ClickHouse-Progress: {p}\r\n" for p in STEPS).encode())
        finish(conn)
        return "keep"

    srv = FakeServer(script, unix_path=os.path.join(env["CHB_NGINX_DIR"], "fake.sock"))
    kw = dict(host="127.0.0.1", port=int(env["CHB_NGINX_H2_FAKE_PORT"]), secure=True, http2=True,
              ca_certs=os.path.join(env["CHB_TLS_DIR"], "ca.pem"), pool_name=uuid.uuid4().hex[:16])
    return srv, kw


def test_h2_through_nginx_sync():
    srv, kw = _h2_fake()
    with srv:
        conn = chd.connect(**kw)
        updates = []
        cur = conn.cursor()
        assert cur.execute("SELECT 1", progress=updates.append).fetchall() == [(1,)]
        assert conn.pool_stats()["h2_streams"] >= 1
    assert delivered_in_order(updates), updates
    assert cur.summary == Summary.parse(SUMMARY)



# -- the 18.16 server ---------------------------------------------------------------------

def test_server_query_id_in_processes_and_progress_asked_delivers_none(make_conn, _admin_conn):
    qid = f"progress-{uuid.uuid4().hex[:12]}"
    updates, errors = [], []
    cur = make_conn().cursor()

    def run():
        try:
            cur.execute("SELECT sleep(2)", query_id=qid, progress=updates.append)
            cur.fetchall()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    check = _admin_conn.cursor()
    found = []
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        check.execute("SELECT query_id FROM system.processes WHERE query_id = %s", [qid])
        found = check.fetchall()
    t.join()
    assert found == [(qid,)] and cur.query_id == qid
    assert errors == [] and updates == []   # 18.16 sends no progress headers
    assert not cur.summary and cur.summary.read_rows is None   # nor a summary


def test_progress_must_be_callable(cursor):
    with pytest.raises(chd.ProgrammingError, match="callable"):
        cursor.execute("SELECT 1", progress=42)
    assert cursor.execute("SELECT 1").fetchall() == [(1,)]  # the cursor is still usable


def test_error_carries_query_id(cursor):
    with pytest.raises(chd.DatabaseError) as ei:
        cursor.execute("SELECT no_such_column", query_id="progress-err-1", progress=lambda p: None)
    assert ei.value.query_id == "progress-err-1"


# -- chDB ---------------------------------------------------------------------------------

@requires_chdb
def test_embedded_progress_and_summary():
    cur = chd.connect(embedded=EMBEDDED).cursor()
    updates = []
    # interactive_delay: chDB reports every 20 ms instead of 100 (the query takes ~0.3 s)
    cur.execute("SELECT max(number * 7 % 1000003) FROM numbers(100000000)",
                settings={"max_threads": 1, "interactive_delay": 20000}, progress=updates.append)
    assert cur.fetchall() == [(1000002,)]
    assert len(updates) >= 3
    rows = [u.read_rows for u in updates]
    assert rows == sorted(rows) and rows[-1] == 100_000_000
    assert all(u.total_rows_to_read == 100_000_000 for u in updates)
    s = cur.summary
    assert (s.read_rows, s.read_bytes, s.result_rows) == (100_000_000, 800_000_000, 1)
    assert s.elapsed_ns > 0 and s.total_rows_to_read == 100_000_000
    cur.execute("SELECT 1")  # the chDB session went back without the callback
    assert cur.fetchall() == [(1,)] and cur.last_progress is None
