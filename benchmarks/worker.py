"""One benchmark case (one workload x one client) in a process of its own.

    python benchmarks/worker.py '<json spec>'

prints one JSON object as its last line: ``{"times": [...seconds per run...],
"rows": N, ...}``, ``{"skip": "why"}`` or ``{"error": "..."}``. Every timed run must
fetch (insert) exactly ``expect_rows`` rows, or the case is an error. A process per case
keeps imports, pools and memory of one client away from the next (and lets the
runner read each client's peak RSS on its own). Run by benchmarks/run.py.

Every client does the same work the same way a user of that library would:
rows end up as Python tuples (or the library's row sequence), inserts go through
the library's bulk path (executemany / insert), no client gets a private shortcut.
"""
import asyncio
import datetime
import gc
import json
import os
import resource
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ("id", "s", "f", "dt", "n")
TYPES = ("UInt64", "String", "Float64", "DateTime", "Nullable(Int32)")


class Skip(Exception):
    pass


def make_rows(n):
    """The rows every client inserts: UInt64, String, Float64, DateTime, Nullable(Int32)."""
    base = datetime.datetime(2020, 1, 1)
    step = datetime.timedelta(seconds=1)
    return [(i, f"row-{i}", i / 3, base + i * step, None if i % 5 == 0 else i % 100000)
            for i in range(n)]


def make_df(n):
    """Workload 8's DataFrame: the rows of make_rows(n) as typed columns (nullable Int32)."""
    import numpy as np
    import pandas as pd

    i = np.arange(n, dtype=np.uint64)
    nn = pd.array((i % 100000).astype(np.int32), dtype="Int32")
    nn[i % 5 == 0] = pd.NA
    return pd.DataFrame({"id": i, "s": np.array([f"row-{k}" for k in range(n)], dtype=object), "f": i / 3,
                         "dt": np.datetime64("2020-01-01T00:00:00", "s") + i.astype("timedelta64[s]"), "n": nn})


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- clients
# A client implements some of: seq(n, sql), conc(n, sql, width), fetch(sql), stream(sql)
# -- each returning the number of rows it fetched, checked by the harness -- and
# insert(table, rows). Async clients implement them as coroutines (is_async = True).
# A missing method means "not applicable" (skip).

class Ours:
    """clickhouse_backend.driver, sync, HTTP/1.1 keep-alive pool in the C engine."""
    is_async = False

    def __init__(self, spec):
        import clickhouse_backend.driver as chd
        self.conn = chd.connect(host=spec["host"], port=spec["http_port"], database=spec["database"],
                                pool_size=spec.get("width", 16), **spec.get("ours_options", {}))

    def seq(self, n, sql):
        cur = self.conn.cursor()
        rows = 0
        for _ in range(n):
            cur.execute(sql)
            rows += len(cur.fetchall())
        return rows

    def fetch(self, sql):
        cur = self.conn.cursor()
        cur.execute(sql)
        return len(cur.fetchall())

    def insert(self, table, rows):
        cur = self.conn.cursor()
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", rows)

    # workload 8: columnar results and inserts (docs/columnar.md)
    def col_tuples(self, sql):
        return self.fetch(sql)

    def col_numpy(self, sql):
        cur = self.conn.cursor()
        cur.execute(sql)
        return len(next(iter(cur.fetchnumpy().values())))

    def col_df(self, sql):
        cur = self.conn.cursor()
        cur.execute(sql)
        return len(cur.fetch_df())

    def col_arrow(self, sql):
        cur = self.conn.cursor()
        cur.execute(sql)
        return cur.fetch_arrow_table().num_rows

    def col_batches(self, sql):
        cur = self.conn.cursor()
        cur.execute(sql)
        return sum(b.num_rows for b in cur.fetch_record_batch())

    def insert_df(self, table, df):
        self.conn.cursor().insert_df(table, df)

    def stream(self, sql):
        cur = self.conn.cursor()
        cur.execute(sql)
        n = 0
        for _ in cur:
            n += 1
        return n


class OursNative(Ours):
    """Ours, workload 4's row tuples sent as one typed Native block (insert_columns)
    instead of executemany's VALUES text (issue 14: the binary body measured against
    the text one, same rows, same checks before sending)."""

    def insert(self, table, rows):
        self.conn.cursor().insert_columns(table, dict(zip(COLUMNS, map(list, zip(*rows)))))


