"""Several endpoints per connection (ext/hosts.c, driver/hosts.py): parsing, the
load-balancing policies, passive health with backoff, failover of reads and of
requests that were never sent, and INSERTs that are never silently repeated.
Dead endpoints are closed loopback ports (connection refused) and fake servers
(tests/fake_http.py) that take a request and hang up without an answer."""
import asyncio
import os
import socket
import threading
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from clickhouse_backend.driver.config import make_options
from clickhouse_backend.driver.hosts import parse_hosts
from tests.fake_http import NATIVE_SELECT_1, FakeServer, http_response


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: connects are refused at once
    return port


def answer_select_1(conn, req, n):
    conn.sendall(http_response(NATIVE_SELECT_1, headers=["Content-Type: application/octet-stream"]))
    return "keep"


def hang_up(conn, req, n):
    return "close"  # took the request, answered nothing


def live(server_params):
    return f"{server_params['host']}:{server_params['port']}"


def base_params(server_params):
    return {k: v for k, v in server_params.items() if k not in ("host", "port")}


# -- parsing ---------------------------------------------------------------------

def test_host_lists_parse_every_spelling():
    assert parse_hosts("a:1,b,[::1]:3, c:4", None, 8123) == [("a", 1), ("b", 8123), ("::1", 3), ("c", 4)]
    assert parse_hosts("x", ["a", ("b", 9), "c:7", "::1"], 8123) == [("a", 8123), ("b", 9), ("c", 7), ("::1", 8123)]
    o = make_options("clickhouse://u:p%40w@h1:9001,h2,h3:9003/db?load_balancing=round_robin&host_backoff=0.5")
    assert o.endpoints == [("h1", 9001), ("h2", 8123), ("h3", 9003)]
    assert (o.host, o.port, o.user, o.password, o.database) == ("h1", 9001, "u", "p@w", "db")
    assert o.load_balancing == "round_robin" and o.host_backoff == 0.5
    o = make_options(host="a:8124,b:8125")
    assert o.endpoints == [("a", 8124), ("b", 8125)] and (o.host, o.port) == ("a", 8124)
    assert make_options(host="single").endpoints == [("single", 8123)]


@pytest.mark.parametrize("kw, msg", [
    ({"host": "a,a"}, "listed twice"),
    ({"host": "a:0"}, "out of range"),
    ({"host": "a:x"}, "bad port"),
    ({"host": "a,,b"}, "empty host"),
    ({"hosts": [1]}, "not 1"),
    ({"host": "a", "load_balancing": "fastest"}, "load_balancing must be one of"),
    ({"host": "a", "host_backoff": 5, "host_backoff_max": 1}, "host_backoff_max"),
])
def test_bad_host_options_are_refused(kw, msg):
    with pytest.raises(chd.InterfaceError, match=msg):
        make_options(**kw)


# -- failover against the real server ----------------------------------------------

def test_read_fails_over_from_a_refusing_host(server_params):
    dead = closed_port()
    c = chd.connect(hosts=[f"127.0.0.1:{dead}", live(server_params)], load_balancing="in_order",
                    pool_name=uuid.uuid4().hex[:16], **base_params(server_params))
    cur = c.cursor()
    for i in range(20):
        cur.execute("SELECT %s", [i])
        assert cur.fetchall() == [(i,)]
    first, second = c.host_stats()
    assert first["port"] == dead and first["failures"] == 1 and first["failovers"] == 1
    assert 0 < first["down_for"] <= 1.0  # host_backoff 1 s, jittered to 50..100 %
    assert second["requests"] == 20 and second["failures"] == 0 and second["in_use"] == 0
    c.close()


def native_numbers(values):
    """A Native block of one UInt64 column "number" (as ClickHouse sends it)."""
    values = list(values)
    return bytes([1, len(values)]) + b"\x06number\x06UInt64" + b"".join(v.to_bytes(8, "little") for v in values)


FIRST_FIVE = native_numbers(range(5))  # a plausible first block of the query below
NUMBERS_SQL = "SELECT number FROM system.numbers LIMIT 10"


