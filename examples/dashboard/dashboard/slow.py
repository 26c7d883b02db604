"""The "slow query" panel: a long query whose progress streams to the browser as
server-sent events, and a cancel button.

GET  /slow/                   the page
GET  /slow/stream/?id=<id>    runs SLOW_SQL, streams `progress` events, then `done`,
                              `cancelled` or `error`
POST /slow/cancel/?id=<id>    cancels that query's task (the driver kills the query)
                              and answers once the engine no longer lists it

The query runs in a task of its own, registered under its id, so that the cancel
request can reach it; a browser that goes away cancels it too (Django cancels the
streaming response, whose `finally` cancels the task). One process holds the
registry: run one worker (uvicorn's default).
"""
import asyncio
import json
import re
import time

from django.db import connections
from django.http import HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

import clickhouse_backend.driver as chd

# Reads ~2 billion rows (tens of seconds): long enough to watch, and to cancel. The
# comment names the run in system.processes (the embedded engine lists its queries
# under ids of its own, not the driver's query_id).
SLOW_SQL = "SELECT count() FROM numbers(2000000000) WHERE NOT ignore(sipHash64(number)) /* slow-panel:{id} */"
SLOW_SETTINGS = {"max_threads": 1}
_ID = re.compile(r"^[0-9a-f]{8,32}$")
RUNNING = {}  # id -> the task running that query


async def _connect():
    db = connections["default"]
    return await chd.connect_async(**db.get_connection_params(), settings=db.driver_settings())


def _event(kind, data):
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


def page(request):
    return render(request, "slow.html", {"selftest": request.GET.get("selftest") == "1"})


def _run_id(request):
    run = request.GET.get("id", "")
    return run if _ID.match(run) else None


async def _query(run, events):
    """The query itself: puts its server-sent events on `events`, then None."""
    try:
        conn = await _connect()
        async with conn:
            cur = conn.cursor()
            async for p in cur.execute_progress(SLOW_SQL.format(id=run), settings=SLOW_SETTINGS):
                events.put_nowait(_event("progress", {
                    "read_rows": p.read_rows, "total_rows_to_read": p.total_rows_to_read,
                    "fraction": p.fraction, "elapsed_s": p.elapsed_ns / 1e9}))
            (count,), = await cur.fetchall()
            events.put_nowait(_event("done", {"count": count, "read_rows": cur.summary.read_rows}))
    except asyncio.CancelledError:
        events.put_nowait(_event("cancelled", {"id": run}))
        raise
    except chd.Error as e:
        events.put_nowait(_event("error", {"message": str(e)}))
    finally:
        events.put_nowait(None)


async def stream(request):
    run = _run_id(request)
    if run is None:
        return HttpResponseBadRequest("id: 8 to 32 hex digits")

    async def events():
        queue = asyncio.Queue()
        task = RUNNING[run] = asyncio.ensure_future(_query(run, queue))
        try:
            yield _event("start", {"id": run})
            while (item := await queue.get()) is not None:
                yield item
        finally:
            RUNNING.pop(run, None)
            if not task.done():  # the browser went away
                task.cancel()

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


async def _listed(cur, run):
    await cur.execute("SELECT count() FROM system.processes WHERE query LIKE %s AND query NOT LIKE %s",
                      [f"%slow-panel:{run}%", "%system.processes%"])
    return (await cur.fetchall())[0][0]


@csrf_exempt
async def cancel(request):
    run = _run_id(request)
    if run is None or request.method != "POST":
        return HttpResponseBadRequest("POST with id")
    task = RUNNING.get(run)
    if task is None:
        return JsonResponse({"cancelled": False})
    start = time.monotonic()
    task.cancel()
    conn = await _connect()
    async with conn:  # until the engine no longer lists the query (at most 5 s)
        cur = conn.cursor()
        while await _listed(cur, run) and time.monotonic() - start < 5:
            await asyncio.sleep(0.01)
        gone = not await _listed(cur, run)
    return JsonResponse({"cancelled": True, "gone": gone, "gone_after_ms": round((time.monotonic() - start) * 1000)})


async def running(request):
    """Is this run's query listed by the engine (system.processes)?"""
    run = _run_id(request)
    if run is None:
        return HttpResponseBadRequest("id")
    conn = await _connect()
    async with conn:
        return JsonResponse({"running": bool(await _listed(conn.cursor(), run))})