class OursFacts(Ours):
    """Ours, each query with its own query_id, reading cursor.query_id and
    cursor.summary after it (issue 19: what that costs over plain queries)."""

    def seq(self, n, sql):
        import uuid

        cur = self.conn.cursor()
        rows = 0
        facts = []
        prefix = uuid.uuid4().hex  # ids unique per run; making them is the caller's cost, not the driver's
        for i in range(n):
            cur.execute(sql, query_id=f"{prefix}-{i}")
            rows += len(cur.fetchall())
            facts.append((cur.query_id, cur.summary.read_rows))
        return rows


class OursAsync:
    """clickhouse_backend.driver.connect_async: asyncio on the same C engine and pool."""
    is_async = True

    def __init__(self, spec):
        self.spec = spec

    async def open(self):
        import clickhouse_backend.driver as chd
        s = self.spec
        self.conn = await chd.connect_async(host=s["host"], port=s["http_port"], database=s["database"],
                                            pool_size=s.get("width", 16), **s.get("ours_options", {}))

    async def seq(self, n, sql):
        cur = self.conn.cursor()
        rows = 0
        for _ in range(n):
            await cur.execute(sql)
            rows += len(await cur.fetchall())
        return rows

    async def conc(self, n, sql, width):
        async def one():
            cur = self.conn.cursor()
            await cur.execute(sql)
            return await cur.fetchall()
        return sum(map(len, await asyncio.gather(*(one() for _ in range(n)))))

    async def fetch(self, sql):
        cur = self.conn.cursor()
        await cur.execute(sql)
        return len(await cur.fetchall())

    async def insert(self, table, rows):
        cur = self.conn.cursor()
        await cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", rows)

    async def stream(self, sql):
        cur = self.conn.cursor()
        await cur.execute(sql)
        n = 0
        async for _ in cur:
            n += 1
        return n

    async def close(self):
        await self.conn.close()


def _h2_spec(spec):
    """The spec pointed at the nginx TLS front end (HTTP/2 via ALPN), or Skip."""
    if not spec.get("h2_port"):
        raise Skip("no nginx TLS/HTTP/2 front end in this server's tests/server/ctl.sh state")
    import clickhouse_backend.driver as chd
    opts = {"secure": True, "http2": True, "ca_certs": os.path.join(spec["tls_dir"], "ca.pem")}
    try:
        chd.connect(host=spec["host"], port=spec["h2_port"], **opts).close()
    except chd.InterfaceError as e:  # the driver has no TLS/HTTP/2 yet
        raise Skip(f"driver: {e}") from None
    return {**spec, "http_port": spec["h2_port"], "ours_options": opts}


class OursH2(Ours):
    """Sync, HTTP/2 over TLS through nginx (one connection, multiplexed streams)."""

    def __init__(self, spec):
        super().__init__(_h2_spec(spec))


class OursH2Async(OursAsync):
    def __init__(self, spec):
        super().__init__(_h2_spec(spec))


class OursEmbedded(Ours):
    """The same cursors on chDB in-process (ClickHouse 26.x, not the 18.16 server)."""

    def __init__(self, spec):
        try:
            import chdb  # noqa: F401
        except ImportError:
            raise Skip("chdb-core is not installed in the benchmark venv") from None
        import tempfile

        import clickhouse_backend.driver as chd
        self.conn = chd.connect(embedded=tempfile.mkdtemp(prefix="chb-bench-embedded-"))
        cur = self.conn.cursor()
        # the same table as on the server (workload 3 reads it)
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {spec['database']}")
        cur.execute(spec["create_table"].format(table=spec["table"]))
        cur.execute(f"INSERT INTO {spec['table']} {spec['select_rows'].format(n=spec['table_rows'])}")

    insert = None  # inserts go to the server's table; not compared here
    stream = None
    insert_df = None


class CC:
    """clickhouse-connect, sync (urllib3). compress=False: on loopback compression
    only costs CPU, so this is its fastest setting here."""
    is_async = False

    def __init__(self, spec):
        import clickhouse_connect

        import ccpatch  # noqa: F401  (18.16 start-up query, see ccpatch.py)
        self.client = clickhouse_connect.get_client(
            host=spec["host"], port=spec["http_port"], database=spec["database"], compress=False)

    def seq(self, n, sql):
        return sum(len(self.client.query(sql).result_rows) for _ in range(n))

    def fetch(self, sql):
        return len(self.client.query(sql).result_rows)

    def insert(self, table, rows):
        # column types given: its DESCRIBE-based discovery does not parse 18.16's answer
        self.client.insert(table, rows, column_names=list(COLUMNS), column_type_names=list(TYPES))

    def col_numpy(self, sql):
        return len(self.client.query_np(sql))

    def col_df(self, sql):
        return len(self.client.query_df(sql))

    def col_arrow(self, sql):
        return self.client.query_arrow(sql).num_rows

    def insert_df(self, table, df):
        self.client.insert_df(table, df, column_names=list(COLUMNS), column_type_names=list(TYPES))

    def stream(self, sql):
        n = 0
        with self.client.query_rows_stream(sql) as rows:
            for _ in rows:
                n += 1
        return n


