"""TLS and HTTP/2 through the driver, against real components started by the test
harness (tests/server/ctl.sh): ClickHouse's own https_port (HTTP/1.1 over TLS) and
nginx with ssl + http2 in front of the server, with a test PKI made by the openssl
CLI at start-up."""
import asyncio
import json
import logging
import os
import time
import uuid

import pytest

import clickhouse_backend.driver as chd

ENV = os.environ


def _need(name):
    if name not in ENV:
        msg = f"{name} is not set: run the suite through scripts/test.sh (it starts nginx and the TLS port)"
        if ENV.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return ENV[name]


@pytest.fixture
def tls_dir():
    return _need("CHB_TLS_DIR")


def port(name):
    return int(_need(name))


def tls_connect(port_, tls_dir, **kw):
    kw.setdefault("pool_name", uuid.uuid4().hex[:16])
    kw.setdefault("ca_certs", os.path.join(tls_dir, "ca.pem"))
    return chd.connect(host="127.0.0.1", port=port_, secure=True, **kw)


def nginx_log(since=0, at_least=0):
    """nginx's access-log entries from line ``since``. nginx writes a request's line
    after it sent the end of the answer, so a client can have its rows first: wait
    (up to 10 s) for ``at_least`` entries."""
    deadline = time.monotonic() + 10
    while True:
        with open(_need("CHB_NGINX_ACCESS_LOG")) as f:
            entries = [json.loads(x) for x in f.readlines()[since:] if x.strip()]
        if len(entries) >= at_least or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


def nginx_log_len():
    with open(_need("CHB_NGINX_ACCESS_LOG")) as f:
        return len(f.readlines())


# -- ClickHouse's own https_port --------------------------------------------------

def test_clickhouse_https_port(tls_dir):
    conn = tls_connect(port("CLICKHOUSE_HTTPS_PORT"), tls_dir)
    cur = conn.cursor()
    assert cur.execute("SELECT 1 + %s", [41]).fetchall() == [(42,)]
    cur.execute("SELECT number, toString(number) FROM numbers(200000)")
    assert sum(1 for _ in cur) == 200000
    st = conn.pool_stats()
    assert st["tls_handshakes"] == 1 and st["h2_connections"] == 0


def test_session_resumption_across_pool_connections(tls_dir):
    conn = tls_connect(port("CLICKHOUSE_HTTPS_PORT"), tls_dir, idle_timeout=0.05)
    for _ in range(3):
        assert conn.cursor().execute("SELECT 1").fetchall() == [(1,)]
        time.sleep(0.2)  # idle connection closed: the next query needs a new handshake
    st = conn.pool_stats()
    assert st["tls_handshakes"] == 3
    assert st["tls_resumed"] >= 1


def test_directory_of_ca_certs(tls_dir):
    capath = os.path.join(tls_dir, "capath")
    conn = tls_connect(port("CLICKHOUSE_HTTPS_PORT"), tls_dir, ca_certs=capath)
    assert conn.cursor().execute("SELECT 2").fetchall() == [(2,)]


def test_server_hostname_overrides_the_checked_name(tls_dir):
    conn = tls_connect(port("CHB_NGINX_WRONG_HOST_PORT"), tls_dir, server_hostname="wrong-host.invalid")
    assert conn.cursor().execute("SELECT 3").fetchall() == [(3,)]


def test_verify_false_is_explicit_and_warns(tls_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="clickhouse_backend.driver"):
        conn = tls_connect(port("CHB_NGINX_EXPIRED_PORT"), tls_dir, verify=False,
                           ca_certs=os.path.join(tls_dir, "other-ca.pem"))
    assert "verification is disabled" in caplog.text
    assert conn.cursor().execute("SELECT 4").fetchall() == [(4,)]


@pytest.mark.parametrize("suite", ["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"])
def test_ciphers_choose_the_tls13_suite(tls_dir, suite):
    since = nginx_log_len()
    conn = tls_connect(port("CHB_NGINX_H1TLS_PORT"), tls_dir, ciphers=suite)
    assert conn.cursor().execute("SELECT 5").fetchall() == [(5,)]
    assert [e["ssl_cipher"] for e in nginx_log(since, at_least=1)] == [suite]


