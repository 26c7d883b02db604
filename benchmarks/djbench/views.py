"""The dashboard endpoint of workload 6: 8 aggregates per request, run concurrently.

/dash/orm-async     Django's async ORM API (``aaggregate``), gathered. This repository's
                    backend runs them natively on the event loop (the 8 queries are on
                    the server at once); django-clickhouse-backend goes through Django's
                    sync_to_async(thread_sensitive=True), one after another on one thread.
/dash/orm-threads   the sync ORM in a thread pool (sync_to_async(thread_sensitive=False)):
                    the 8 queries really run at the same time, each thread on its own
                    Django connection. Works for both backends.
/dash/driver-async  this repository only, a reference (not an ORM mode, not compared with
                    the other backend): the SQL the ORM generates for the 8 aggregates
                    (compiled once at start-up) run on the asyncio driver
                    (connect_async), i.e. the ORM's cost taken away.
"""
import asyncio

from asgiref.sync import sync_to_async
from django.db.models import Avg, Count, Max, Min, Sum
from django.http import Http404, JsonResponse

from .models import Row


def aggregates():
    R = Row.objects
    return [
        (R.all(), dict(rows=Count("id"))),
        (R.filter(n__isnull=True), dict(nulls=Count("id"))),
        (R.filter(id__lt=5000), dict(total=Sum("f"))),
        (R.filter(id__gte=5000), dict(avg=Avg("f"))),
        (R.all(), dict(first=Min("dt"), last=Max("dt"))),
        (R.filter(n__gt=1000), dict(max_n=Max("n"))),
        (R.filter(s__startswith="row-1"), dict(ones=Count("id"))),
        (R.filter(f__lt=100.0), dict(avg_n=Avg("n"))),
    ]


_prepared = None  # [(sql, params, keys)] for driver-async
_aconn = {}       # event loop -> AsyncConnection


def prepare():
    """Capture the SQL the ORM sends for each aggregate (our backend only)."""
    global _prepared
    from django.conf import settings
    from django.db import connection

    if settings.BACKEND != "ours":
        return
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    out = []
    with connection.execute_wrapper(capture):
        for qs, aggs in aggregates():
            captured.clear()
            result = qs.aggregate(**aggs)
            sql, params = captured[-1]
            out.append((sql, params, list(result)))
    _prepared = out


async def _driver_conn():
    import clickhouse_backend.driver as chd
    from django.conf import settings

    loop = asyncio.get_running_loop()
    conn = _aconn.get(loop)
    if conn is None:
        db = settings.DATABASES["default"]
        conn = _aconn[loop] = await chd.connect_async(host=db["HOST"], port=db["PORT"],
                                                      database=db["NAME"], pool_size=16)
    return conn


async def _driver_one(conn, sql, params, keys):
    cur = conn.cursor()
    await cur.execute(sql, params)
    return dict(zip(keys, await cur.fetchone()))


async def dashboard(request, mode):
    if mode == "orm-async":
        parts = await asyncio.gather(*(qs.aaggregate(**a) for qs, a in aggregates()))
    elif mode == "orm-threads":
        parts = await asyncio.gather(*(sync_to_async(qs.aggregate, thread_sensitive=False)(**a)
                                       for qs, a in aggregates()))
    elif mode == "driver-async" and _prepared is not None:
        conn = await _driver_conn()
        parts = await asyncio.gather(*(_driver_one(conn, *p) for p in _prepared))
    else:
        raise Http404(mode)
    out = {}
    for p in parts:
        out.update(p)
    return JsonResponse(out)
