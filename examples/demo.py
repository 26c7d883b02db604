"""A short tour of clickhouse_backend.driver, sync and asyncio.

    CLICKHOUSE_HTTP_URL=http://127.0.0.1:18123/ python examples/demo.py

scripts/demo.sh starts a throwaway server and sets CLICKHOUSE_HTTP_URL.
"""
import asyncio
import os
import sys
import time
import urllib.parse
import uuid

import clickhouse_backend.driver as chd


def server_kwargs():
    url = os.environ.get("CLICKHOUSE_HTTP_URL", "http://127.0.0.1:8123/")
    u = urllib.parse.urlsplit(url)
    return {"host": u.hostname, "port": u.port or 8123}


def show(title, cur, rows):
    cols = [d[0] for d in cur.description or ()]
    types = [d[1] for d in cur.description or ()]
    print(f"\n-- {title}")
    print("   columns:", ", ".join(f"{c} {t}" for c, t in zip(cols, types)))
    for r in rows:
        print("  ", r)


def sync_part(kw):
    db = "demo_" + uuid.uuid4().hex[:8]
    with chd.connect(**kw) as conn:
        cur = conn.cursor()
        cur.execute("SELECT version() AS version, timezone() AS tz")
        show("server", cur, cur.fetchall())

        cur.execute(f"CREATE DATABASE {db}")
        try:
            cur.execute(f"""
                CREATE TABLE {db}.events (
                    id UInt32, kind String, value Float64, at DateTime('UTC'), note Nullable(String)
                ) ENGINE = MergeTree ORDER BY id""")
            cur.executemany(
                f"INSERT INTO {db}.events VALUES (%s, %s, %s, %s, %s)",
                [(i, ("click", "view", "buy")[i % 3], i * 1.5,
                  chd.Timestamp(2024, 1, 1 + i % 28, 12, 0, 0), None if i % 4 else f"n{i}")
                 for i in range(1, 13)])

            cur.execute(f"SELECT kind, count() AS n, sum(value) AS total FROM {db}.events "
                        "WHERE value > %(min)s GROUP BY kind ORDER BY kind", {"min": 2})
            show("aggregate with a pyformat parameter", cur, cur.fetchall())

            cur.execute(f"SELECT id, at, note FROM {db}.events WHERE note IS NOT NULL ORDER BY id")
            show("DateTime and Nullable values", cur, cur.fetchall())

            t0 = time.perf_counter()
            cur.execute("SELECT number, toString(number) FROM system.numbers LIMIT 1000000",
                        settings={"max_block_size": 65536})
            n = sum(1 for _ in cur)
            print(f"\n-- streamed {n:,} rows in {time.perf_counter() - t0:.2f}s")

            try:
                cur.execute("SELEC 1")
            except chd.ProgrammingError as e:
                print(f"\n-- errors are PEP 249 exceptions: {type(e).__name__} code={e.code}")
            print("   pool:", conn.pool_stats())
        finally:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")


async def async_part(kw):
    aconn = await chd.connect_async(**kw)
    try:
        async def one(k):
            cur = aconn.cursor()
            await cur.execute("SELECT %s AS k, sum(number) AS s FROM numbers(%s)", (k, 10 ** (k + 3)))
            return await cur.fetchone()

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(k) for k in range(4)))
        print(f"\n-- asyncio: 4 concurrent queries in {time.perf_counter() - t0:.3f}s")
        for r in results:
            print("  ", r)

        cur = aconn.cursor()
        await cur.execute("SELECT number FROM system.numbers LIMIT 5")
        print("   async for:", [tuple(r) async for r in cur])
    finally:
        await aconn.close()


def main():
    kw = server_kwargs()
    print(f"clickhouse_backend.driver demo against {kw['host']}:{kw['port']}")
    sync_part(kw)
    asyncio.run(async_part(kw))
    print("\ndemo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