class CCAsync:
    """clickhouse-connect's aiohttp-based AsyncClient."""
    is_async = True

    def __init__(self, spec):
        self.spec = spec

    async def open(self):
        import clickhouse_connect

        import ccpatch  # noqa: F401
        s = self.spec
        self.client = await clickhouse_connect.get_async_client(
            host=s["host"], port=s["http_port"], database=s["database"], compress=False,
            connector_limit=s.get("width", 16), connector_limit_per_host=s.get("width", 16))

    async def seq(self, n, sql):
        rows = 0
        for _ in range(n):
            rows += len((await self.client.query(sql)).result_rows)
        return rows

    async def conc(self, n, sql, width):
        async def one():
            return (await self.client.query(sql)).result_rows
        return sum(map(len, await asyncio.gather(*(one() for _ in range(n)))))

    async def fetch(self, sql):
        return len((await self.client.query(sql)).result_rows)

    async def insert(self, table, rows):
        await self.client.insert(table, rows, column_names=list(COLUMNS), column_type_names=list(TYPES))

    async def stream(self, sql):
        n = 0
        stream = await self.client.query_rows_stream(sql)
        async with stream as rows:
            async for _ in rows:
                n += 1
        return n

    async def close(self):
        await self.client.close()


class CHDriver:
    """clickhouse-driver: native TCP protocol, sync."""
    is_async = False

    def __init__(self, spec):
        from clickhouse_driver import Client
        self.client = Client(spec["host"], port=spec["tcp_port"], database=spec["database"])

    def seq(self, n, sql):
        return sum(len(self.client.execute(sql)) for _ in range(n))

    def fetch(self, sql):
        return len(self.client.execute(sql))

    def insert(self, table, rows):
        self.client.execute(f"INSERT INTO {table} VALUES", rows)

    def col_numpy(self, sql):
        return len(self.client.execute(sql, columnar=True, settings={"use_numpy": True})[0])

    def col_df(self, sql):
        return len(self.client.query_dataframe(sql, settings={"use_numpy": True}))

    def insert_df(self, table, df):
        self.client.insert_dataframe(f"INSERT INTO {table} VALUES", df, settings={"use_numpy": True})

    @staticmethod
    def prepare_df(df):
        # its NumPy insert cannot take pandas' nullable Int32 (pd.NA): None in an object column
        return df.astype({"n": object}).where(df.notna(), None)

    def stream(self, sql):
        n = 0
        for _ in self.client.execute_iter(sql):
            n += 1
        return n


class Asynch:
    """asynch: native TCP protocol, asyncio; a Pool for the concurrent workload."""
    is_async = True

    def __init__(self, spec):
        self.spec = spec

    def _kw(self):
        s = self.spec
        return dict(host=s["host"], port=s["tcp_port"], database=s["database"])

    async def open(self):
        from asynch import Connection, Pool
        self.conn = Connection(**self._kw())
        await self.conn.connect()
        self.pool = None
        if self.spec["workload"] == "conc":
            # opened before timing, like every other client's pool
            width = self.spec["width"]
            self.pool = Pool(minsize=width, maxsize=width, **self._kw())
            await self.pool.startup()

    async def seq(self, n, sql):
        rows = 0
        async with self.conn.cursor() as cur:
            for _ in range(n):
                await cur.execute(sql)
                rows += len(await cur.fetchall())
        return rows

    async def conc(self, n, sql, width):
        async def one():
            async with self.pool.connection() as conn:
                async with conn.cursor() as cur:
                    await cur.execute(sql)
                    return await cur.fetchall()
        return sum(map(len, await asyncio.gather(*(one() for _ in range(n)))))

    async def fetch(self, sql):
        async with self.conn.cursor() as cur:
            await cur.execute(sql)
            return len(await cur.fetchall())

    async def insert(self, table, rows):
        async with self.conn.cursor() as cur:
            await cur.executemany(f"INSERT INTO {table} VALUES", rows)

    async def stream(self, sql):
        n = 0
        async with self.conn.cursor() as cur:
            cur.set_stream_results(True, 65536)
            await cur.execute(sql)
            async for _ in cur:
                n += 1
        return n

    async def close(self):
        if self.pool is not None:
            await self.pool.shutdown()
        await self.conn.close()


