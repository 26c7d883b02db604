"""CPU per query (workload 5) or per dashboard request (workload 6), sync and async
interleaved in one process, for the async ORM's overhead (docs/performance.md, "What
bounds workloads 5 and 6"). On a shared machine wall times drift between runs; blocks
run back to back in one process see the same load.

    set -a; source $CHB_STATE_DIR/env; set +a   # a server with bench.events (run.py loads it)
    BENCH_CH_HTTP_PORT=$CLICKHOUSE_HTTP_PORT PYTHONPATH=.:benchmarks \\
        python benchmarks/async_cpu.py orm filter_values [N ROUNDS]
    ... python benchmarks/async_cpu.py dash [N ROUNDS [modes]]

orm: ROUNDS pairs of N sequential queries (sync block, then the same through Django's
async API); prints process CPU (getrusage, all threads) per query, the median of the
per-pair async/sync ratios and the wall medians. dash: the djbench dashboard view, 4
requests gathered at a time, N per block, each mode once per round.
"""
import asyncio
import gc
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djbench.settings")
os.environ.setdefault("BENCH_DJ_BACKEND", "ours")

import django  # noqa: E402

django.setup()


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(run, n):
    gc.collect()
    c0, t0 = cpu(), time.perf_counter()
    run()
    return (cpu() - c0) / n, (time.perf_counter() - t0) / n


def orm(name, n=150, rounds=10):
    import djworker

    fn, afn = djworker.QUERIES[name]
    loop = asyncio.new_event_loop()

    def sync_block():
        for _ in range(n):
            fn()

    async def async_block():
        for _ in range(n):
            await afn()

    pairs = []
    for i in range(rounds + 1):
        pair = (measure(sync_block, n), measure(lambda: loop.run_until_complete(async_block()), n))
        if i:  # the first pair warms up
            pairs.append(pair)
    us = [(s[0] * 1e6, a[0] * 1e6, s[1] * 1e6, a[1] * 1e6) for s, a in pairs]
    print(f"{name}: {rounds} pairs of {n} queries, load average {os.getloadavg()[0]:.1f}")
    print("  CPU per query sync  " + " ".join(f"{x[0]:.0f}" for x in us) + " µs")
    print("  CPU per query async " + " ".join(f"{x[1]:.0f}" for x in us) + " µs")
    print(f"  async/sync CPU, median of the pairs: {statistics.median(x[1] / x[0] for x in us):.3f}")
    sw, aw = statistics.median(x[2] for x in us), statistics.median(x[3] for x in us)
    print(f"  wall per query, medians: sync {sw:.0f} µs, async {aw:.0f} µs ({100 * (aw / sw - 1):+.1f} %)")


def dash(n=80, rounds=4, modes="orm-async,orm-threads,driver-async"):
    from djbench import views

    views.prepare()
    modes = modes.split(",")
    loop = asyncio.new_event_loop()

    async def burst(mode):
        for _ in range(n // 4):
            await asyncio.gather(*(views.dashboard(None, mode) for _ in range(4)))

    results = {m: [] for m in modes}
    for i in range(rounds + 1):
        for m in modes:
            r = measure(lambda: loop.run_until_complete(burst(m)), n)
            if i:
                results[m].append(r)
    print(f"dashboard: {rounds} rounds of {n} requests per mode, load average {os.getloadavg()[0]:.1f}")
    for m, rs in results.items():
        c, w = statistics.median(r[0] for r in rs) * 1e3, statistics.median(r[1] for r in rs) * 1e3
        print(f"  {m:13s} CPU per request {c:.2f} ms (min {min(r[0] for r in rs) * 1e3:.2f}), wall {w:.2f} ms")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "orm":
        orm(args[0], *map(int, args[1:3]))
    else:
        dash(*map(int, args[:2]), *args[2:3])
