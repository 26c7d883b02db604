"""Soak run (not part of CI): mixed sync and asyncio load on a private server that is
SIGSTOPped, SIGKILLed and restarted under it, with random cancellations, abandoned
results and timeouts. It ends with the figures and checks the guarantees of
docs/reliability.md: 0 leaked slots, flat RSS and descriptor count, every pool
freed once closed, and every error a DB-API (PEP 249) exception.

    python -m tests.faults.soak --minutes 30          # exit status 1 if a check fails

The private server comes from tests/server/ctl.sh in its own state dir (the shared
dev/CI server is never signalled)."""
import argparse
import asyncio
import collections
import os
import random
import signal
import sys
import threading
import time
import traceback
import uuid

import clickhouse_backend.driver as chd
from clickhouse_backend import _engine
from tests.faults.conftest import PrivateServer, wait_for

POOL = dict(pool_size=8, pool_timeout=10, send_receive_timeout=5, connect_timeout=2)
QUERIES = [  # (weight, sql, rows): small, streamed, slow enough to be timed out or cancelled
    (50, "SELECT number, toString(number) FROM numbers(100)", 100),
    (20, "SELECT number FROM numbers(300000)", 300000),
    (15, "SELECT sum(number) FROM numbers(20000000)", 1),
    (15, "SELECT count() FROM system.numbers", None),  # endless: only a timeout/cancel ends it
]


def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def fds():
    return len(os.listdir("/proc/self/fd"))


class Tally:
    def __init__(self):
        self.mu = threading.Lock()
        self.counts = collections.Counter()
        self.foreign = []  # errors that are not DB-API exceptions

    def add(self, key, n=1):
        with self.mu:
            self.counts[key] += n

    def error(self, e, expected=()):
        if isinstance(e, chd.Error):
            self.add("error:" + type(e).__name__)
        elif isinstance(e, expected):
            self.add("cancel:" + type(e).__name__)
        else:
            with self.mu:
                self.foreign.append("".join(traceback.format_exception(e)))


def pick(rnd):
    r = rnd.uniform(0, 100)
    for w, sql, rows in QUERIES:
        if r < w:
            return sql, rows
        r -= w
    return QUERIES[0][1:]


def sync_worker(params, stop, tally, seed):
    rnd = random.Random(seed)
    conn = None
    while not stop.is_set():
        if conn is None or rnd.random() < 0.05:
            # a new Connection now and then, with its own query_timeout: same pool
            if conn is not None:
                conn.close()
            conn = chd.connect(**params, **POOL, pool_name="soak", query_timeout=rnd.choice([0.3, 1, 3]))
        sql, rows = pick(rnd)
        cur = conn.cursor()
        try:
            cur.execute(sql)
            if rnd.random() < 0.2:
                cur.fetchmany(10)  # abandoned result: drained or cancelled
                tally.add("abandoned")
            else:
                got = len(cur.fetchall())
                if got != rows:
                    tally.add("WRONG_ROW_COUNT")
                tally.add("ok")
        except Exception as e:  # noqa: BLE001 - every error is checked by tally.error
            tally.error(e)
            time.sleep(0.02)  # like an application would: no hot loop while the server is down
        finally:
            cur.close()
    conn.close()


async def async_load(params, stop, tally, seed, tasks=8):
    rnd = random.Random(seed)
    conn = await chd.connect_async(**params, **POOL, pool_name="soak")

    async def one(sql, rows):
        cur = conn.cursor()
        try:
            await cur.execute(sql)
            got = len(await cur.fetchall())
            if got != rows:
                tally.add("WRONG_ROW_COUNT")
            tally.add("ok")
        finally:
            await cur.close()

    async def worker():
        while not stop.is_set():
            sql, rows = pick(rnd)
            # endless queries always end by cancellation; others sometimes
            limit = rnd.uniform(0.05, 1.5) if rows is None or rnd.random() < 0.3 else 30
            try:
                await asyncio.wait_for(one(sql, rows), limit)
            except Exception as e:  # noqa: BLE001
                tally.error(e, expected=(asyncio.TimeoutError,))
                await asyncio.sleep(0.02)

    await asyncio.gather(*(worker() for _ in range(tasks)))
    await conn.close()


def chaos(server, stop, tally, rnd, every):
    """SIGSTOP for a while, or SIGKILL and restart on the same port."""
    while not stop.wait(rnd.uniform(every * 0.5, every * 1.5)):
        action = rnd.choice(["stop", "stop", "kill"])
        tally.add("chaos:" + action)
        if action == "stop":
            server.freeze()
            time.sleep(rnd.uniform(0.5, 6))
            server.thaw()
        else:
            server.kill()
            time.sleep(rnd.uniform(0.1, 2))
            server.restart()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--threads", type=int, default=6, help="sync worker threads")
    ap.add_argument("--tasks", type=int, default=8, help="asyncio tasks")
    ap.add_argument("--chaos-every", type=float, default=30, help="mean seconds between server faults")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rss-bound-kb", type=int, default=16384, help="allowed RSS growth after warm-up")
    args = ap.parse_args(argv)
    rnd = random.Random(args.seed)
    server = PrivateServer()
    try:
        return run(server, args, rnd)
    finally:
        server.stop()


