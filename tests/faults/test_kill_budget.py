"""The driver's own KILL QUERY requests (sent after a timeout or a cancellation)
run on a small budget of their own, with a short deadline: they never take a slot
from a user query nor go before one, and when the server does not answer they are
parked and sent again once it does (bounded), not dropped. A query that never got a connection fails with PoolTimeout, saying so.
Scenarios of issue 14 §1: a server that accepts and never answers, a server that
trickles, a SIGSTOPped server; and kills still reach a healthy server."""
import asyncio
import threading
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.faults.conftest import unique_pool, wait_for
from tests.faults.proxy import FaultProxy

KILL_SECONDS = 3.0  # ext/exchange.c: a kill that gets no answer within this is given up


def pool(**kw):
    return unique_pool("kill", **kw)


def timed(cur, sql):
    t0 = time.monotonic()
    with pytest.raises(chd.OperationalError) as ei:
        cur.execute(sql)
        cur.fetchall()
    return time.monotonic() - t0, ei.value


def test_kills_never_delay_user_queries_on_a_silent_server(server_params):
    # accepts, reads the request, never answers: every query and every kill times out
    with FaultProxy(server_params["port"], default="stall") as px:
        conn = chd.connect(host="127.0.0.1", port=px.port,
                           **pool(pool_size=1, send_receive_timeout=1, pool_timeout=30))
        cur = conn.cursor()
        for i in range(4):
            elapsed, err = timed(cur, f"SELECT {i}")
            # its own send_receive_timeout only: no kill went before it on the one slot
            assert 0.9 < elapsed < 1.8, (i, elapsed, str(err))
            assert "send_receive_timeout" in str(err), str(err)
            # kills hold no user slot
            assert wait_for(lambda: conn.pool_stats()["open"] == 0, 0.5), conn.pool_stats()
        # (the engine sends the kill just after it wakes the consumer)
        assert wait_for(lambda: conn.pool_stats()["kills"] == 4, 0.5), conn.pool_stats()
        assert conn.pool_stats()["kill_open"] <= 2
        # each kill gives up within its own deadline, never send_receive_timeout's 300 s
        assert wait_for(lambda: conn.pool_stats()["kill_open"] == 0, KILL_SECONDS + 2), conn.pool_stats()


