"""The HTTP/1.1 request http1.c writes for a query, byte for byte: the head is sized
before it is written (write_head) and Content-Length is made without snprintf, so
lengths across digit boundaries and heads longer than a first buffer are checked."""
import base64

import pytest

import clickhouse_backend.driver as chd
from clickhouse_backend.driver.config import USER_AGENT
from tests.fake_http import NATIVE_SELECT_1, FakeServer, http_response


def _answer(conn, req, n):
    conn.sendall(http_response(NATIVE_SELECT_1))
    return "keep"


@pytest.mark.parametrize("body_len", [8, 9, 10, 99, 100, 1_000_000])
@pytest.mark.parametrize("user", ["default", "u" * 300])
def test_request_head_is_exact(body_len, user):
    sql = "SELECT 1" + " " * (body_len - len("SELECT 1"))
    with FakeServer(_answer) as srv:
        conn = chd.connect(host="127.0.0.1", port=srv.port, user=user, password="pw", database="db1")
        cur = conn.cursor()
        cur.execute(sql)
        assert cur.fetchall() == [(1,)]
        conn.close()
    req = srv.requests[0]
    head, _, body = req.partition(b"\r\n\r\n")
    token = base64.b64encode(f"{user}:pw".encode()).decode()
    assert head.decode().split("\r\n") == [
        f"POST /?database=db1&default_format=Native&query_id={cur.query_id} HTTP/1.1",
        f"Host: 127.0.0.1:{srv.port}",
        f"User-Agent: {USER_AGENT}",
        f"Authorization: Basic {token}",
        f"Content-Length: {body_len}",
    ]
    assert body == sql.encode()
