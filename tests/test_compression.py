"""Compressed responses decoded as a stream in the engine: gzip/deflate from the real
server, zstd made by the zstd tool, bombs refused; large INSERT bodies compressed."""
import json
import os
import shutil
import subprocess
import urllib.request
import uuid

import pytest

import clickhouse_backend.driver as chd
from clickhouse_backend.driver.config import make_options
from tests.fake_http import FakeServer, http_response
from tests.wire import varint

SQL = "SELECT number, toString(number), number * 0.25 FROM numbers(200000)"


@pytest.mark.parametrize("compression", [True, "gzip", "deflate"])
def test_compressed_responses_from_the_server(server_params, compression):
    plain = chd.connect(**server_params, compression=False).cursor().execute(SQL).fetchall()
    conn = chd.connect(**server_params, compression=compression, pool_name=uuid.uuid4().hex)
    cur = conn.cursor()
    cur.execute(SQL)
    assert cur._stream.content_encoding == "gzip"  # deflate is decoded by the same zlib path
    assert cur.fetchall() == plain


def test_uncompressed_by_default_on_loopback(server_params):
    cur = chd.connect(**server_params).cursor()
    cur.execute("SELECT 1")
    assert cur._stream.content_encoding == "identity"
    assert make_options(host="db.example.com").encoding == "gzip"
    assert make_options(host="127.0.0.1").encoding is None
    assert make_options(host="::1").encoding is None
    with pytest.raises(chd.InterfaceError):
        make_options(compression="brotli")


def test_compressed_error_bodies_keep_code_and_message(server_params):
    cur = chd.connect(**server_params, compression=True, pool_name=uuid.uuid4().hex).cursor()
    with pytest.raises(chd.ProgrammingError) as ei:
        cur.execute("SELECT * FROM no_such_table_gz")
    assert ei.value.code == 60 and "no_such_table_gz" in str(ei.value)


def test_large_insert_bodies_travel_compressed(server_params, scratch_db):
    plain_port = os.environ.get("CHB_NGINX_PLAIN_PORT")
    params = dict(server_params, database=scratch_db, compression=True, pool_name=uuid.uuid4().hex)
    if plain_port:  # through nginx, whose log shows how many bytes the request had
        params["port"] = int(plain_port)
    conn = chd.connect(**params)
    cur = conn.cursor()
    cur.execute("CREATE TABLE t (a UInt64, s String) ENGINE = Memory")
    rows = [(i, "value-%d" % (i % 100)) for i in range(200000)]
    cur.executemany("INSERT INTO t (a, s) VALUES (%s, %s)", rows)
    cur.execute("SELECT count(), sum(a), uniqExact(s) FROM t")
    assert cur.fetchone() == (200000, sum(range(200000)), 100)
    if plain_port:
        with open(os.environ["CHB_NGINX_ACCESS_LOG"]) as f:
            entries = [json.loads(x) for x in f if x.strip()]
        insert = [e for e in entries if e["request_method"] == "POST" and e["request_length"] > 100000]
        raw_size = sum(len("(%d,'%s')," % r) for r in rows)
        assert insert and insert[-1]["request_length"] < raw_size / 4


def _native_bytes(server_params, sql):
    url = "http://%s:%d/?default_format=Native" % (server_params["host"], server_params["port"])
    with urllib.request.urlopen(urllib.request.Request(url, data=sql.encode())) as r:
        return r.read()


@pytest.mark.skipif(not shutil.which("zstd"), reason="the zstd CLI is installed by scripts/test.sh")
def test_zstd_response_made_by_the_zstd_tool(server_params):
    sql = "SELECT number, toString(number) FROM numbers(100000)"
    native = _native_bytes(server_params, sql)
    packed = subprocess.run(["zstd", "-q", "-c", "-19"], input=native, capture_output=True, check=True).stdout
    assert len(packed) < len(native)

    def script(conn, req, n):
        # deliver the zstd body in uneven chunks, as a real network would
        body = http_response(packed, headers=["Content-Type: application/octet-stream",
                                              "Content-Encoding: zstd"], chunked=True)
        for i in range(0, len(body), 7919):
            conn.sendall(body[i:i + 7919])
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port, compression="zstd").cursor()
        cur.execute(sql)
        assert cur._stream.content_encoding == "zstd"
        assert cur.fetchall() == [(i, str(i)) for i in range(100000)]
        assert b"Accept-Encoding: zstd" in srv.requests[-1]


@pytest.mark.skipif(not shutil.which("zstd"), reason="the zstd CLI is installed by scripts/test.sh")
def test_truncated_zstd_is_an_error(server_params):
    native = _native_bytes(server_params, "SELECT number FROM numbers(50000)")
    packed = subprocess.run(["zstd", "-q", "-c"], input=native, capture_output=True, check=True).stdout

    def script(conn, req, n):
        conn.sendall(http_response(packed[:-7], headers=["Content-Encoding: zstd"]))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port, compression="zstd").cursor()
        with pytest.raises(chd.InterfaceError) as ei:
            cur.execute("SELECT 1")
            cur.fetchall()
        assert "ended early" in str(ei.value) or "incomplete" in str(ei.value)


def test_compression_bomb_is_refused():
    bomb = _engine_compress_zeros(300 << 20)

    def script(conn, req, n):
        conn.sendall(http_response(bomb, headers=["Content-Encoding: zstd"]))
        return "keep"

    with FakeServer(script) as srv:
        cur = chd.connect(host="127.0.0.1", port=srv.port, compression="zstd").cursor()
        with pytest.raises(chd.InterfaceError) as ei:
            cur.execute("SELECT 1")
            cur.fetchall()
        assert "compression bomb" in str(ei.value)




def _engine_compress_zeros(n):
    """A valid Native block of n UInt8 zeros, zstd-compressed to a few KB."""
    from clickhouse_backend import _engine

    block = b"\x01" + varint(n) + b"\x01x\x05UInt8" + bytes(n)
    return _engine.compress("zstd", block, level=3)
