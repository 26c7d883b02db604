"""Issue 19's overhead check, interleaved in one process so that the load of a
shared machine hits both sides alike: blocks of small sequential SELECTs, plain
(worker.Ours) and with an own query_id + cursor.query_id/summary read per query
(worker.OursFacts), alternating; prints the median and best per-query wall time and
process CPU time (the engine thread's included) of each. On a loaded machine the
wall times scatter widely: the CPU time is what the client itself adds.

    set -a; source $CHB_STATE_DIR/env; set +a
    python benchmarks/query_facts.py [--blocks 21] [--n 200]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import SMALL_SQL  # noqa: E402
from worker import Ours, OursFacts  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=21)
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    spec = {"host": "127.0.0.1", "http_port": int(os.environ["CLICKHOUSE_HTTP_PORT"]), "database": "default"}
    clients = {"plain": Ours(spec), "facts": OursFacts(spec)}
    times = {k: [] for k in clients}
    cpu = {k: [] for k in clients}
    for c in clients.values():
        c.seq(a.n, SMALL_SQL)  # warm-up: pool and code paths
    for i in range(a.blocks):
        order = list(clients) if i % 2 == 0 else list(reversed(clients))
        for k in order:
            t, c = time.perf_counter(), time.process_time()
            clients[k].seq(a.n, SMALL_SQL)
            times[k].append((time.perf_counter() - t) / a.n)
            cpu[k].append((time.process_time() - c) / a.n)
    for name, series in (("wall", times), ("CPU", cpu)):
        for k, v in series.items():
            print(f"{name:4s} {k:6s} median {statistics.median(v) * 1e6:7.1f} µs/query  best {min(v) * 1e6:7.1f}")
        m = statistics.median(series["facts"]) / statistics.median(series["plain"]) - 1
        b = min(series["facts"]) / min(series["plain"]) - 1
        print(f"{name:4s} overhead: median {m * 100:+.1f} %, best {b * 100:+.1f} %")


if __name__ == "__main__":
    main()
