"""Client CPU of workloads 1-3 for the clickhouse_backend package on PYTHONPATH, to
compare two trees of the driver on a busy machine (docs/performance.md, "Before/after
the seams redesign"): wall time follows the machine's load, instructions do not.

    set -a; source $CHB_STATE_DIR/env; set +a      # a server with bench.rows (run.py load_data)
    PYTHONPATH=<tree> python benchmarks/cpu_ab.py seq 2000 3
    PYTHONPATH=<tree> valgrind --tool=callgrind python benchmarks/cpu_ab.py seq 2000 1   # and 4:
        # instructions of one run = (total of 4 runs - total of 1 run) / 3, start-up cancelled

Prints one JSON line: the process CPU (user + sys, every thread: getrusage) and the wall
time of each timed run, after one untimed warm-up.
"""
import asyncio
import gc
import json
import os
import resource
import sys
import time

import clickhouse_backend.driver as chd

SMALL = "SELECT number, toString(number) FROM numbers(10)"  # run.py SMALL_SQL
FETCH = "SELECT id, s, f, dt, n FROM bench.rows"             # run.py workload 3


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def seq(conn, n):
    cur = conn.cursor()
    rows = 0
    for _ in range(n):
        cur.execute(SMALL)
        rows += len(cur.fetchall())
    assert rows == n * 10


def fetch(conn, n):
    cur = conn.cursor()
    cur.execute(FETCH + f" LIMIT {n}")
    rows = cur.fetchall()
    assert len(rows) == n and type(rows[0]) is tuple


async def conc(conn, n):
    async def one():
        cur = conn.cursor()
        await cur.execute(SMALL)
        return await cur.fetchall()
    assert sum(map(len, await asyncio.gather(*(one() for _ in range(n))))) == n * 10


def main():
    workload, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    opts = dict(host="127.0.0.1", port=int(os.environ["CLICKHOUSE_HTTP_PORT"]), database="bench", pool_size=16)
    times = []

    def timed(fn):
        gc.collect()
        c0, t0 = cpu(), time.perf_counter()
        fn()
        times.append((cpu() - c0, time.perf_counter() - t0))

    if workload == "conc":
        async def go():
            conn = await chd.connect_async(**opts)
            await conc(conn, 50)
            for _ in range(runs):
                gc.collect()
                c0, t0 = cpu(), time.perf_counter()
                await conc(conn, n)
                times.append((cpu() - c0, time.perf_counter() - t0))
            await conn.close()
        asyncio.run(go())
    else:
        conn = chd.connect(**opts)
        fn = {"seq": seq, "fetch": fetch}[workload]
        fn(conn, 50 if workload == "seq" else 1000)
        for _ in range(runs):
            timed(lambda: fn(conn, n))
    print(json.dumps({"workload": workload, "n": n, "tree": os.path.dirname(os.path.dirname(chd.__file__)),
                      "cpu": [round(c, 4) for c, _ in times], "wall": [round(t, 4) for _, t in times]}))


if __name__ == "__main__":
    main()
