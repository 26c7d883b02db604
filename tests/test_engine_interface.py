"""Both query engines implement the one declared interface the cursors use
(clickhouse_backend/driver/interface.py): the HTTP engine and the embedded one."""
import pytest

from clickhouse_backend.driver.interface import QueryClient, ResultStream
from clickhouse_backend.driver.progress import Summary
from tests.embedded_support import ecursor, embedded_conn  # noqa: F401


def _check(conn, cur):
    assert isinstance(conn._client, QueryClient)
    cur.execute("SELECT number FROM system.numbers LIMIT 3")
    assert isinstance(cur._stream, ResultStream)
    assert cur.fetchall() == [(0,), (1,), (2,)]
    return cur._stream


def test_http_engine_implements_the_interface(make_conn):
    conn = make_conn()
    _check(conn, conn.cursor())


def test_embedded_engine_implements_the_interface_without_imitating_http(embedded_conn, ecursor):  # noqa: F811
    stream = _check(embedded_conn, ecursor)
    # no HTTP leftovers: no status or content type of None, and the summary is the
    # object itself, not JSON text to be parsed back
    assert not hasattr(stream, "http_status") and not hasattr(stream, "content_type")
    assert isinstance(stream.summary, Summary) and stream.summary.read_rows == 3
    assert ecursor.summary.read_rows == 3
    embedded_conn._client.close()  # the shared engine outlives it: queries still run
    ecursor.execute("SELECT 1")
    assert ecursor.fetchall() == [(1,)]
