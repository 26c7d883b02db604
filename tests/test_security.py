"""Security properties of the driver: credentials never leak into logs, exception
messages or reprs; parameters cannot inject SQL (hypothesis round-trips 10,000
random strings and 10,000 random byte strings through the real server, exactly);
a hostile endpoint cannot make us buffer unbounded headers, error bodies or
decompressed data; TLS
verification is on unless switched off explicitly."""
import base64
import gc
import logging
import os
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clickhouse_backend.driver as chd
from clickhouse_backend.driver.config import make_options
from tests.fake_http import NATIVE_SELECT_1, FakeServer, http_response

PASSWORD = "s3cr3t-pa$$"
USER = "tester"


def secrets_of(user=USER, password=PASSWORD):
    """Every form the password can take on the wire or in text."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, token, token[:12], password.replace("$", "%24")]


def assert_no_secret(text, **kw):
    for s in secrets_of(**kw):
        assert s not in text, f"credential form {s!r} found in: {text[:500]!r}"


# --- credentials -------------------------------------------------------------

@pytest.mark.parametrize("auth", ["basic", "headers"])
def test_reprs_hold_no_credentials(server_params, auth):
    params = dict(server_params, user=USER, password=PASSWORD, auth=auth)
    conn = chd.connect(**params)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    texts = [repr(conn), str(conn), repr(cur), repr(conn._options), str(conn._options), repr(conn._client)]
    for t in texts:
        assert_no_secret(t)
    dsn = f"clickhouse://{USER}:{PASSWORD.replace('$', '%24')}@127.0.0.1:1/default"
    assert_no_secret(repr(make_options(dsn)))


def echo_script(status):
    """An endpoint that reflects the request (headers included) in its answer, as
    some misconfigured proxies and debugging endpoints do."""
    def script(conn, req, n):
        conn.sendall(http_response(req, status, ["Content-Type: text/html"]))
        return "close"
    return script


@pytest.mark.parametrize("auth", ["basic", "headers"])
@pytest.mark.parametrize("status", ["400 Bad Request", "200 OK"])
def test_reflected_request_never_puts_credentials_in_the_error(auth, status):
    with FakeServer(echo_script(status)) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port, user=USER, password=PASSWORD, auth=auth).cursor()
        with pytest.raises(chd.Error) as ei:
            cur.execute("SELECT 1")
        e = ei.value
        assert_no_secret(str(e))
        assert_no_secret(repr(e.args))


def test_failures_do_not_log_or_raise_credentials(server_params, caplog):
    caplog.set_level(logging.DEBUG)
    bad = dict(server_params, user=USER, password="wrong-" + PASSWORD)
    with pytest.raises(chd.OperationalError) as ei:
        chd.connect(**bad).cursor().execute("SELECT 1")
    errors = [ei.value]
    for kwargs in (dict(host="127.0.0.1", port=1), dict(host="no-such-host.invalid", port=8123)):
        with pytest.raises(chd.OperationalError) as ei:
            chd.connect(user=USER, password=PASSWORD, connect_timeout=2, **kwargs).cursor().execute("SELECT 1")
        errors.append(ei.value)
    make_options(host="127.0.0.1", user=USER, password=PASSWORD, secure=True, verify=False)  # logs a warning
    for e in errors:
        assert_no_secret(str(e))
        assert_no_secret(repr(e))
        assert_no_secret(str(vars(e)))
    assert_no_secret(str(errors[0]), password="wrong-" + PASSWORD)
    assert any("verification is disabled" in r.getMessage() for r in caplog.records)
    for r in caplog.records:
        assert_no_secret(r.getMessage())


def test_kill_query_carries_the_connections_credentials_not_the_querys_parameters():
    # the KILL QUERY request is made from the client's parts when it is needed: its
    # credentials and URL parameters, without the query's own settings and query id
    def script(conn, req, n):
        if b"KILL QUERY" in req:
            conn.sendall(http_response(b""))
            return "keep"
        time.sleep(3)  # the query "runs" past its query_timeout
        return "close"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port, user=USER, password=PASSWORD, auth="headers",
                          database="db1", query_timeout=0.3).cursor()
        with pytest.raises(chd.OperationalError, match="query_timeout"):
            cur.execute("SELECT sleep(3)", settings={"max_threads": 3})
        deadline = time.monotonic() + 10
        while not any(b"KILL QUERY" in r for r in srv.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
    query, kill = srv.requests[0], next(r for r in srv.requests if b"KILL QUERY" in r)
    qline, kline = query.split(b"\r\n")[0], kill.split(b"\r\n")[0]
    assert b"max_threads=3" in qline and b"query_id=" + cur.query_id.encode() in qline
    assert kline.startswith(b"POST /?database=db1&") and b"max_threads" not in kline and b"query_id" not in kline
    assert kill.endswith(f"KILL QUERY WHERE query_id = '{cur.query_id}' ASYNC".encode())
    for r in (query, kill):
        assert f"X-ClickHouse-User: {USER}\r\n".encode() in r
        assert f"X-ClickHouse-Key: {PASSWORD}\r\n".encode() in r


# --- TLS defaults (hooks for the TLS issue) ----------------------------------

def test_tls_verification_is_on_by_default():
    for opts in (make_options(host="db.example", secure=True), make_options("https://db.example/"),
                 make_options("clickhouses://u:p@db.example/")):
        assert opts.secure and opts.verify is True
        assert opts.port == 8443


# --- no injection through parameters -----------------------------------------

# str values: any text, plus lone surrogates as produced by surrogateescape decoding
# of invalid UTF-8 (the driver sends those as the original bytes and reads them back
# the same way).
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("'\\\"%s()\0\n\r\t;-/*`")),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
)
ROUNDTRIP = settings(max_examples=1000, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def rt_cursor(server_params):
    c = chd.connect(**server_params, pool_name="sec-" + uuid.uuid4().hex[:8]).cursor()
    yield c
    c.close()


@pytest.fixture(scope="module")
def rt_bytes_cursor(server_params):
    c = chd.connect(**server_params, strings_as_bytes=True, pool_name="secb-" + uuid.uuid4().hex[:8]).cursor()
    yield c
    c.close()


@ROUNDTRIP
@given(st.lists(texts, min_size=10, max_size=10))
def test_10000_random_strings_round_trip_exactly(rt_cursor, values):
    # 1,000 examples x 10 values; each value also compared server-side to its own
    # literal, so a value that escaped its quotes would change the result or fail
    sql = "SELECT " + ", ".join(["%s"] * 10) + ", " + " AND ".join(["%s = %s"] * 10)
    params = list(values) + [v for v in values for _ in (0, 1)]
    row = rt_cursor.execute(sql, params).fetchone()
    assert list(row[:10]) == values
    assert row[10] == 1


@ROUNDTRIP
@given(st.lists(st.binary(), min_size=10, max_size=10))
def test_10000_random_byte_strings_round_trip_exactly(rt_bytes_cursor, values):
    sql = "SELECT " + ", ".join(["%s"] * 10) + ", length(%s)"
    row = rt_bytes_cursor.execute(sql, values + [values[0]]).fetchone()
    assert list(row[:10]) == values
    assert row[10] == len(values[0])


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(texts, st.binary()), min_size=1, max_size=100))
def test_random_values_survive_insert_and_select(server_params, scratch_db, rows):
    conn = chd.connect(**server_params, database=scratch_db, strings_as_bytes=False)
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS t (i UInt32, s String, b String) ENGINE = Memory")
    cur.execute("TRUNCATE TABLE t")
    data = [(i, s, b) for i, (s, b) in enumerate(rows)]
    cur.executemany("INSERT INTO t (i, s, b) VALUES (%s, %s, %s)", data)  # one request, format_rows
    cur.execute("INSERT INTO t (i, s, b) VALUES (%(i)s, %(s)s, %(b)s)", {"i": 100000, "s": rows[0][0], "b": b""})
    got = cur.execute("SELECT i, s, b FROM t ORDER BY i").fetchall()
    expect = [(i, s, b.decode("utf-8", "surrogateescape")) for i, s, b in data] + [(100000, rows[0][0], "")]
    assert got == expect


def test_query_text_with_surrogates_gives_a_db_api_error_or_works(cursor):
    q = b"SELECT '\xff', %s".decode("utf-8", "surrogateescape")
    try:
        row = cursor.execute(q, [1]).fetchone()
    except chd.ProgrammingError:
        return
    assert row == ("\udcff", 1)


def test_placeholder_name_with_surrogates_is_bound():
    # found by fuzz/fuzz_escape: the query is encoded with surrogateescape, so the
    # %(name)s key must be decoded the same way (was UnicodeDecodeError)
    q = b"SELECT %(\xff)s".decode("utf-8", "surrogateescape")
    assert chd.format_query(q, {"\udcff": "it's"}) == "SELECT 'it\\'s'"


def test_out_of_range_aware_datetime_parameter_gives_a_db_api_error():
    import datetime

    v = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))
    with pytest.raises(chd.Error):
        chd.format_query("SELECT %s", [v])


# --- hostile endpoints: bounded memory ----------------------------------------

def rss():
    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss


@pytest.mark.parametrize("answer,expect", [
    (b"HTTP/1.1 200 " + b"x" * (4 << 20), "status line too long"),
    (b"HTTP/1.1 200 OK\r\nX-Long: " + b"y" * (4 << 20), "header line too long"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Many: z\r\n" * 100000, "too many"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"w" * 8000 + b"\r\n" * 1 + (b"X-Big: " + b"w" * 8000 + b"\r\n") * 20,
     "headers too large"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * (1 << 20), "chunk"),
])
def test_header_limits_bound_what_a_hostile_endpoint_can_make_us_buffer(answer, expect):
    def script(conn, req, n):
        try:
            conn.sendall(answer)
        except OSError:
            pass  # we stop reading once a limit is hit: the peer sees a reset
        return "close"

    with FakeServer(script) as srv:
        before = rss()
        with pytest.raises(chd.InterfaceError) as ei:
            chd.connect(host="127.0.0.1", port=srv.port).cursor().execute("SELECT 1")
        assert expect in str(ei.value), str(ei.value)
        assert len(str(ei.value)) < 2000
        assert rss() - before < (16 << 20)


def test_error_body_is_capped():
    body = b"<html>" + os.urandom(32 << 20).hex().encode()[:64 << 20] + b"</html>"

    def script(conn, req, n):
        try:
            conn.sendall(http_response(body, "500 Internal Server Error", ["Content-Type: text/html"]))
        except OSError:
            pass
        return "close"

    with FakeServer(script) as srv:
        before = rss()
        with pytest.raises(chd.InterfaceError) as ei:
            chd.connect(host="127.0.0.1", port=srv.port).cursor().execute("SELECT 1")
        grew = rss() - before
    assert "500" in str(ei.value) and len(str(ei.value)) < 5000
    assert grew < (24 << 20), f"a 64 MB error page grew RSS by {grew >> 20} MB"


def gzip_server(payload, seen=None):
    def script(conn, req, n):
        if seen is not None:
            seen.append(req)
        try:
            conn.sendall(http_response(payload, headers=["Content-Type: application/octet-stream",
                                                         "Content-Encoding: gzip"]))
        except OSError:
            pass
        return "close"
    return FakeServer(script)


def test_gzip_answer_is_decoded_not_misread():
    import gzip

    seen = []
    with gzip_server(gzip.compress(NATIVE_SELECT_1 * 1000), seen) as srv:
        rows = chd.connect(host="127.0.0.1", port=srv.port).cursor().execute("SELECT 1").fetchall()
    assert rows == [(1,)] * 1000
    # loopback: compression is not asked for by default
    assert b"enable_http_compression=1" not in seen[0].split(b"\r\n", 1)[0]


def test_decompression_bomb_is_refused():
    """~130 KB of gzip that inflates to 128 MB: a Native block announcing a 1 GiB
    String, then zeros. Without a ratio limit all of it is buffered waiting for the
    block to end."""
    import zlib

    head = bytes.fromhex("0101" "0131" "06537472696e67") + bytes.fromhex("8080808004")  # 1 col, String, len 2^30
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    bomb = co.compress(head) + b"".join(co.compress(zeros) for _ in range(128)) + co.flush()
    assert len(bomb) < (1 << 20)
    with gzip_server(bomb) as srv:
        before = rss()
        with pytest.raises(chd.InterfaceError) as ei:
            chd.connect(host="127.0.0.1", port=srv.port).cursor().execute("SELECT 1").fetchall()
        grew = rss() - before
    assert "ratio" in str(ei.value), str(ei.value)
    assert grew < (32 << 20), f"{len(bomb) >> 10} KB of gzip grew RSS by {grew >> 20} MB"
