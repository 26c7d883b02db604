"""Regenerate the seed corpora in fuzz/corpus/ (committed; run again only to refresh).

    python fuzz/make_seeds.py [http://127.0.0.1:18123/]

HTTP and chunked seeds are written by hand; Native seeds are real blocks captured
from the given server (one query per type family), so the fuzzer starts from what
ClickHouse actually sends. Each seed starts with the harness's option bytes.
"""
import hashlib
import os
import socket
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
OPT = bytes([0, 1, 2, 3, 5, 7, 11, 13, 16])  # fuzz_http: byte 0 options + 8 piece sizes


def write(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def raw_http(url, sql):
    """The server's exact response bytes (status line to last chunk)."""
    u = urllib.parse.urlsplit(url)
    body = sql.encode()
    req = (f"POST /?default_format=Native HTTP/1.1\r\nHost: {u.hostname}\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(req)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


def dechunk(resp):
    head, _, rest = resp.partition(b"\r\n\r\n")
    if b"chunked" not in head.lower():
        return rest
    out = b""
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        if n == 0:
            break
        out += rest[:n]
        rest = rest[n + 2:]
    return out


HTTP = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nread until close",
    b"HTTP/1.1 404 Not Found\r\nX-ClickHouse-Exception-Code: 60\r\nContent-Type: text/plain; charset=UTF-8\r\n"
    b"Transfer-Encoding: chunked\r\nKeep-Alive: timeout=3\r\n\r\n"
    b"3a\r\nCode: 60, e.displayText() = DB::Exception: Table x doesn't exist\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\nFolded:\r\n  value\r\n\r\nabc",
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 21\r\n\r\n<html>nginx</html>\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2p1\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
]

CHUNKED = [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"1;a=b;c=\"d\"\r\nx\r\n0\r\nTrailer: v\r\nOther: w\r\n\r\n",
    b"A \t;ext\r\n0123456789\r\n00000\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"10000000000000000\r\n",
    b"3\r\nab",
    b"3\r\nabcX\r\n",
    b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
]

NATIVE_QUERIES = [
    "SELECT 1",
    "SELECT number, toString(number) FROM numbers(5)",
    "SELECT toInt8(-1), toInt16(-2), toInt32(-3), toInt64(-4), toUInt16(5), toUInt32(6), toUInt64(7)",
    "SELECT toFloat32(1.5), toFloat64(-2.25), nan, inf",
    "SELECT toDecimal32(1.5, 2), toDecimal64(-3.25, 4), toDecimal128(7, 10)",
    "SELECT toDate('2024-02-29'), toDateTime('2024-02-29 12:34:56'), toDateTime('2020-01-01 00:00:00', 'Europe/Moscow')",
    "SELECT now() - now()",
    "SELECT toFixedString('ab', 4), generateUUIDv4() = generateUUIDv4(), toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')",
    "SELECT CAST('b' AS Enum8('a' = 1, 'b' = 2)), CAST('y' AS Enum16('x' = -300, 'y' = 300))",
    "SELECT IPv4StringToNum('1.2.3.4')",
    "SELECT [1, 2, 3], [['a'], [], ['b', 'c']], emptyArrayString()",
    "SELECT (1, 'a', [2]), tuple(NULL)",
    "SELECT NULL, toNullable(1), CAST(NULL AS Nullable(String)), [NULL, 1]",
    "SELECT toLowCardinality('x'), toLowCardinality(toNullable('y'))",
    "SELECT number % 3 = 0 ? NULL : toString(number) FROM numbers(10)",
    "SELECT arrayJoin([1, 2]) AS a, 'x\\0y' AS s",
    "SELECT * FROM system.numbers LIMIT 0",
]

# fuzz_type: column type names as blocks carry them (every family the parser knows,
# a few it refuses)
TYPES = [
    "UInt8", "Int256", "Float32", "BFloat16", "Bool", "String", "FixedString(16)", "UUID", "IPv6",
    "Date32", "DateTime", "DateTime('Europe/Berlin')", "DateTime64(3)", "DateTime64(9, 'Asia/Tokyo')",
    "Time", "Time64(6)", "IntervalSecond", "Decimal(38, 10)", "Decimal256(40)", "Nothing",
    "Enum8('a' = 1, 'b\\'c' = -2)", "Enum16('x\\x41' = -300, 'y' = 300)",
    "Nullable(String)", "Array(Array(Nullable(Int32)))", "Tuple(a UInt8, `b c` String)", "Tuple(UInt8, String)",
    "Map(String, Array(UInt64))", "LowCardinality(Nullable(String))", "Nested(x UInt8, y String)",
    "Point", "MultiPolygon", "SimpleAggregateFunction(sum, UInt64)", "JSON", "JSON(max_dynamic_paths=8)",
    "AggregateFunction(uniq, UInt64)", "Variant(UInt8, String)", "LowCardinality(Array(UInt8))", "Tuple()",
]

ESCAPE = [b"", b"plain", b"it's", b"back\\slash", b"\x00\x01\x1f\x7f", b"\n\r\t\b\f", "é漢字🙂".encode(),
          b"\xff\xfe invalid utf8 \xc3", b"%s %(a)s %% %", b"'; DROP TABLE t; --", b"\xed\xa0\x80 surrogate"]


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CLICKHOUSE_HTTP_URL", "http://127.0.0.1:18123/")
    for m in HTTP:
        write("fuzz_http", OPT + m)
        write("fuzz_http", bytes([1]) + OPT[1:] + m)  # tiny limits
    for c in CHUNKED:
        write("fuzz_chunked", OPT + c)
    for q in NATIVE_QUERIES:
        resp = raw_http(url, q)
        write("fuzz_http", OPT + resp)
        body = dechunk(resp)
        if resp.startswith(b"HTTP/1.1 200"):
            write("fuzz_native", b"\x00" + body)
            write("fuzz_native", b"\x07" + body)
        else:
            print("query failed, skipped:", q, resp[:200], file=sys.stderr)
    for e in ESCAPE:
        write("fuzz_escape", e)
    for t in TYPES:
        write("fuzz_type", t.encode())


if __name__ == "__main__":
    main()
