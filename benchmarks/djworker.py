"""Django cases (workloads 4 and 5) for one backend, in a process of its own.

    BENCH_DJ_BACKEND=ours|dcb python benchmarks/djworker.py '<json spec>'

Prints one JSON object as its last line, like worker.py. See djbench/settings.py
for how the backend is chosen.
"""
import datetime
import gc
import json
import os
import resource
import sys
import time
import traceback

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djbench.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count, Max, Sum  # noqa: E402

from djbench.models import Row, RowIns  # noqa: E402
from worker import _count, _truncate, make_rows  # noqa: E402

def _filter_values():
    # filter + values: a handful of rows through the whole ORM read path
    return Row.objects.filter(id__lt=20, n__isnull=False).values("id", "s", "f")


_AGGREGATE = {"total": Sum("f"), "c": Count("id"), "last": Max("dt")}


async def _alist(qs):
    return [x async for x in qs]


# name -> (sync call, the same through Django's async API)
QUERIES = {
    "filter_values": (lambda: list(_filter_values()), lambda: _alist(_filter_values())),
    # an aggregate
    "aggregate": (lambda: Row.objects.filter(id__lt=5000).aggregate(**_AGGREGATE),
                  lambda: Row.objects.filter(id__lt=5000).aaggregate(**_AGGREGATE)),
}
# What each query must return (n is NULL for every fifth id): a backend that
# answered less would look faster than it is.
ROWS = {
    "filter_values": lambda result: len(result) == 16,
    "aggregate": lambda result: result["c"] == 5000,
}


def _time(fn, n):
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


async def _atime(afn, n):
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n):
        await afn()
    return time.perf_counter() - t0


def orm(spec):
    """Per-query time through the ORM, and through the backend's own DB-API cursor
    replaying the very SQL the ORM sent: the difference is the ORM + backend overhead.
    async_times: the same queries one after another through Django's async API."""
    import asyncio

    out = {}
    n, runs = spec["n"], spec.get("runs", 3)
    for name, (fn, afn) in QUERIES.items():
        captured = []

        def capture(execute, sql, params, many, context):
            captured.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(capture):
            result = fn()
        if not ROWS[name](result):
            raise AssertionError(f"{name} returned {result!r}")
        sql, params = captured[-1]
        connection.ensure_connection()
        raw = connection.connection.cursor()

        def replay():
            raw.execute(sql, params)
            raw.fetchall()

        _time(fn, max(1, n // 10))
        _time(replay, max(1, n // 10))
        asyncio.run(_atime(afn, max(1, n // 10)))
        orm_t, raw_t, async_t = [], [], []
        for _ in range(runs):  # interleaved so that drift hits all alike
            orm_t.append(_time(fn, n) / n)
            raw_t.append(_time(replay, n) / n)
            async_t.append(asyncio.run(_atime(afn, n)) / n)
        out[name] = {"times": orm_t, "raw_times": raw_t, "async_times": async_t, "sql": sql}
    return out


def bulk(spec):
    from django.conf import settings

    tz = datetime.timezone.utc if settings.USE_TZ else None
    objs = [RowIns(id=i, s=s, f=f, dt=dt.replace(tzinfo=tz), n=v) for i, s, f, dt, v in make_rows(spec["rows"])]
    times = []
    for i in range(spec.get("runs", 3) + 1):
        _truncate(spec)
        if i == 0:
            RowIns.objects.bulk_create(objs[:1000])  # warm-up
            continue
        gc.collect()
        t0 = time.perf_counter()
        RowIns.objects.bulk_create(objs)
        times.append(time.perf_counter() - t0)
        if _count(spec) != len(objs):
            raise AssertionError(f"bulk_create stored {_count(spec):,} rows, not {len(objs):,}")
    return {"times": times, "rows": len(objs)}


def main():
    spec = json.loads(sys.argv[1])
    try:
        out = {"orm": orm, "bulk": bulk}[spec["workload"]](spec)
    except Exception as e:  # noqa: BLE001 - reported, the runner goes on
        traceback.print_exc()
        out = {"error": f"{type(e).__name__}: {e}"[:500]}
    import clickhouse_backend  # which of the two same-named packages ran
    out["backend_path"] = os.path.dirname(clickhouse_backend.__file__)
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("\n" + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