class AiochClient:
    """aiochclient on aiohttp (TSV-like RowBinary decoding in Python/Cython);
    rows are materialised as tuples (``record[:]``) like everyone else's."""
    is_async = True

    def __init__(self, spec):
        self.spec = spec

    async def open(self):
        import aiohttp
        from aiochclient import ChClient
        s = self.spec
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=s.get("width", 16)))
        self.client = ChClient(self.session, url=f"http://{s['host']}:{s['http_port']}/",
                               database=s["database"])

    async def seq(self, n, sql):
        rows = 0
        for _ in range(n):
            rows += len([r[:] for r in await self.client.fetch(sql)])
        return rows

    async def conc(self, n, sql, width):
        async def one():
            return [r[:] for r in await self.client.fetch(sql)]
        return sum(map(len, await asyncio.gather(*(one() for _ in range(n)))))

    async def fetch(self, sql):
        return len([r[:] for r in await self.client.fetch(sql)])

    async def insert(self, table, rows):
        await self.client.execute(f"INSERT INTO {table} VALUES", *rows)

    async def stream(self, sql):
        n = 0
        async for r in self.client.iterate(sql):
            r[:]
            n += 1
        return n

    async def close(self):
        await self.session.close()


CLIENTS = {
    "ours-sync": Ours,
    "ours-sync-facts": OursFacts,
    "ours-sync-native": OursNative,
    "ours-async": OursAsync,
    "ours-h2": OursH2,
    "ours-h2-async": OursH2Async,
    "ours-embedded": OursEmbedded,
    "cc-sync": CC,
    "cc-async": CCAsync,
    "clickhouse-driver": CHDriver,
    "asynch": Asynch,
    "aiochclient": AiochClient,
}


# --------------------------------------------------------------------------- workloads

def _call(client, name, *args):
    fn = getattr(client, name, None)
    if fn is None:
        raise Skip(f"{type(client).__name__} has no '{name}' workload")
    return fn(*args)


async def _acall(client, name, *args):
    fn = getattr(client, name, None)
    if fn is None:
        raise Skip(f"{type(client).__name__} has no '{name}' workload")
    return await fn(*args)


def _truncate(spec):
    """Empty the insert target between runs (through the server's HTTP port,
    with urllib so that no client under test is involved)."""
    import urllib.request
    q = f"TRUNCATE TABLE {spec['insert_table']}".encode()
    url = f"http://{spec['host']}:{spec['http_port']}/"
    urllib.request.urlopen(urllib.request.Request(url, data=q), timeout=60).read()


def _count(spec):
    import urllib.request
    q = f"SELECT count() FROM {spec['insert_table']}".encode()
    url = f"http://{spec['host']}:{spec['http_port']}/"
    return int(urllib.request.urlopen(urllib.request.Request(url, data=q), timeout=60).read())


def run_case(spec):
    """Returns the result dict. Timed runs follow one untimed warm-up run
    (imports, connection set-up, first-query costs)."""
    client_cls = CLIENTS[spec["client"]]
    w = spec["workload"]
    runs = spec.get("runs", 3)
    result = {"times": []}

    if client_cls.is_async:
        async def main():
            client = client_cls(spec)
            await client.open()
            try:
                return await _run_async(client, w, spec, runs, result)
            finally:
                await client.close()
        return asyncio.run(main())

    client = client_cls(spec)
    return _run_sync(client, w, spec, runs, result)


class WrongRows(Exception):
    pass


def _checked(result, rows, expected):
    """Every run must fetch (or insert) exactly the rows asked for: a client that
    returned fewer would look faster than it is."""
    if rows != expected:
        raise WrongRows(f"got {rows:,} rows, expected {expected:,}")
    result["rows"] = rows


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return r.ru_utime + r.ru_stime


def _timed(result, fn):
    """Wall time, and the CPU time the client process spent (all its threads):
    the second does not depend on how busy the machine is."""
    gc.collect()
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    result["times"].append(time.perf_counter() - t0)
    result.setdefault("cpu", []).append(_cpu() - c0)
    return out