def first_block_then_silence(conn, req, n):
    """A host stopped (SIGSTOP) after it sent the first block, before the end."""
    head = ("HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Type: application/octet-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    conn.sendall(head + b"%x\r\n" % len(FIRST_FIVE) + FIRST_FIVE + b"\r\n")
    time.sleep(3)
    return "close"


def stalled_then(server_params, *hosts):
    stalled = FakeServer(first_block_then_silence)
    c = chd.connect(hosts=[f"127.0.0.1:{stalled.port}", *hosts], load_balancing="in_order",
                    pool_name=uuid.uuid4().hex[:16], **{**base_params(server_params), "send_receive_timeout": 0.5})
    return stalled, c


@pytest.mark.parametrize("fetch", ["fetchall", "fetchmany", "fetchnumpy", "columnar"])
def test_read_moves_when_its_host_stalls_after_execute_took_the_first_block(server_params, fetch):
    # execute() reads the first block (for `description`); no row has reached the
    # caller until a fetch returns, so the read still moves, and the rows the
    # stalled host sent are dropped, not returned twice
    stalled, c = stalled_then(server_params, live(server_params))
    cur = c.cursor()
    if fetch == "columnar":
        cur.set_query_execution_args(columnar=True)
    cur.execute(NUMBERS_SQL)
    assert cur.description[0][0] == "number"
    if fetch == "fetchall":
        got = cur.fetchall()
    elif fetch == "fetchmany":
        got = cur.fetchmany(8) + cur.fetchmany(8)
    elif fetch == "fetchnumpy":
        got = [(int(v),) for v in cur.fetchnumpy()["number"]]
    else:
        got = list(zip(*cur.fetchall()))
    assert got == [(i,) for i in range(10)]
    assert c.host_stats()[0]["failovers"] == 1 and c.host_stats()[1]["requests"] == 1
    c.close()
    stalled.close()


@pytest.mark.parametrize("fetch", ["fetchone", "iterate"])
def test_read_stays_once_a_row_reached_the_caller(server_params, fetch):
    stalled, c = stalled_then(server_params, live(server_params))
    cur = c.cursor()
    cur.execute(NUMBERS_SQL)
    got = []
    with pytest.raises(chd.OperationalError, match="send_receive_timeout"):
        if fetch == "fetchone":
            got.append(cur.fetchone())
            cur.fetchall()
        for row in cur:  # iteration hands over each block's rows as they come
            got.append(row)
    assert got == [(i,) for i in range(1 if fetch == "fetchone" else 5)]  # the first host's: it may not move now
    assert c.host_stats()[0]["failovers"] == 0 and c.host_stats()[1]["requests"] == 0
    c.close()
    stalled.close()


def test_a_moved_read_whose_new_answer_is_empty_returns_no_rows(server_params):
    # the second host ends its answer without a block: the first host's rows must not survive
    empty = FakeServer(lambda conn, req, n: conn.sendall(
        http_response(b"", headers=["Content-Type: application/octet-stream"])) or "keep")
    stalled, c = stalled_then(server_params, f"127.0.0.1:{empty.port}")
    cur = c.cursor()
    cur.execute(NUMBERS_SQL)
    assert cur.fetchall() == [] and cur.rowcount == 0
    assert len(empty.requests) == 1
    c.close()
    stalled.close()
    empty.close()


def test_async_read_moves_when_its_host_stalls_after_execute(server_params):
    stalled = FakeServer(first_block_then_silence)

    async def main():
        c = await chd.connect_async(hosts=[f"127.0.0.1:{stalled.port}", live(server_params)],
                                    load_balancing="in_order", pool_name=uuid.uuid4().hex[:16],
                                    **{**base_params(server_params), "send_receive_timeout": 0.5})
        cur = c.cursor()
        await cur.execute(NUMBERS_SQL)
        rows = await cur.fetchall()
        stats = c.host_stats()
        await c.close()
        return rows, stats

    rows, stats = asyncio.run(main())
    assert rows == [(i,) for i in range(10)] and stats[0]["failovers"] == 1
    stalled.close()


def test_every_host_down_is_one_clear_error(server_params):
    a, b = closed_port(), closed_port()
    c = chd.connect(hosts=[f"127.0.0.1:{a}", f"127.0.0.1:{b}"], pool_name=uuid.uuid4().hex[:16],
                    **base_params(server_params))
    with pytest.raises(chd.OperationalError, match="every one of the 2 hosts failed"):
        c.cursor().execute("SELECT 1")
    assert [h["failures"] for h in c.host_stats()] == [1, 1]


def test_insert_that_was_never_sent_moves_and_lands_once(server_params, scratch_db, _admin_conn):
    adm = _admin_conn.cursor()
    adm.execute(f"CREATE TABLE {scratch_db}.t (x UInt32) ENGINE = MergeTree ORDER BY x")
    dead = closed_port()
    c = chd.connect(hosts=[f"127.0.0.1:{dead}", live(server_params)], load_balancing="in_order",
                    pool_name=uuid.uuid4().hex[:16], **base_params(server_params))
    c.cursor().execute(f"INSERT INTO {scratch_db}.t VALUES", [(7,)])
    adm.execute(f"SELECT x FROM {scratch_db}.t")
    assert adm.fetchall() == [(7,)]
    assert c.host_stats()[0]["failovers"] == 1


def test_insert_sent_without_answer_is_not_repeated(server_params, scratch_db, _admin_conn):
    adm = _admin_conn.cursor()
    adm.execute(f"CREATE TABLE {scratch_db}.t (x UInt32) ENGINE = MergeTree ORDER BY x")
    with FakeServer(hang_up) as fake:
        # host_backoff=0: the hanging-up host is never skipped, so both statements meet it first
        c = chd.connect(hosts=[f"127.0.0.1:{fake.port}", live(server_params)], load_balancing="in_order",
                        host_backoff=0, pool_name=uuid.uuid4().hex[:16], **base_params(server_params))
        cur = c.cursor()
        with pytest.raises(chd.OperationalError, match="may have been applied there: it was not retried on another"):
            cur.execute(f"INSERT INTO {scratch_db}.t VALUES", [(1,)])
        assert sum(b"INSERT INTO" in r for r in fake.requests) == 1
        adm.execute(f"SELECT count() FROM {scratch_db}.t")
        assert adm.fetchall() == [(0,)]  # not repeated on the healthy host
        # a read that got no answer is repeated on the other host
        cur.execute("SELECT 42")
        assert cur.fetchall() == [(42,)]
        assert any(b"SELECT 42" in r for r in fake.requests)
        c.close()


def test_backoff_doubles_with_jitter_and_resets_on_answer(server_params):
    dead = closed_port()
    c = chd.connect(hosts=[f"127.0.0.1:{dead}", live(server_params)], load_balancing="in_order",
                    host_backoff=0.2, host_backoff_max=0.8, pool_name=uuid.uuid4().hex[:16],
                    **base_params(server_params))
    cur = c.cursor()
    seen = []
    for expected_max in (0.2, 0.4, 0.8, 0.8):
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
        down = c.host_stats()[0]["down_for"]
        assert 0.5 * expected_max * 0.9 <= down <= expected_max, (expected_max, down)
        seen.append(down)
        # while it is down, reads skip it without trying it
        failures = c.host_stats()[0]["failures"]
        cur.execute("SELECT 1")
        cur.fetchall()
        assert c.host_stats()[0]["failures"] == failures
        time.sleep(down + 0.02)
    assert c.host_stats()[0]["failures"] == 4


# -- balancing over fake endpoints -------------------------------------------------

@pytest.fixture
def fakes():
    servers = [FakeServer(answer_select_1) for _ in range(4)]
    yield servers
    for s in servers:
        s.close()


def run_selects(c, n):
    cur = c.cursor()
    for _ in range(n):
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]


