"""The drop-in functions and aggregates (clickhouse_backend.models.functions /
.aggregates, tests/backend/test_dropin_names.py for the sync path) on the
native async ORM: the same values as the sync path and as the oracles, and
the same NotSupportedError where the server is too old."""
import hashlib

import pytest
from django.db import NotSupportedError, connections

from async_tests.orm.aioapp.models import Event
from async_tests.orm.conftest import no_thread_hop, sync
from async_tests.orm.test_orm_async import _seed
from clickhouse_backend import models

pytestmark = pytest.mark.usefixtures("clean")


async def test_functions_and_aggregates_match_sync(alias):
    events = await _seed(alias, 12)
    qs = Event.objects.using(alias).order_by("value")
    annotated = qs.annotate(
        md5=models.MD5("name"), sip=models.sipHash64("name"), hour=models.toStartOfHour("ts"),
        ymd=models.toYYYYMMDD("ts"), pair=models.Tuple("value", "name"),
        second=models.tupleElement(models.Tuple("value", "name"), 1),
    ).values_list("value", "md5", "hour", "ymd", "pair", "second", "sip")
    aggregated = lambda q: q.aggregate(  # noqa: E731
        u=models.uniq("name"), ux=models.uniqExact("name"), hll=models.uniqHLL12("name"),
        top=models.argMax("name", "value"), last=models.anyLast("value"),
        names=models.groupUniqArray("name"))
    with no_thread_hop(alias):
        rows = [r async for r in annotated]
        agg = await qs.aaggregate(
            u=models.uniq("name"), ux=models.uniqExact("name"), hll=models.uniqHLL12("name"),
            top=models.argMax("name", "value"), last=models.anyLast("value"),
            names=models.groupUniqArray("name"))
    assert rows == await sync(lambda: list(annotated))
    want = await sync(aggregated, qs)
    assert agg.pop("last") in {e.value for e in events} and want.pop("last") is not None
    assert sorted(agg.pop("names")) == sorted(want.pop("names")) == ["n0", "n1", "n2", "n3"]
    assert agg == want == {"u": 4, "ux": 4, "hll": 4, "top": "n3"}
    by_value = {e.value: e for e in events}
    for value, md5, hour, ymd, pair, second, _ in rows:
        e = by_value[value]
        assert md5 == hashlib.md5(e.name.encode()).digest()
        assert hour == e.ts.replace(minute=0, second=0, microsecond=0)
        assert ymd == int(e.ts.strftime("%Y%m%d"))
        assert pair == (value, e.name) and second == e.name


async def test_too_old_server_refuses_before_sending(alias):
    conn = connections[alias]
    qs = Event.objects.using(alias)
    if conn.features.has_to_year_week:
        with no_thread_hop(alias):
            assert await qs.annotate(w=models.toYearWeek("day")).acount() == 0
        return
    with no_thread_hop(alias):
        with pytest.raises(NotSupportedError, match=r"toYearWeek\(\) needs ClickHouse 19\.11"):
            await qs.annotate(w=models.toYearWeek("day")).values_list("w").afirst()
        with pytest.raises(NotSupportedError, match=r"uniqCombined64\(\) needs ClickHouse"):
            await qs.aaggregate(v=models.uniqCombined64("name"))


async def test_json_functions_and_start_of_week(alias):
    """toStartOfWeek and models.functions.json through the async ORM: the
    values (or NotSupportedError naming the release) of the sync path."""
    import datetime

    from django.db.models import Value
    conn = connections[alias]
    events = await _seed(alias, 4)
    qs = Event.objects.using(alias).order_by("value")
    week = qs.annotate(w=models.toStartOfWeek("ts", 1)).values_list("ts", "w")
    paths = qs.annotate(p=models.JSONAllPaths(Value('{"a": {"b": 1}, "c": 2}')),
                        ok=models.isValidJSON("name"),
                        n=models.JSONLength(Value("[1, 2, 3]"))).values_list("p", "ok", "n")
    with no_thread_hop(alias):
        if not conn.features.has_to_start_of_week:
            with pytest.raises(NotSupportedError,
                               match=r"toStartOfWeek\(\) needs ClickHouse 19\.11"):
                await week.afirst()
        else:
            rows = [r async for r in week]
            assert rows == [(ts, ts.date() - datetime.timedelta(days=ts.weekday()))
                            for ts, _ in rows] and len(rows) == len(events)
        if not conn.features.supports_json_type:
            with pytest.raises(NotSupportedError, match=r"JSONAllPaths\(\) needs ClickHouse 25\.3"):
                await paths.afirst()
            return
        rows = [r async for r in paths]
    assert rows == await sync(lambda: list(paths))
    assert [(sorted(p), ok, n) for p, ok, n in rows] == [(["a.b", "c"], False, 3)] * len(events)
