"""A short run over every engine path, for valgrind (make valgrind-smoke): sync and
asyncio queries, many types, streaming with backpressure, an abandoned result, a
server error, a timeout with KILL QUERY, a cancellation, escaping, the parsers.
Exits non-zero on a wrong result; valgrind's exit code reports memory errors."""
import asyncio
import datetime
import decimal
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import clickhouse_backend.driver as chd  # noqa: E402
from clickhouse_backend import _engine  # noqa: E402
from tests.engine_testing import testing  # noqa: E402
from tests.conftest import parse_server_url  # noqa: E402

params = parse_server_url(os.environ["CLICKHOUSE_HTTP_URL"])


def sync_part():
    conn = chd.connect(**params, pool_size=4, stream_buffer_bytes=1 << 16)
    cur = conn.cursor()
    row = cur.execute(
        "SELECT %s, %s, %s, %s, %s, toDate('2024-02-29'), toDateTime('2024-02-29 12:00:00', 'UTC'), "
        "toDecimal64(1.25, 2), [1, 2], (1, 'a'), CAST(NULL AS Nullable(String)), toFixedString('ab', 2), "
        "toUUID(%s), CAST('b' AS Enum8('a' = 1, 'b' = 2)), toLowCardinality('lc')",
        [1, -2.5, "it's\n", b"\x00\xff", None, str(uuid.UUID(int=5))]).fetchone()
    assert row[:5] == (1, -2.5, "it's\n", "\x00\udcff", None), row
    assert row[5] == datetime.date(2024, 2, 29) and row[7] == decimal.Decimal("1.25"), row
    assert sum(1 for _ in cur.execute("SELECT number FROM numbers(300000)")) == 300000
    cur.execute("SELECT number FROM numbers(1000000)")
    cur.fetchmany(5)
    cur.close()  # abandoned: drained or killed
    cur = conn.cursor()
    try:
        cur.execute("SELECT * FROM no_such_table_smoke")
    except chd.ProgrammingError as e:
        assert e.code == 60
    slow = chd.connect(**params, query_timeout=0.3, pool_name="smoke-slow")
    try:
        slow.cursor().execute("SELECT count() FROM numbers(100000000000)")
    except chd.OperationalError as e:
        assert "query_timeout" in str(e)
    assert cur.execute("SELECT 1").fetchall() == [(1,)]


async def async_part():
    conn = await chd.connect_async(**params, pool_size=4)

    async def one(i):
        c = conn.cursor()
        await c.execute("SELECT %s, sleep(0.01)", [i])
        return (await c.fetchall())[0][0]

    tasks = [asyncio.create_task(one(i)) for i in range(40)]
    await asyncio.sleep(0.02)
    for t in tasks[::5]:
        t.cancel()
    res = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(r == i or isinstance(r, asyncio.CancelledError) for i, r in enumerate(res))


def components():
    p = testing.HTTPResponseParser()
    ev = p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert ("body", b"abc") in ev, ev
    assert _engine.quote("a'b\\") == "'a\\'b\\\\'"
    d = _engine.NativeDecoder()
    d.feed(bytes.fromhex("0101" "0131" "0555496e7438" "01"))
    assert d.get()[2] == [(1,)]


sync_part()
asyncio.run(async_part())
components()
print("smoke ok")