def in_threads(work, n):
    """Run work() in n threads at once; the exceptions they raised."""
    errors = []

    def run():
        try:
            work()
        except Exception as e:  # noqa: BLE001 - returned to the test
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def counts(fakes):
    return [len(s.requests) for s in fakes]


def host_header(req):
    for line in req.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"host":
            return value.strip().decode()
    return None


def test_a_failed_over_read_names_the_host_it_is_sent_to():
    # Host is written per connection from the request's parts, not fixed when the
    # client was made: the second host must not be told it is the first
    with FakeServer(hang_up) as first, FakeServer(answer_select_1) as second:
        c = chd.connect(hosts=[f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"], load_balancing="in_order",
                        pool_name=uuid.uuid4().hex[:16], user="u", password="secret-pw")
        cur = c.cursor()
        cur.execute("SELECT 1", settings={"max_threads": 2})
        assert cur.fetchall() == [(1,)]
        assert [host_header(r) for r in first.requests] == [f"127.0.0.1:{first.port}"]
        assert [host_header(r) for r in second.requests] == [f"127.0.0.1:{second.port}"]
        # the same request otherwise: its target (query id, settings) and credentials
        a, b = first.requests[0], second.requests[0]
        assert a.split(b"\r\n")[0] == b.split(b"\r\n")[0]
        assert b"max_threads=2" in a.split(b"\r\n")[0] and cur.query_id.encode() in a.split(b"\r\n")[0]
        assert b"Authorization: Basic dTpzZWNyZXQtcHc=\r\n" in b
        c.close()


def test_in_order_uses_the_first_host(fakes):
    c = chd.connect(hosts=[f"127.0.0.1:{s.port}" for s in fakes], load_balancing="in_order",
                    pool_name=uuid.uuid4().hex[:16])
    run_selects(c, 20)
    assert counts(fakes) == [20, 0, 0, 0]


def test_round_robin_spreads_evenly(fakes):
    c = chd.connect(hosts=[f"127.0.0.1:{s.port}" for s in fakes], load_balancing="round_robin",
                    pool_name=uuid.uuid4().hex[:16])
    run_selects(c, 40)
    assert counts(fakes) == [10, 10, 10, 10]


def test_random_reaches_every_host(fakes):
    c = chd.connect(hosts=[f"127.0.0.1:{s.port}" for s in fakes], load_balancing="random",
                    pool_name=uuid.uuid4().hex[:16])
    run_selects(c, 200)
    got = counts(fakes)
    assert sum(got) == 200 and min(got) >= 20, got  # P(a host < 20 of 200 at p=1/4) ~ 1e-9


def test_first_or_random_leaves_the_first_only_when_it_is_down(fakes):
    dead = closed_port()
    c = chd.connect(hosts=[f"127.0.0.1:{s.port}" for s in fakes], load_balancing="first_or_random",
                    pool_name=uuid.uuid4().hex[:16])
    run_selects(c, 10)
    assert counts(fakes) == [10, 0, 0, 0]
    c2 = chd.connect(hosts=[f"127.0.0.1:{dead}"] + [f"127.0.0.1:{s.port}" for s in fakes[1:]],
                     load_balancing="first_or_random", pool_name=uuid.uuid4().hex[:16])
    run_selects(c2, 90)
    got = counts(fakes)[1:]
    assert sum(got) == 90 and min(got) >= 10, got


def test_a_host_at_its_cap_sends_requests_to_the_others(server_params):
    # the same server under two names: two endpoints, pool_size 1 each
    c = chd.connect(hosts=[live(server_params), f"localhost:{server_params['port']}"], load_balancing="in_order",
                    pool_size=1, pool_name=uuid.uuid4().hex[:16], **base_params(server_params))

    def work():
        cur = c.cursor()
        for _ in range(3):
            cur.execute("SELECT sleep(0.1)")
            cur.fetchall()

    assert in_threads(work, 4) == []
    a, b = c.host_stats()
    assert a["peak_open"] == 1 and b["peak_open"] == 1
    assert a["requests"] > 0 and b["requests"] > 0 and a["requests"] + b["requests"] == 12


def test_simulated_deployment_of_50_endpoints():
    """50 endpoints: 35 answer, 10 refuse connections, 5 take requests and hang up.
    1,000 reads from 16 threads: none fails, every healthy endpoint serves some,
    none exceeds its cap, and the bad ones are tried only a few times each."""
    good = [FakeServer(answer_select_1) for _ in range(35)]
    hangers = [FakeServer(hang_up) for _ in range(5)]
    refused = [closed_port() for _ in range(10)]
    try:
        endpoints = [f"127.0.0.1:{s.port}" for s in good + hangers] + [f"127.0.0.1:{p}" for p in refused]
        c = chd.connect(hosts=endpoints, load_balancing="random", pool_size=2, host_backoff=5,
                        pool_name=uuid.uuid4().hex[:16])
        errors = in_threads(lambda: run_selects(c, 1000 // 16 + 1), 16)
        assert not errors, errors[:3]
        stats = {h["port"]: h for h in c.host_stats()}
        assert all(h["peak_open"] <= 2 for h in stats.values())
        served = [len(s.requests) for s in good]
        assert sum(served) == 16 * (1000 // 16 + 1) and min(served) > 0, served
        for port in [s.port for s in hangers] + refused:
            h = stats[port]
            # failed once, then skipped for its 2.5..5 s backoff (a few concurrent
            # requests may have picked it before the first failure was known)
            assert 1 <= h["failures"] <= 4 and h["down_for"] > 0, h
        assert all(len(s.requests) <= 4 for s in hangers)
    finally:
        for s in good + hangers:
            s.close()


def test_async_reads_fail_over(server_params):
    dead = closed_port()

    async def main():
        c = await chd.connect_async(hosts=[f"127.0.0.1:{dead}", live(server_params)], load_balancing="round_robin",
                                    pool_name=uuid.uuid4().hex[:16], **base_params(server_params))

        async def one(i):
            cur = c.cursor()
            await cur.execute("SELECT %s", [i])
            return await cur.fetchall()

        got = await asyncio.gather(*(one(i) for i in range(300)))
        assert got == [[(i,)] for i in range(300)]
        stats = c.host_stats()
        await c.close()
        return stats

    first, second = asyncio.run(main())
    assert first["failures"] >= 1 and second["requests"] >= 300


# -- names whose addresses change ------------------------------------------------------

class EtcHosts:
    """Lines of our own in /etc/hosts (glibc reads it on every lookup), removed on exit."""

    def __init__(self):
        self.tag = "chb-dns-" + uuid.uuid4().hex[:10]
        self.lines = []

    def set(self, *addresses):
        with open("/etc/hosts") as f:
            kept = [line for line in f.read().splitlines() if not line.endswith(" " + self.tag)]
        kept += [f"{a} {self.tag}" for a in addresses]
        with open("/etc/hosts", "w") as f:  # in place: /etc/hosts may be a mount point
            f.write("\n".join(kept) + "\n")

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.set()


@pytest.mark.skipif(not os.access("/etc/hosts", os.W_OK), reason="needs a writable /etc/hosts")
def test_a_name_whose_address_changes_is_followed():
    a = FakeServer(answer_select_1, host="127.0.0.2")
    b = FakeServer(answer_select_1, host="127.0.0.3", port=a.port)
    try:
        with EtcHosts() as names:
            names.set("127.0.0.2")
            c = chd.connect(host=names.tag, port=a.port, dns_refresh=0.2, pool_name=uuid.uuid4().hex[:16])
            run_selects(c, 5)
            assert (len(a.requests), len(b.requests)) == (5, 0)
            names.set("127.0.0.3")
            deadline = time.monotonic() + 5
            while not b.requests and time.monotonic() < deadline:
                run_selects(c, 1)
                time.sleep(0.05)
            assert b.requests, "the new address was never used"
            before = len(a.requests)
            run_selects(c, 10)
            assert len(a.requests) == before  # the old address is no longer used
            assert c.pool_stats()["open"] == 1  # its idle connection was closed
            # every address of a name is used: the first one refusing, the second serves
            names.set(f"127.0.0.{4}", "127.0.0.3")
            time.sleep(0.3)
            run_selects(c, 3)
            deadline = time.monotonic() + 5
            while c.host_stats()[0]["addresses"] != 2 and time.monotonic() < deadline:
                run_selects(c, 1)
                time.sleep(0.05)
            assert c.host_stats()[0]["addresses"] == 2
            n = len(b.requests)
            run_selects(c, 5)
            assert len(b.requests) == n + 5
            c.close()
    finally:
        a.close()
        b.close()


# -- opt-in: INSERTs into Replicated tables, made safe by server-side deduplication ----

def forward_then_hang_up(live_port):
    """A host that hands the request to the real server, waits until the server has
    answered (so the INSERT is applied), and hangs up without passing the answer on."""
    def script(conn, req, n):
        with socket.create_connection(("127.0.0.1", live_port), timeout=10) as up:
            up.sendall(req)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = up.recv(65536)
                if not chunk:
                    break
                got += chunk
        return "close"
    return script


@pytest.fixture
def replicated_table(server_params, scratch_db, _admin_conn):
    if not os.environ.get("CHB_ZOOKEEPER_PORT"):
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs the ZooKeeper of tests/server/ctl.sh")
    adm = _admin_conn.cursor()
    adm.execute(f"CREATE TABLE {scratch_db}.r (x UInt32) ENGINE = ReplicatedMergeTree("
                f"'/clickhouse/tables/{{shard}}/{scratch_db}_r', '{{replica}}') ORDER BY x")
    return f"{scratch_db}.r", adm


@pytest.mark.parametrize("opt_in", [False, True])
def test_replicated_insert_retry_is_opt_in_and_deduplicated(server_params, replicated_table, opt_in):
    table, adm = replicated_table
    with FakeServer(forward_then_hang_up(server_params["port"])) as fake:
        c = chd.connect(hosts=[f"127.0.0.1:{fake.port}", live(server_params)], load_balancing="in_order",
                        host_backoff=0, retry_replicated_inserts=opt_in, pool_name=uuid.uuid4().hex[:16],
                        **base_params(server_params))
        cur = c.cursor()
        if opt_in:
            # applied through the first host, no answer; sent again to the second, where
            # the server recognises the block: stored once
            cur.executemany(f"INSERT INTO {table} VALUES", [(1,), (2,), (3,)])
        else:
            with pytest.raises(chd.OperationalError, match="may have been applied there"):
                cur.executemany(f"INSERT INTO {table} VALUES", [(1,), (2,), (3,)])
        assert sum(b"INSERT INTO" in r for r in fake.requests) == 1
        adm.execute(f"SELECT x FROM {table} ORDER BY x")
        assert adm.fetchall() == [(1,), (2,), (3,)]  # applied once either way
        c.close()


def test_replicated_insert_retry_leaves_other_tables_alone(server_params, scratch_db, _admin_conn):
    adm = _admin_conn.cursor()
    adm.execute(f"CREATE TABLE {scratch_db}.m (x UInt32) ENGINE = MergeTree ORDER BY x")
    with FakeServer(forward_then_hang_up(server_params["port"])) as fake:
        c = chd.connect(hosts=[f"127.0.0.1:{fake.port}", live(server_params)], load_balancing="in_order",
                        host_backoff=0, retry_replicated_inserts=True, pool_name=uuid.uuid4().hex[:16],
                        **base_params(server_params))
        with pytest.raises(chd.OperationalError, match="may have been applied there"):
            c.cursor().executemany(f"INSERT INTO {scratch_db}.m VALUES", [(1,)])
        adm.execute(f"SELECT count() FROM {scratch_db}.m")
        assert adm.fetchall() == [(1,)]  # applied by the first host, not repeated: no duplicate
        c.close()


# -- active checks -----------------------------------------------------------------------

class Switchable:
    """A fake node whose /ping and /replicas_status answers the test changes."""

    def __init__(self):
        self.status = "200 OK"
        self.delay = 0
        self.server = FakeServer(self.script)
        self.port = self.server.port

    def script(self, conn, req, n):
        line = req.split(b"\r\n", 1)[0]
        if line.startswith(b"GET /ping"):
            conn.sendall(http_response(b"Ok.\n", status=self.status))
        elif line.startswith(b"GET /replicas_status"):
            body = f"db.t:\tAbsolute delay: {self.delay}. Relative delay: {self.delay}.\n".encode()
            conn.sendall(http_response(body, status="200 OK" if self.delay < 300 else "503 Service Unavailable"))
        else:
            answer_select_1(conn, req, n)
        return "keep"

    def checks(self):
        return [r for r in self.server.requests if r.startswith(b"GET ")]


def wait_for(cond, timeout=5):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def test_ping_checks_mark_a_host_down_and_up_without_queries():
    a, b = Switchable(), Switchable()
    try:
        c = chd.connect(hosts=[f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], load_balancing="in_order",
                        health_check="ping", health_check_interval=0.1, host_backoff=10,
                        pool_name=uuid.uuid4().hex[:16])
        assert wait_for(lambda: len(a.checks()) >= 2 and len(b.checks()) >= 2)
        assert all(r.startswith(b"GET /ping HTTP/1.1") for r in a.checks())
        a.status = "503 Service Unavailable"
        assert wait_for(lambda: c.host_stats()[0]["down_for"] > 0)
        assert c.host_stats()[0]["check_failures"] >= 1
        run_selects(c, 5)  # in_order, but the first host is down: the second serves
        assert sum(b"SELECT 1" in r for r in b.server.requests) == 5
        a.status = "200 OK"  # the next check brings it back long before its 10 s backoff
        assert wait_for(lambda: c.host_stats()[0]["down_for"] == 0)
        run_selects(c, 3)
        assert sum(b"SELECT 1" in r for r in a.server.requests) == 3
        c.close()
        sent = len(a.checks())
        time.sleep(0.4)
        assert len(a.checks()) <= sent + 1  # closing the connection stops its checks
    finally:
        a.server.close()
        b.server.close()


def test_replicas_status_check_skips_a_lagging_replica():
    a, b = Switchable(), Switchable()
    try:
        c = chd.connect(hosts=[f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"], load_balancing="in_order",
                        health_check="replicas_status", max_replica_delay=60, health_check_interval=0.1,
                        pool_name=uuid.uuid4().hex[:16])
        assert wait_for(lambda: len(a.checks()) >= 1)
        assert a.checks()[0].startswith(b"GET /replicas_status?verbose=1 HTTP/1.1")
        a.delay = 120  # more than max_replica_delay, though the server still answers 200
        assert wait_for(lambda: c.host_stats()[0]["down_for"] > 0)
        run_selects(c, 4)
        assert sum(b"SELECT 1" in r for r in b.server.requests) == 4
        a.delay = 5
        assert wait_for(lambda: c.host_stats()[0]["down_for"] == 0)
        c.close()
    finally:
        a.server.close()
        b.server.close()


def test_health_check_option_is_checked():
    with pytest.raises(chd.InterfaceError, match="health_check must be"):
        make_options(host="a", health_check="tcp")
    with pytest.raises(chd.InterfaceError, match="health_check_interval"):
        make_options(host="a", health_check="ping", health_check_interval=0)


# -- liveness probe: a host that accepts but never answers (SIGSTOP, a hung server) ----

CT = 0.6  # connect_timeout of these tests; send_receive_timeout stays long, so the probe decides
# (ext/hosts.h): a silent host is pinged after CT/2 of silence, the ping has CT/4 to answer,
# a pending connect gives way to another host after CT/2; every failover is served within CT
PROBE_AFTER, PROBE_WAIT, HEDGE_AFTER = CT / 2, CT / 4, CT / 2


def silent(conn, req, n):
    """A stopped server: the kernel accepts and takes the bytes, nothing ever answers (/ping neither)."""
    time.sleep(6)
    return "close"


def slow_query_live_ping(conn, req, n):
    """A live server running a long query: /ping answers at once, the query after 4 x CT."""
    if req.startswith(b"GET /ping"):
        conn.sendall(http_response(b"Ok.\n"))
    else:
        time.sleep(4 * CT)
        answer_select_1(conn, req, n)
    return "keep"


def probe_params(server_params, fake, **kw):
    return dict(hosts=[f"127.0.0.1:{fake.port}", live(server_params)], load_balancing="in_order",
                pool_name=uuid.uuid4().hex[:16],
                **{**base_params(server_params), "connect_timeout": CT, "send_receive_timeout": 10, **kw})


def sent(fake, what):
    return sum(what in r for r in fake.requests)


def test_a_silent_host_is_probed_and_left_within_connect_timeout(server_params):
    with FakeServer(silent) as fake:
        c = chd.connect(**probe_params(server_params, fake))
        cur = c.cursor()
        qid = uuid.uuid4().hex
        t0 = time.monotonic()
        cur.execute("SELECT 1", query_id=qid)
        assert cur.fetchall() == [(1,)]
        took = time.monotonic() - t0
        # CT/2 of silence, CT/4 for the unanswered /ping, then SELECT 1 on the live host
        assert PROBE_AFTER + PROBE_WAIT <= took < CT, took
        assert sent(fake, b"SELECT 1") == 1 and sent(fake, b"GET /ping") == 1
        first = c.host_stats()[0]
        assert first["pings"] == 1 and first["pings_unanswered"] == 1 and first["failovers"] == 1
        assert first["down_for"] > 0
        # the read may still run there once the host resumes: the KILL QUERY copy goes to it
        assert wait_for(lambda: sent(fake, b"KILL QUERY") >= 1)
        assert qid.encode() in next(r for r in fake.requests if b"KILL QUERY" in r)
        c.close()


def test_a_slow_host_that_answers_ping_is_waited_for(server_params):
    with FakeServer(slow_query_live_ping) as fake:
        c = chd.connect(**probe_params(server_params, fake))
        cur = c.cursor()
        t0 = time.monotonic()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
        assert time.monotonic() - t0 >= 4 * CT
        first, second = c.host_stats()
        assert first["pings"] >= 1 and first["pings_unanswered"] == 0  # alive: one ping per CT/2 of silence
        assert first["failovers"] == 0 and first["down_for"] == 0 and second["requests"] == 0
        assert sent(fake, b"SELECT 1") == 1 and sent(fake, b"KILL QUERY") == 0  # no duplicate, nothing killed
        c.close()


def test_an_insert_on_a_silent_host_fails_clearly_once(server_params, scratch_db, _admin_conn):
    adm = _admin_conn.cursor()
    adm.execute(f"CREATE TABLE {scratch_db}.t (x UInt32) ENGINE = MergeTree ORDER BY x")
    with FakeServer(silent) as fake:
        # host_backoff=0: the silent host is never skipped, so the INSERT meets it (after
        # the DESCRIBE that learns the columns, a read, left it for the other host)
        c = chd.connect(**probe_params(server_params, fake, host_backoff=0))
        cur = c.cursor()
        t0 = time.monotonic()
        with pytest.raises(chd.OperationalError, match="did not answer a /ping.*may have been applied there"):
            cur.execute(f"INSERT INTO {scratch_db}.t VALUES", [(1,)])
        assert time.monotonic() - t0 < 2 * CT
        assert sent(fake, b"DESCRIBE") == 1 and sent(fake, b"GET /ping") == 2
        assert sent(fake, b"INSERT INTO") == 1
        adm.execute(f"SELECT count() FROM {scratch_db}.t")
        assert adm.fetchall() == [(0,)]  # not repeated on the healthy host
        c.close()


def test_connect_timeout_0_turns_the_probe_off(server_params):
    with FakeServer(silent) as fake:
        c = chd.connect(**probe_params(server_params, fake, connect_timeout=0, send_receive_timeout=1))
        cur = c.cursor()
        t0 = time.monotonic()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
        # the send/receive timeout found it, no ping was sent (libevent times from its loop's
        # cached clock, which may be read a little before t0: seen 0.9997 s on a loaded machine)
        assert time.monotonic() - t0 >= 0.9
        assert sent(fake, b"GET /ping") == 0 and c.host_stats()[0]["pings"] == 0
        c.close()


async def twenty_async_reads(params):
    """20 concurrent async reads on one connection: their rows, the time they took, host_stats()."""
    c = await chd.connect_async(**params)

    async def one(i):
        cur = c.cursor()
        await cur.execute("SELECT %s", [i])
        return await cur.fetchall()

    t0 = time.monotonic()
    got = await asyncio.gather(*(one(i) for i in range(20)))
    took = time.monotonic() - t0
    stats = c.host_stats()
    await c.close()
    return got, took, stats


def test_async_reads_leave_a_silent_host_within_connect_timeout(server_params):
    with FakeServer(silent) as fake:
        got, took, (first, _) = asyncio.run(twenty_async_reads(probe_params(server_params, fake)))
    assert got == [[(i,)] for i in range(20)]
    assert took < CT, took
    assert first["pings"] == 1  # one ping for every request silent on the host


def test_an_h2_stream_on_a_silent_host_moves_within_connect_timeout():
    # nginx (TLS, h2) in front of a silent fake, and nginx in front of the real server:
    # the silent stream is reset, the ping went on an HTTP/1.1 kill connection
    for name in ("CHB_NGINX_DIR", "CHB_NGINX_H2_FAKE_PORT", "CHB_NGINX_H2_PORT", "CHB_TLS_DIR"):
        if name not in os.environ:
            pytest.skip(f"{name} is not set: run through scripts/test.sh or tests/server/ctl.sh")
    env = os.environ
    with FakeServer(silent, unix_path=os.path.join(env["CHB_NGINX_DIR"], "fake.sock")) as fake:
        c = chd.connect(hosts=[f"127.0.0.1:{env['CHB_NGINX_H2_FAKE_PORT']}", f"127.0.0.1:{env['CHB_NGINX_H2_PORT']}"],
                        load_balancing="in_order", secure=True, http2=True,
                        ca_certs=os.path.join(env["CHB_TLS_DIR"], "ca.pem"), pool_name=uuid.uuid4().hex[:16],
                        connect_timeout=CT, send_receive_timeout=10)
        cur = c.cursor()
        t0 = time.monotonic()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
        took = time.monotonic() - t0
        assert took < CT, took
        first, second = c.host_stats()
        assert first["pings"] == 1 and first["pings_unanswered"] == 1 and first["failovers"] == 1
        assert sent(fake, b"SELECT 1") == 1 and sent(fake, b"GET /ping") == 1
        assert c.pool_stats()["h2_streams"] >= 1
        c.close()


# -- the connect hedge: a host cut off (its SYNs dropped: connects time out) -----------

class BlackHole:
    """A port whose connects hang like a host behind iptables DROP: it listens with a
    backlog of 0 and one connection fills that, so the kernel drops every further SYN."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=1)

    def __enter__(self):
        probe = socket.socket()
        probe.settimeout(0.2)
        with pytest.raises(socket.timeout):  # the SYN really is dropped
            probe.connect(("127.0.0.1", self.port))
        probe.close()
        return self

    def __exit__(self, *a):
        self.filler.close()
        self.sock.close()


def hole_params(server_params, hole, **kw):
    return dict(hosts=[f"127.0.0.1:{hole.port}", live(server_params)], load_balancing="in_order",
                pool_name=uuid.uuid4().hex[:16],
                **{**base_params(server_params), "connect_timeout": CT, "send_receive_timeout": 10, **kw})


def test_a_read_leaves_a_host_whose_connect_hangs_within_connect_timeout(server_params):
    with BlackHole() as hole:
        c = chd.connect(**hole_params(server_params, hole))
        cur = c.cursor()
        t0 = time.monotonic()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
        took = time.monotonic() - t0
        # CT/2 of the pending connect, then SELECT 1 on the live host (not CT, then the retry)
        assert HEDGE_AFTER <= took < CT, took
        first, second = c.host_stats()
        assert first["failovers"] == 1 and second["requests"] == 1
        # the connect went on without the read: it times out at CT and marks the host down
        assert wait_for(lambda: c.host_stats()[0]["failures"] == 1)
        first = c.host_stats()[0]
        assert first["down_for"] > 0 and first["open"] == 0 and first["in_use"] == 0
        # the next query skips the host: no wait at all
        t0 = time.monotonic()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)] and time.monotonic() - t0 < HEDGE_AFTER
        c.close()


def test_an_insert_whose_connect_hangs_moves_and_lands_once(server_params, scratch_db, _admin_conn):
    adm = _admin_conn.cursor()
    adm.execute(f"CREATE TABLE {scratch_db}.t (x UInt32) ENGINE = MergeTree ORDER BY x")
    with BlackHole() as hole:
        # host_backoff=0: the host is never skipped, so the INSERT meets its connect too
        c = chd.connect(**hole_params(server_params, hole, host_backoff=0))
        cur = c.cursor()
        t0 = time.monotonic()
        cur.execute(f"INSERT INTO {scratch_db}.t VALUES", [(7,)])  # never sent to the hole: it may move
        assert time.monotonic() - t0 < 2 * CT  # the DESCRIBE that learns the columns, then the INSERT
        assert c.host_stats()[0]["failovers"] == 2
        adm.execute(f"SELECT x FROM {scratch_db}.t")
        assert adm.fetchall() == [(7,)]
        c.close()


def test_async_reads_leave_a_host_whose_connect_hangs_within_connect_timeout(server_params):
    with BlackHole() as hole:
        got, took, (first, second) = asyncio.run(twenty_async_reads(hole_params(server_params, hole)))
    assert got == [[(i,)] for i in range(20)]
    assert took < CT, took
    assert first["failovers"] >= 1 and second["requests"] >= 20


def trickle_with_late_ping(conn, req, n):
    """A live host behind a congested link: its answer comes in pieces with gaps longer
    than CT/2 (so a ping goes out), and its /ping answer is later than CT/4."""
    if req.startswith(b"GET /ping"):
        time.sleep(CT)
        conn.sendall(http_response(b"Ok.\n"))
        return "keep"
    whole = http_response(NATIVE_SELECT_1, headers=["Content-Type: application/octet-stream"])
    head, body = whole[:-len(NATIVE_SELECT_1)], NATIVE_SELECT_1
    conn.sendall(head)
    third = len(body) // 3
    for piece in (body[:third], body[third:2 * third], body[2 * third:]):
        time.sleep(0.7 * CT)
        conn.sendall(piece)
    return "keep"


def test_a_late_ping_while_the_host_sends_bytes_is_not_a_dead_host(server_params):
    with FakeServer(trickle_with_late_ping) as fake:
        c = chd.connect(**probe_params(server_params, fake))
        cur = c.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
        first, second = c.host_stats()
        assert first["pings"] >= 1  # the gaps were long enough to ask
        # the ping was late, but bytes came meanwhile: alive, not marked down, not left
        assert first["pings_unanswered"] == 0 and first["failures"] == 0 and first["down_for"] == 0
        assert first["failovers"] == 0 and second["requests"] == 0
        c.close()