def test_trickling_server_timeouts_do_not_fill_the_pool(server_params):
    with FaultProxy(server_params["port"], default="trickle") as px:
        px.trickle_delay = 0.3  # one byte every 0.3 s: the kills' answers trickle too
        conn = chd.connect(host="127.0.0.1", port=px.port,
                           **pool(pool_size=2, query_timeout=3, pool_timeout=2))
        errors = []

        def one(i):
            try:
                conn.cursor().execute(f"SELECT {i}").fetchall()
            except chd.Error as e:
                errors.append(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(errors) == 2 and all("exceeded query_timeout" in str(e) for e in errors), errors
        # the two kills now trickle on their own connections; the pool is free at once
        elapsed, err = timed(conn.cursor(), "SELECT 3")
        assert not isinstance(err, chd.PoolTimeout), str(err)
        assert "exceeded query_timeout=3" in str(err) and 2.9 < elapsed < 4.5, (elapsed, str(err))
        # (the engine frees the slot just after it wakes the consumer)
        assert wait_for(lambda: conn.pool_stats()["in_use"] == 0 and conn.pool_stats()["kills"] == 3, 0.5), \
            conn.pool_stats()


def test_query_that_never_got_a_connection_is_a_pool_timeout(server_params):
    with FaultProxy(server_params["port"], default="stall") as px:
        name = "kill-" + uuid.uuid4().hex[:10]
        holder = chd.connect(host="127.0.0.1", port=px.port, pool_name=name, pool_size=1, send_receive_timeout=4)
        slow = chd.connect(host="127.0.0.1", port=px.port, pool_name=name, pool_size=1, pool_timeout=30,
                           query_timeout=1)
        t = threading.Thread(target=lambda: timed(holder.cursor(), "SELECT 1"), daemon=True)
        t.start()
        assert wait_for(lambda: holder.pool_stats()["in_use"] == 1)
        t0 = time.monotonic()
        with pytest.raises(chd.PoolTimeout) as ei:
            slow.cursor().execute("SELECT 2")
        assert 0.9 < time.monotonic() - t0 < 1.8
        msg = str(ei.value)
        assert "query_timeout=1" in msg and "not sent" in msg and "cancelled" not in msg, msg
        assert slow.pool_stats()["kills"] == 0  # nothing was sent, nothing to kill
        t.join(10)


def test_sigstopped_server_kills_hold_no_slot(private_server):
    if not private_server.ping():
        private_server.restart()
    conn = chd.connect(**private_server.params(**pool(pool_size=2, query_timeout=2, pool_timeout=30)))
    cur = conn.cursor()
    assert cur.execute("SELECT 1").fetchall() == [(1,)]
    private_server.freeze()
    try:
        for i in range(5):
            elapsed, err = timed(cur, f"SELECT {i}")
            assert 1.9 < elapsed < 3, (i, elapsed, str(err))
            # it was sent (the kernel accepts connections for a stopped server) and cancelled
            assert "exceeded query_timeout=2s and was cancelled" in str(err), (i, str(err))
            assert wait_for(lambda: conn.pool_stats()["in_use"] == 0, 0.5), (i, conn.pool_stats())
        assert wait_for(lambda: conn.pool_stats()["kills"] == 5, 0.5), conn.pool_stats()
        assert conn.pool_stats()["kill_open"] <= 2
        # the stopped server answers no kill: each gives up, the queue behind it is parked
        assert wait_for(lambda: conn.pool_stats()["kill_open"] == 0, 2 * KILL_SECONDS + 2), conn.pool_stats()
    finally:
        private_server.thaw()
    assert cur.execute("SELECT 42").fetchall() == [(42,)]
    assert wait_for(lambda: conn.pool_stats()["in_use"] == 0)
    # the answered query told the pool the server is back: the parked kills went out
    assert wait_for(lambda: conn.pool_stats()["kills_parked"] == 0, 2 * KILL_SECONDS), conn.pool_stats()
    assert conn.pool_stats()["kills_dropped"] == 0, conn.pool_stats()


def test_kills_parked_while_the_server_is_stopped_are_sent_when_it_is_back(private_server):
    """Queries running when the server is SIGSTOPped time out; two kills go out on
    the kill budget's two connections (the kernel keeps their bytes: the server
    reads them when it runs again), the others find no kill connection in time.
    Those used to be dropped, and 18.16 does not stop an HTTP query whose client
    went away: they ran on for ever after SIGCONT. Now they are parked, and with no
    other traffic on the pool a probe finds the server back and sends them."""
    if not private_server.ping():
        private_server.restart()
    check = chd.connect(**private_server.params()).cursor()
    conn = chd.connect(**private_server.params(**pool(pool_size=4, query_timeout=4)))
    qids = ["parked-" + uuid.uuid4().hex for _ in range(4)]
    errors = []

    def running():
        check.execute("SELECT query_id FROM system.processes WHERE query_id LIKE 'parked-%%'")
        return {r[0] for r in check.fetchall()} & set(qids)

    def run(qid):
        try:
            conn.cursor().execute("SELECT count() FROM system.numbers", query_id=qid)
        except chd.Error as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(q,)) for q in qids]
    for t in threads:
        t.start()
    try:
        assert wait_for(lambda: running() == set(qids), 5), "the queries never started"
        private_server.freeze()
        try:
            for t in threads:
                t.join(10)
            assert len(errors) == 4 and all(
                "exceeded query_timeout=4s and was cancelled" in str(e) for e in errors), errors
            # no kill is answered by the stopped server: parked, none dropped
            assert wait_for(lambda: conn.pool_stats()["kills_parked"] >= 2, 2 * KILL_SECONDS + 2), \
                conn.pool_stats()
            assert conn.pool_stats()["kills_dropped"] == 0
        finally:
            private_server.thaw()
        # nothing else runs on conn's pool: a parked kill's probe finds the server back
        assert wait_for(lambda: not running(), 30, 0.2), \
            f"{len(running())} of 4 queries kept running after the server came back"
        assert wait_for(lambda: conn.pool_stats()["kills_parked"] == 0, 10), conn.pool_stats()
        st = conn.pool_stats()
        assert st["kills_dropped"] == 0 and st["kills_resent"] >= 2, st
    finally:
        for qid in qids:
            check.execute(f"KILL QUERY WHERE query_id = '{qid}' ASYNC")
        for t in threads:
            t.join(10)