def test_ciphers_the_server_does_not_share_fail_the_handshake(tls_dir):
    # nginx keeps OpenSSL's default TLS 1.3 suites, which leave out the CCM ones
    conn = tls_connect(port("CHB_NGINX_H1TLS_PORT"), tls_dir, ciphers="TLS_AES_128_CCM_8_SHA256")
    with pytest.raises(chd.OperationalError, match="(?i)handshake|cipher"):
        conn.cursor().execute("SELECT 1")


async def test_ciphers_async(tls_dir):
    since = nginx_log_len()
    conn = await chd.connect_async(host="127.0.0.1", port=port("CHB_NGINX_H2_PORT"), secure=True,
                                   ca_certs=os.path.join(tls_dir, "ca.pem"), pool_name=uuid.uuid4().hex[:16],
                                   ciphers="TLS_CHACHA20_POLY1305_SHA256")
    cur = conn.cursor()
    await cur.execute("SELECT 6")
    assert await cur.fetchall() == [(6,)]
    await conn.close()
    assert [e["ssl_cipher"] for e in nginx_log(since, at_least=1)] == ["TLS_CHACHA20_POLY1305_SHA256"]


@pytest.mark.parametrize("bad", ["NO-SUCH-CIPHER", "TLS_NO_SUCH_SUITE", ":,"])
def test_unknown_ciphers_are_refused_at_connect(tls_dir, bad):
    with pytest.raises(chd.InterfaceError, match="ciphers"):
        tls_connect(port("CHB_NGINX_H1TLS_PORT"), tls_dir, ciphers=bad)


def test_mutual_tls(tls_dir):
    with pytest.raises(chd.InterfaceError) as ei:
        tls_connect(port("CHB_NGINX_MTLS_PORT"), tls_dir).cursor().execute("SELECT 1")
    assert "No required SSL certificate" in str(ei.value)
    conn = tls_connect(port("CHB_NGINX_MTLS_PORT"), tls_dir, certfile=os.path.join(tls_dir, "client.pem"),
                       keyfile=os.path.join(tls_dir, "client-key.pem"))
    assert conn.cursor().execute("SELECT 5").fetchall() == [(5,)]


# -- failures, each with a clear error ------------------------------------------

def test_wrong_ca(tls_dir):
    with pytest.raises(chd.OperationalError) as ei:
        tls_connect(port("CHB_NGINX_H2_PORT"), tls_dir, ca_certs=os.path.join(tls_dir, "other-ca.pem")) \
            .cursor().execute("SELECT 1")
    assert "certificate verification failed" in str(ei.value) and "unknown CA" in str(ei.value)


def test_system_store_does_not_trust_the_test_ca(tls_dir):
    with pytest.raises(chd.OperationalError) as ei:
        chd.connect(host="127.0.0.1", port=port("CHB_NGINX_H2_PORT"), secure=True,
                    pool_name=uuid.uuid4().hex).cursor().execute("SELECT 1")
    assert "unknown CA" in str(ei.value)


def test_hostname_mismatch(tls_dir):
    with pytest.raises(chd.OperationalError) as ei:
        tls_connect(port("CHB_NGINX_WRONG_HOST_PORT"), tls_dir).cursor().execute("SELECT 1")
    assert "mismatch" in str(ei.value)


def test_expired_certificate(tls_dir):
    with pytest.raises(chd.OperationalError) as ei:
        tls_connect(port("CHB_NGINX_EXPIRED_PORT"), tls_dir).cursor().execute("SELECT 1")
    assert "expired" in str(ei.value)


def test_plaintext_client_to_tls_ports(tls_dir):
    with pytest.raises(chd.InterfaceError) as ei:  # nginx answers an HTML 400
        chd.connect(host="127.0.0.1", port=port("CHB_NGINX_H2_PORT")).cursor().execute("SELECT 1")
    assert "plain HTTP request was sent to HTTPS port" in str(ei.value)
    with pytest.raises(chd.OperationalError) as ei:  # ClickHouse resets the connection
        chd.connect(host="127.0.0.1", port=port("CLICKHOUSE_HTTPS_PORT"),
                    pool_name=uuid.uuid4().hex).cursor().execute("SELECT 1")
    assert "secure=True" in str(ei.value)


