"""The same dashboard twice: an async view that fires all its queries at once
on the event loop (native async ORM), and a sync view that runs them one after
another, for comparison."""
import asyncio
import json
import time

from django.db.models import Avg, Count, Sum
from django.shortcuts import render

from clickhouse_backend.models import countMerge
from events.models import Event, EventDaily

from .charts import bar_chart

KINDS = ["view", "click", "signup", "purchase"]
COUNTRIES = ["DE", "US", "FR", "JP", "BR", "IN", "GB", "NL", "ES", "CA"]


def panels():
    """name -> (queryset, what to do with it): one query each."""
    e = Event.objects
    spec = {
        "total": (e.all(), "count"),
        "totals": (e.all(), ("aggregate", {"revenue": Sum("revenue"), "avg_ms": Avg("duration_ms"),
                                           "users": Count("user_id", distinct=True)})),
        "by_kind": (e.values("kind").annotate(n=Count("id")).order_by("kind"), "list"),
        "by_country": (e.values("country").annotate(revenue=Sum("revenue"))
                       .order_by("-revenue", "country")[:10], "list"),
        # From the materialized view's rollup (events/models.py), not the raw table,
        # read as a pandas DataFrame (QuerySet.to_dataframe(), docs/columnar.md).
        "by_day": (EventDaily.objects.values("day").annotate(n=countMerge("events"))
                   .order_by("day"), "frame"),
    }
    for kind in KINDS:
        spec["kind:" + kind] = (e.filter(kind=kind), "count")
    for country in COUNTRIES:
        spec["purchases:" + country] = (e.filter(kind="purchase", country=country), "count")
    return spec


async def _run_async(qs, what):
    if what == "count":
        return await qs.acount()
    if what == "list":
        return [row async for row in qs]
    if what == "frame":
        return _days(await qs.ato_dataframe())
    return await qs.aaggregate(**what[1])


def _run_sync(qs, what):
    if what == "count":
        return qs.count()
    if what == "list":
        return list(qs)
    if what == "frame":
        return _days(qs.to_dataframe())
    return qs.aggregate(**what[1])


def _days(df):
    """The per-day DataFrame (day: datetime64, n: counts) as the chart's points."""
    return [{"day": day.strftime("%Y-%m-%d"), "n": int(n)} for day, n in zip(df["day"], df["n"])]


def _page(request, results, elapsed, mode):
    charts = [
        bar_chart("by_kind", "Events by kind", [(r["kind"], r["n"]) for r in results["by_kind"]]),
        bar_chart("by_country", "Revenue by country",
                  [(r["country"], float(r["revenue"])) for r in results["by_country"]]),
        bar_chart("by_day", "Events per day (materialized-view rollup, countMerge)", [(r["day"][5:], r["n"]) for r in results["by_day"]],
                  label_every=15),
        bar_chart("purchases", "Purchases by country",
                  [(k.split(":")[1], v) for k, v in results.items() if k.startswith("purchases:")]),
    ]
    data = json.dumps(results, default=str, sort_keys=True)
    return render(request, "dashboard.html", {
        "charts": charts, "results": results, "data": data, "mode": mode,
        "elapsed_ms": "%.1f" % (elapsed * 1000), "queries": len(results),
        "totals": results["totals"], "total": results["total"],
    })


async def dashboard_async(request):
    spec = panels()
    start = time.perf_counter()
    # All queries are on the server at the same time; a client disconnect
    # cancels this task and, with it, every query still running.
    values = await asyncio.gather(*(_run_async(qs, what) for qs, what in spec.values()))
    elapsed = time.perf_counter() - start
    return _page(request, dict(zip(spec, values)), elapsed, "async (concurrent)")


def dashboard_sync(request):
    spec = panels()
    start = time.perf_counter()
    values = [_run_sync(qs, what) for qs, what in spec.values()]
    elapsed = time.perf_counter() - start
    return _page(request, dict(zip(spec, values)), elapsed, "sync (one after another)")