def run(server, args, rnd):
    params = server.params()
    tally = Tally()
    stop = threading.Event()
    holder = chd.connect(**params, **POOL, pool_name="soak")  # reads the shared pool's counters
    # the engine thread and an asyncio Notifier own descriptors for the life of the
    # process: start them before counting
    holder.cursor().execute("SELECT 1").fetchall()

    async def warm():
        c = await chd.connect_async(**params)
        await (await c.cursor().execute("SELECT 1")).fetchall()
        await c.close()

    asyncio.run(warm())
    time.sleep(1.5)  # the warm-up's own pool lingers, then is freed
    fd0 = fds()
    threads = [threading.Thread(target=sync_worker, args=(params, stop, tally, args.seed * 100 + i))
               for i in range(args.threads)]
    threads.append(threading.Thread(
        target=lambda: asyncio.run(async_load(params, stop, tally, args.seed * 1000, args.tasks))))
    threads.append(threading.Thread(target=chaos, args=(server, stop, tally, rnd, args.chaos_every)))
    for t in threads:
        t.start()
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    warm = t0 + min(60, args.minutes * 60 / 5)  # RSS baseline after allocator warm-up
    samples = []
    while time.monotonic() < end:
        time.sleep(min(10, max(0.1, end - time.monotonic())))
        samples.append((time.monotonic() - t0, rss_kb(), fds(), _engine.engine_stats()))
        el, r, f, es = samples[-1]
        print(f"[{el:7.0f}s] rss={r} kB fds={f} pools={es['pools']} open={es['open']} "
              f"ok={tally.counts['ok']} errors={sum(v for k, v in tally.counts.items() if k.startswith('error:'))}",
              flush=True)
    stop.set()
    server.thaw()
    for t in threads:
        t.join(120)
    hung = [t.name for t in threads if t.is_alive()]
    if not server.ping():
        server.restart()

    # every timed-out or cancelled query was killed on the server
    left = []

    def server_idle():
        cur = holder.cursor()
        cur.execute("SELECT query_id FROM system.processes WHERE query NOT LIKE '%%system.processes%%'")
        left[:] = cur.fetchall()
        return not left

    # a kill parked while the server was frozen goes out at the next probe (at most 8 s apart)
    queries_gone = wait_for(server_idle, 30, step=0.5)
    # every worker's connection is closed: every slot back, then every pool freed after its linger
    settled = wait_for(lambda: holder.pool_stats()["in_use"] == 0 and holder.pool_stats()["waiting"] == 0, 30)
    slots = holder.pool_stats()
    holder.close()
    freed = wait_for(lambda: _engine.engine_stats()["pools"] == 0, 10)
    rss_warm = next((r for el, r, f, es in samples if el >= warm - t0), rss_kb())
    rss_end, fd_end = rss_kb(), fds()
    rss_max = max([r for _, r, _, _ in samples] + [rss_end])

    c = tally.counts
    print("\n--- soak figures ---")
    print(f"duration: {args.minutes:g} min, {args.threads} threads + {args.tasks} asyncio tasks, seed {args.seed}")
    print(f"queries ok: {c['ok']}, abandoned results: {c['abandoned']}, wrong row counts: {c['WRONG_ROW_COUNT']}")
    for k in sorted(k for k in c if k.startswith(("error:", "cancel:", "chaos:"))):
        print(f"  {k}: {c[k]}")
    print(f"KILL QUERY sent: {slots['kills']}, parked while the server was unreachable and sent again: "
          f"{slots['kills_resent']}, dropped (past the parking bounds): {slots['kills_dropped']}, "
          f"still parked: {slots['kills_parked']}")
    print(f"slots after the run: in_use={slots['in_use']} waiting={slots['waiting']}")
    # single samples swing by tens of MB with the results in flight: the trend is
    # the mean of the first third of the samples after warm-up against the last third
    under_load = [r for el, r, _, _ in samples if el >= warm - t0] or [rss_end]
    third = max(1, len(under_load) // 3)
    rss_first, rss_last = sum(under_load[:third]) // third, sum(under_load[-third:]) // third
    print(f"RSS: after warm-up {rss_warm} kB, max {rss_max} kB, end {rss_end} kB; mean under load: "
          f"first third {rss_first} kB, last third {rss_last} kB (growth {rss_last - rss_first} kB)")
    print(f"fds: start {fd0}, end {fd_end}; live pools at the end: {_engine.engine_stats()['pools']}")
    print(f"queries left running on the server: {len(left)}")
    print(f"non-DB-API errors: {len(tally.foreign)}")
    for tb in tally.foreign[:5]:
        print(tb)
    checks = {
        "no hung worker": not hung,
        "0 leaked slots": settled and slots["in_use"] == 0 and slots["waiting"] == 0,
        "every pool freed": freed,
        # kills that found the server frozen or down were parked and sent again
        "no query left running on the server": queries_gone,
        "fd count back to start": fd_end <= fd0,
        f"RSS growth under load < {args.rss_bound_kb} kB": rss_last - rss_first < args.rss_bound_kb,
        "every error a DB-API exception": not tally.foreign,
        "no wrong result": c["WRONG_ROW_COUNT"] == 0,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
