"""Shared fixtures for the test suites.

The server comes from CLICKHOUSE_HTTP_URL, which scripts/test.sh sets after
starting a private server with tests/server/ctl.sh. async_tests/conftest.py
imports the fixtures from here, so keep them importable without side effects.
The driver is imported lazily so that collection errors name the real problem.
"""
import os
import re
import urllib.parse
import uuid

import pytest

DEV_SERVER_URL = "http://127.0.0.1:18123/"

NO_SERVER_MESSAGE = """\
CLICKHOUSE_HTTP_URL is not set, so the tests do not know which ClickHouse to use.
  * Run the whole suite with its own throwaway server:   bash scripts/test.sh
  * Or point at a server you already run, e.g. the dev server:
        CLICKHOUSE_HTTP_URL={dev} python -m pytest tests/test_dbapi20.py
  * Or start the harness server by hand:
        bash tests/server/ctl.sh start && set -a && . .test-server/env && set +a
""".format(dev=DEV_SERVER_URL)


def _driver():
    import clickhouse_backend.driver as chd

    return chd


def parse_server_url(url):
    """http://[user[:password]@]host:port/[database] -> connect() kwargs."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"CLICKHOUSE_HTTP_URL must look like http://127.0.0.1:8123/, got {url!r}")
    params = {"host": u.hostname, "port": u.port or (8443 if u.scheme == "https" else 8123)}
    if u.username:
        params["user"] = urllib.parse.unquote(u.username)
    if u.password:
        params["password"] = urllib.parse.unquote(u.password)
    db = u.path.strip("/")
    if db:
        params["database"] = db
    return params


def http_post(url, body, query="", timeout=60):
    """POST `body` to the server at `url` with urllib, not the driver (tests of the
    escaper, decoder and parser check them against the server independently).
    Credentials in the URL go in a Basic Authorization header. Returns the
    response body; an HTTP error status raises urllib.error.HTTPError."""
    import base64
    import urllib.request

    u = urllib.parse.urlsplit(url)
    headers = {}
    if u.username:
        cred = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    netloc = u.hostname + (f":{u.port}" if u.port else "")
    target = urllib.parse.urlunsplit((u.scheme, netloc, u.path or "/", query, ""))
    req = urllib.request.Request(target, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read()


def version_tuple(text):
    """'18.16.1' / '24.3.2.23' -> (18, 16, 1) / (24, 3, 2, 23)."""
    return tuple(int(p) for p in re.findall(r"\d+", text))


@pytest.fixture(scope="session")
def clickhouse_url():
    url = os.environ.get("CLICKHOUSE_HTTP_URL", "").strip()
    if not url:
        pytest.fail(NO_SERVER_MESSAGE, pytrace=False)
    return url if url.endswith("/") else url + "/"


@pytest.fixture(scope="session")
def server_params(clickhouse_url):
    """Keyword arguments for chd.connect()/connect_async() to the test server."""
    return parse_server_url(clickhouse_url)


@pytest.fixture(scope="session")
def _admin_conn(server_params):
    # Separate from `conn`: tests close their connection on purpose, cleanup
    # (DROP DATABASE) must still work.
    c = _driver().connect(**server_params)
    yield c
    c.close()


@pytest.fixture(scope="session")
def server_version(_admin_conn):
    cur = _admin_conn.cursor()
    try:
        cur.execute("SELECT version()")
        (text,) = cur.fetchone()
    finally:
        cur.close()
    return version_tuple(text)


@pytest.fixture
def make_conn(server_params):
    """Factory: make_conn(**overrides) -> new connection, closed after the test."""
    opened = []

    def _connect(**overrides):
        kwargs = dict(server_params)
        kwargs.update(overrides)
        c = _driver().connect(**kwargs)
        opened.append(c)
        return c

    yield _connect
    for c in opened:
        try:
            c.close()
        except _driver().Error:
            pass  # already closed by the test


@pytest.fixture
def conn(make_conn):
    return make_conn()


@pytest.fixture
def cursor(conn):
    cur = conn.cursor()
    yield cur
    try:
        cur.close()
    except _driver().Error:
        pass


@pytest.fixture
def scratch_db(_admin_conn):
    """Name of a fresh, uniquely named database, dropped after the test."""
    name = "chb_test_" + uuid.uuid4().hex[:12]
    cur = _admin_conn.cursor()
    cur.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.close()