def test_tls_client_to_plaintext_port(tls_dir):
    # nginx rejects the ClientHello as a bad request at once; ClickHouse's HTTP server
    # may instead wait for the end of a request line that never comes: then the
    # handshake times out, with the same explanation
    for p in (port("CHB_NGINX_PLAIN_PORT"), port("CLICKHOUSE_HTTP_PORT")):
        with pytest.raises(chd.OperationalError) as ei:
            tls_connect(p, tls_dir, connect_timeout=2).cursor().execute("SELECT 1")
        assert "did not answer with TLS" in str(ei.value), str(ei.value)


def test_h2_required_but_not_offered(tls_dir):
    with pytest.raises(chd.OperationalError) as ei:
        tls_connect(port("CHB_NGINX_H1TLS_PORT"), tls_dir, http2=True).cursor().execute("SELECT 1")
    assert "did not offer HTTP/2" in str(ei.value)
    # "auto" falls back to HTTP/1.1 there
    conn = tls_connect(port("CHB_NGINX_H1TLS_PORT"), tls_dir)
    assert conn.cursor().execute("SELECT 6").fetchall() == [(6,)]
    assert conn.pool_stats()["h2_connections"] == 0


def test_http2_false_stays_on_http11(tls_dir):
    since = nginx_log_len()
    conn = tls_connect(port("CHB_NGINX_H2_PORT"), tls_dir, http2=False)
    assert conn.cursor().execute("SELECT 7").fetchall() == [(7,)]
    assert conn.pool_stats()["h2_connections"] == 0
    assert [e["http2"] for e in nginx_log(since, at_least=1)] == [""]


# -- HTTP/2 multiplexing through nginx ------------------------------------------

async def test_concurrent_queries_share_one_h2_connection(tls_dir):
    conn = await chd.connect_async(host="127.0.0.1", port=port("CHB_NGINX_H2_PORT"), secure=True,
                                   ca_certs=os.path.join(tls_dir, "ca.pem"), http2=True,
                                   pool_name=uuid.uuid4().hex)
    mark = nginx_log_len()
    n = 40

    async def one(i):
        cur = conn.cursor()
        await cur.execute("SELECT %s, sleep(0.2)", [i], query_id=f"h2-{mark}-{i}")
        return (await cur.fetchall())[0][0]

    t0 = time.monotonic()
    assert await asyncio.gather(*(one(i) for i in range(n))) == list(range(n))
    assert time.monotonic() - t0 < 3  # 40 x 0.2 s, 16 at a time (pool_size), not one after another
    assert conn.pool_stats()["peak_open"] == 1
    st = conn.pool_stats()
    assert st["created"] == 1 and st["h2_connections"] == 1 and st["h2_streams"] == n
    entries = [e for e in await asyncio.to_thread(nginx_log, mark, n) if e["query_id"].startswith(f"h2-{mark}-")]
    assert len(entries) == n
    assert {e["http2"] for e in entries} == {"h2"}
    assert len({e["connection"] for e in entries}) == 1  # one TCP connection carried them all


def test_sync_threads_share_the_h2_connection(tls_dir):
    import threading

    conn = tls_connect(port("CHB_NGINX_H2_PORT"), tls_dir, http2=True)
    conn.cursor().execute("SELECT 0").fetchall()
    results = []

    def worker(i):
        cur = conn.cursor()
        cur.execute("SELECT %s, sleep(0.1)", [i])
        results.append(cur.fetchall()[0][0])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == list(range(12))
    st = conn.pool_stats()
    assert st["created"] == 1 and st["h2_streams"] == 13