async def _atimed(result, coro_fn):
    gc.collect()
    c0, t0 = _cpu(), time.perf_counter()
    out = await coro_fn()
    result["times"].append(time.perf_counter() - t0)
    result.setdefault("cpu", []).append(_cpu() - c0)
    return out


def _run_sync(client, w, spec, runs, result):
    want = spec["expect_rows"]
    if w == "seq":
        _call(client, "seq", max(1, spec["n"] // 10), spec["sql"])
        for _ in range(runs):
            _checked(result, _timed(result, lambda: _call(client, "seq", spec["n"], spec["sql"])), want)
        result["ops"] = spec["n"]
    elif w == "conc":
        raise Skip("not an asyncio client")
    elif w == "fetch":
        _call(client, "fetch", spec["sql"])
        for _ in range(runs):
            _checked(result, _timed(result, lambda: _call(client, "fetch", spec["sql"])), want)
    elif w == "insert":
        rows = make_rows(spec["rows"])
        for i in range(runs + 1):
            _truncate(spec)
            if i == 0:
                _call(client, "insert", spec["insert_table"], rows[:1000])
                continue
            _timed(result, lambda: _call(client, "insert", spec["insert_table"], rows))
            _checked(result, _count(spec), want)
    elif w == "columnar":
        kind = spec["kind"]
        if kind == "insert_df":
            df = getattr(client, "prepare_df", lambda d: d)(make_df(spec["rows"]))  # not timed
            for i in range(runs + 1):
                _truncate(spec)
                if i == 0:
                    _call(client, "insert_df", spec["insert_table"], df.head(1000))
                    continue
                _timed(result, lambda: _call(client, "insert_df", spec["insert_table"], df))
                _checked(result, _count(spec), want)
        else:
            name = f"col_{kind}"
            _call(client, name, spec.get("warm_sql", spec["sql"]))
            gc.collect()
            result["rss_before"] = rss_bytes()  # the batches case: the runner samples the peak
            for _ in range(runs):
                _checked(result, _timed(result, lambda: _call(client, name, spec["sql"])), want)
    elif w == "stream":
        _call(client, "fetch", spec["warm_sql"]) if hasattr(client, "fetch") else None
        gc.collect()
        result["rss_before"] = rss_bytes()
        _checked(result, _timed(result, lambda: _call(client, "stream", spec["sql"])), want)
        result["rss_after"] = rss_bytes()
    else:
        raise ValueError(w)
    return result


async def _run_async(client, w, spec, runs, result):
    want = spec["expect_rows"]
    if w == "seq":
        await _acall(client, "seq", max(1, spec["n"] // 10), spec["sql"])
        for _ in range(runs):
            _checked(result, await _atimed(result, lambda: _acall(client, "seq", spec["n"], spec["sql"])), want)
        result["ops"] = spec["n"]
    elif w == "conc":
        await _acall(client, "conc", max(1, spec["n"] // 10), spec["sql"], spec["width"])
        for _ in range(runs):
            _checked(result, await _atimed(
                result, lambda: _acall(client, "conc", spec["n"], spec["sql"], spec["width"])), want)
        result["ops"] = spec["n"]
    elif w == "fetch":
        await _acall(client, "fetch", spec["sql"])
        for _ in range(runs):
            _checked(result, await _atimed(result, lambda: _acall(client, "fetch", spec["sql"])), want)
    elif w == "insert":
        rows = make_rows(spec["rows"])
        for i in range(runs + 1):
            _truncate(spec)
            if i == 0:
                await _acall(client, "insert", spec["insert_table"], rows[:1000])
                continue
            await _atimed(result, lambda: _acall(client, "insert", spec["insert_table"], rows))
            _checked(result, _count(spec), want)
    elif w == "stream":
        if hasattr(client, "fetch"):
            await client.fetch(spec["warm_sql"])
        gc.collect()
        result["rss_before"] = rss_bytes()
        _checked(result, await _atimed(result, lambda: _acall(client, "stream", spec["sql"])), want)
        result["rss_after"] = rss_bytes()
    else:
        raise ValueError(w)
    return result


def main():
    spec = json.loads(sys.argv[1])
    try:
        out = run_case(spec)
    except Skip as e:
        out = {"skip": str(e)}
    except Exception as e:  # noqa: BLE001 - reported, the runner goes on with the next case
        traceback.print_exc()
        out = {"error": f"{type(e).__name__}: {e}"[:500]}
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sys.stdout.flush()
    print("\n" + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