def _gone(check, qid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check.execute("SELECT count() FROM system.processes WHERE query_id = %s", [qid])
        if check.fetchone()[0] == 0:
            return True
        time.sleep(0.1)
    return False


def test_kills_still_reach_a_healthy_server(make_conn, conn):
    # pool_size=1 with the one slot busy: the kill does not need it
    slow = make_conn(**pool(pool_size=1, query_timeout=0.5))
    qid = "kill-budget-" + uuid.uuid4().hex
    with pytest.raises(chd.OperationalError) as ei:
        slow.cursor().execute("SELECT count() FROM system.numbers", query_id=qid)
    assert "exceeded query_timeout" in str(ei.value)
    assert _gone(conn.cursor(), qid), "the query kept running on the server after the timeout"
    assert wait_for(lambda: slow.pool_stats()["kills"] >= 1)  # (a kill that matched nothing yet is resent)
    assert slow.pool_stats()["kills_dropped"] == 0


def test_kill_that_overtakes_its_query_is_sent_again(make_conn, conn):
    # A timeout right after sending: the kill (on another connection) can reach the
    # server before the query is registered, match nothing, and leave it running
    # forever (18.16 does not stop an HTTP query whose client went away).
    slow = make_conn(**pool(pool_size=4, query_timeout=0.01))
    qids = ["overtake-" + uuid.uuid4().hex for _ in range(30)]
    for qid in qids:
        with pytest.raises(chd.OperationalError):
            slow.cursor().execute("SELECT count() FROM system.numbers", query_id=qid)
    check = conn.cursor()

    def running():
        check.execute("SELECT query_id FROM system.processes WHERE query_id LIKE 'overtake-%%'")
        return {r[0] for r in check.fetchall()} & set(qids)

    assert wait_for(lambda: not running(), 8), f"{len(running())} of 30 queries still running"


def test_async_cancel_kill_reaches_a_healthy_server(server_params, conn):
    async def main():
        aconn = await chd.connect_async(**server_params, **pool(pool_size=1))
        qid = "kill-budget-async-" + uuid.uuid4().hex

        async def slow():
            await aconn.cursor().execute("SELECT count() FROM system.numbers", query_id=qid)

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the slot is free at once for the next query: the kill runs beside it
        cur = aconn.cursor()
        await cur.execute("SELECT 5")
        assert await cur.fetchall() == [(5,)]
        return aconn, qid

    aconn, qid = asyncio.run(main())
    assert _gone(conn.cursor(), qid), "cancelled query still running on the server"
    assert wait_for(lambda: aconn.pool_stats()["kills"] >= 1)


def test_kill_over_an_h2_endpoint_uses_its_own_http11_connection(conn):
    from tests.test_tls import port, tls_connect, _need

    slow = tls_connect(port("CHB_NGINX_H2_PORT"), _need("CHB_TLS_DIR"), http2=True, pool_size=1, query_timeout=0.5)
    qid = "kill-budget-h2-" + uuid.uuid4().hex
    with pytest.raises(chd.OperationalError) as ei:
        slow.cursor().execute("SELECT count() FROM system.numbers", query_id=qid)
    assert "exceeded query_timeout" in str(ei.value)
    assert _gone(conn.cursor(), qid), "the query kept running on the server after the timeout"
    # the user query rode the h2 connection; the kill never became one of its streams
    assert slow.cursor().execute("SELECT 6").fetchall() == [(6,)]
    st = slow.pool_stats()
    assert st["h2_connections"] == 1 and st["h2_streams"] == 2 and st["kills"] >= 1, st
    assert st["kills_dropped"] == 0