def test_large_result_over_h2_with_backpressure(tls_dir):
    conn = tls_connect(port("CHB_NGINX_H2_PORT"), tls_dir, http2=True, stream_buffer_bytes=1 << 20)
    cur = conn.cursor()
    cur.execute("SELECT number, toString(number) FROM numbers(3000000)")
    deadline = time.monotonic() + 10
    while cur._stream.state != "paused" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cur._stream.state == "paused"  # flow control holds the stream
    total = 0
    for i, row in enumerate(cur):
        assert row[0] == i
        total += 1
    assert total == 3000000


async def test_cancelled_stream_leaves_the_connection_usable(tls_dir):
    conn = await chd.connect_async(host="127.0.0.1", port=port("CHB_NGINX_H2_PORT"), secure=True,
                                   ca_certs=os.path.join(tls_dir, "ca.pem"), http2=True,
                                   pool_name=uuid.uuid4().hex)

    async def big():
        cur = conn.cursor()
        await cur.execute("SELECT number, toString(number) FROM numbers(100000000)")
        async for _ in cur:
            pass

    async def small(i):
        cur = conn.cursor()
        await cur.execute("SELECT %s, sleep(0.3)", [i])
        return (await cur.fetchall())[0][0]

    task = asyncio.create_task(big())
    others = [asyncio.create_task(small(i)) for i in range(5)]
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.gather(*others) == list(range(5))
    cur = conn.cursor()
    await cur.execute("SELECT 99")
    assert await cur.fetchall() == [(99,)]
    deadline = time.monotonic() + 5  # the KILL QUERY for the cancelled stream is fire-and-forget
    while conn.pool_stats()["in_use"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    st = conn.pool_stats()
    assert st["created"] == 1 and st["in_use"] == 0


async def test_goaway_is_survived(tls_dir):
    # this nginx block ends every connection (GOAWAY) after 5 requests
    conn = await chd.connect_async(host="127.0.0.1", port=port("CHB_NGINX_H2_GOAWAY_PORT"), secure=True,
                                   ca_certs=os.path.join(tls_dir, "ca.pem"), http2=True,
                                   pool_name=uuid.uuid4().hex)

    async def one(i):
        cur = conn.cursor()
        await cur.execute("SELECT %s, sleep(0.05)", [i])
        return (await cur.fetchall())[0][0]

    for _ in range(3):
        assert await asyncio.gather(*(one(i) for i in range(23))) == list(range(23))
    for i in range(12):
        assert await one(i) == i
    st = conn.pool_stats()
    assert st["h2_connections"] >= 12  # at least (3*23 + 12) / 5 connections were needed
    assert st["in_use"] == 0


async def test_peer_stream_limit_opens_another_connection(tls_dir):
    # nginx allows 128 concurrent streams per connection (http2_max_concurrent_streams):
    # 160 queries in flight at once (pool_size bounds requests in flight) need a second connection
    conn = await chd.connect_async(host="127.0.0.1", port=port("CHB_NGINX_H2_PORT"), secure=True,
                                   ca_certs=os.path.join(tls_dir, "ca.pem"), http2=True,
                                   pool_size=160, pool_name=uuid.uuid4().hex)
    first = conn.cursor()
    await first.execute("SELECT 0")  # establishes the connection and learns the peer's SETTINGS
    await first.fetchall()

    async def one(i):
        cur = conn.cursor()
        await cur.execute("SELECT %s, sleep(0.5)", [i])
        return (await cur.fetchall())[0][0]

    assert await asyncio.gather(*(one(i) for i in range(160))) == list(range(160))
    st = conn.pool_stats()
    assert st["h2_connections"] == 2 and st["peak_open"] == 2


def test_silent_server_times_out_the_handshake_with_an_explanation(tls_dir):
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)  # accepts (kernel backlog) but never speaks
    try:
        t0 = time.monotonic()
        with pytest.raises(chd.OperationalError) as ei:
            tls_connect(srv.getsockname()[1], tls_dir, connect_timeout=0.5).cursor().execute("SELECT 1")
        assert time.monotonic() - t0 < 3
        assert "did not answer with TLS" in str(ei.value) and "timed out" in str(ei.value)
    finally:
        srv.close()
