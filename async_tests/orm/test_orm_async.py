"""The native async ORM (clickhouse_backend/models/aio.py) against the test
server and the embedded engine: every method compared with the sync path, no
thread hop on the server path, real concurrency, cancellation, settings."""
import asyncio
import datetime
import decimal
import uuid

import pytest
from django.db import DatabaseError, connections
from django.db.models import Avg, Count, Max, Min, Sum
from django.db.models.signals import post_delete, post_save, pre_save

from async_tests.orm.aioapp.models import Author, Book, Event, Note, Slow
from async_tests.orm.conftest import ThreadHop, cancel_when_running, no_thread_hop, running as _running, sync
from clickhouse_backend.models.aio import aio, arefresh_from_db, asave

pytestmark = pytest.mark.usefixtures("clean")

T0 = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _events(n=25):
    return [Event(name="n%d" % (i % 4), value=i, score=i / 4, amount=decimal.Decimal(i) / 8,
                  day=datetime.date(2024, 1, 1 + i % 28), ts=T0 + datetime.timedelta(hours=i),
                  uid=uuid.UUID(int=i + 1), tags=["t%d" % j for j in range(i % 3)])
            for i in range(n)]


def _row(e):
    return (e.pk, e.name, e.value, e.score, e.amount, e.day, e.ts, e.uid, e.tags)


def _given(n=25):
    """The rows _events() writes, without the pk: the literal oracle of the reads."""
    return [_row(e)[1:] for e in _events(n)]


async def _seed(alias, n=25):
    with no_thread_hop(alias):
        objs = await Event.objects.using(alias).abulk_create(_events(n))
    assert all(o.pk is not None and not o._state.adding for o in objs)
    return objs


async def test_guard_catches_djangos_thread_path(alias):
    """The guard is real: asgiref's sync_to_async (Django's thread path) trips it."""
    if alias != "default":
        pytest.skip("the guard applies to the server path")
    from asgiref.sync import sync_to_async

    with pytest.raises(ThreadHop):
        with no_thread_hop(alias):
            await sync_to_async(Event.objects.using(alias).count)()


async def test_reads_match_sync(alias):
    objs = await _seed(alias)
    pk = {o.value: o.pk for o in objs}
    given = _given()
    qs = Event.objects.using(alias)
    some = await qs.aget(value=7)
    # name: (async call, sync call, the literal result; an Event as its value)
    cases = {
        "get": (lambda: qs.aget(value=7), lambda: qs.get(value=7), 7),
        "count": (lambda: qs.acount(), lambda: qs.count(), 25),
        "count_filtered": (lambda: qs.filter(name="n1").acount(), lambda: qs.filter(name="n1").count(), 6),
        "exists": (lambda: qs.filter(value__gt=20).aexists(), lambda: qs.filter(value__gt=20).exists(), True),
        "not_exists": (lambda: qs.filter(value__gt=99).aexists(), lambda: qs.filter(value__gt=99).exists(), False),
        "first": (lambda: qs.order_by("value").afirst(), lambda: qs.order_by("value").first(), 0),
        "last": (lambda: qs.order_by("value").alast(), lambda: qs.order_by("value").last(), 24),
        "earliest": (lambda: qs.aearliest("ts"), lambda: qs.earliest("ts"), 0),
        "latest": (lambda: qs.alatest(), lambda: qs.latest(), 24),
        "aggregate": (lambda: qs.aaggregate(Sum("value"), Avg("score"), Max("ts"), Min("day"), Sum("amount"),
                                            n=Count("id")),
                      lambda: qs.aggregate(Sum("value"), Avg("score"), Max("ts"), Min("day"), Sum("amount"),
                                           n=Count("id")),
                      {"value__sum": 300, "score__avg": 3.0, "ts__max": T0 + datetime.timedelta(hours=24),
                       "day__min": datetime.date(2024, 1, 1), "amount__sum": decimal.Decimal("37.5"), "n": 25}),
        "aggregate_none_matched": (lambda: qs.filter(value__gt=99).aaggregate(n=Count("id")),
                                   lambda: qs.filter(value__gt=99).aggregate(n=Count("id")), {"n": 0}),
        "in_bulk": (lambda: qs.ain_bulk([some.pk]), lambda: qs.in_bulk([some.pk]), {pk[7]: 7}),
        "in_bulk_all": (lambda: qs.ain_bulk(), lambda: qs.in_bulk(), {pk[i]: i for i in range(25)}),
        "contains": (lambda: qs.acontains(some), lambda: qs.contains(some), True),
        "not_contains": (lambda: qs.exclude(pk=some.pk).acontains(some),
                         lambda: qs.exclude(pk=some.pk).contains(some), False),
    }

    def literal(result):
        # an Event compared as all its fields, against the row written for its value
        if isinstance(result, Event):
            assert _row(result) == (pk[result.value],) + given[result.value]
            return result.value
        if isinstance(result, dict) and result and isinstance(next(iter(result.values())), Event):
            return {k: literal(v) for k, v in result.items()}
        return result

    for name, (native, sync_fn, expected) in cases.items():
        with no_thread_hop(alias):
            got = await native()
        want = await sync(sync_fn)
        assert literal(got) == expected, name
        assert literal(want) == expected, name
    assert some.value == 7 and some.tags == ["t0"] and some.uid == uuid.UUID(int=8)

    with no_thread_hop(alias):
        with pytest.raises(Event.DoesNotExist):
            await qs.aget(value=99)
        with pytest.raises(Event.MultipleObjectsReturned):
            await qs.aget(name="n1")


async def test_aggregate_over_no_rows_is_none(alias):
    """Django documents None for Sum/Avg/Max/Min over no rows (Count gives 0)."""
    await _seed(alias, 3)
    qs = Event.objects.using(alias).filter(value__gt=99)
    expected = {"value__sum": None, "score__avg": None, "ts__max": None, "day__min": None}
    aggregates = (Sum("value"), Avg("score"), Max("ts"), Min("day"))
    with no_thread_hop(alias):
        assert await qs.aaggregate(*aggregates) == expected
    assert await sync(lambda: qs.aggregate(*aggregates)) == expected


async def test_iteration_matches_sync(alias):
    await _seed(alias)
    qs = Event.objects.using(alias).order_by("value")
    shapes = {
        "models": qs,
        "values": qs.values("name", "value", "amount", "ts"),
        "values_list": qs.values_list("value", "uid", "tags"),
        "flat": qs.values_list("value", flat=True),
        "named": qs.values_list("name", "day", named=True),
        "annotate": qs.values("name").annotate(n=Count("id"), s=Sum("value")).order_by("name"),
        "select_limit": qs.filter(value__gte=3)[2:9],
    }
    given = _given()
    by_name = {n: [g[1] for g in given if g[0] == n] for n in ("n0", "n1", "n2", "n3")}
    literal = {  # name, value, score, amount, day, ts, uid, tags of each row, in value order
        "models": given,
        "values": [{"name": g[0], "value": g[1], "amount": g[3], "ts": g[5]} for g in given],
        "values_list": [(g[1], g[6], g[7]) for g in given],
        "flat": list(range(25)),
        "named": [(g[0], g[4]) for g in given],
        "annotate": [{"name": n, "n": len(v), "s": sum(v)} for n, v in by_name.items()],
        "select_limit": given[5:12],
    }
    assert [row["s"] for row in literal["annotate"]] == [84, 66, 72, 78]
    for name, q in shapes.items():
        want = await sync(lambda: list(q.all()))
        with no_thread_hop(alias):
            got = [x async for x in q.all()]
            streamed = [x async for x in q.all().aiterator(chunk_size=4)]
        if name in ("models", "select_limit"):
            got, streamed, want = [_row(x)[1:] for x in got], [_row(x)[1:] for x in streamed], \
                [_row(x)[1:] for x in want]
        assert got == literal[name], name
        assert streamed == literal[name], name
        assert want == literal[name], name
        if name == "named":
            assert got[0]._fields == ("name", "day")
    # __aiter__ fills the result cache: later sync access needs no query.
    q = qs.all()
    with no_thread_hop(alias):
        assert len([x async for x in q]) == 25
    assert q._result_cache is not None and len(q) == 25


async def test_reads_compile_once_without_replay(alias, monkeypatch):
    """Each read compiles its query once and runs no replay pass (arun): N
    queries cost N compilations, not N + 1 runs of the sync method."""
    from django.db.models.sql import compiler as dj_compiler

    await _seed(alias, 6)
    compiled = []
    original = dj_compiler.SQLCompiler.as_sql

    def counting_as_sql(self, *args, **kwargs):
        if not getattr(self.query, "subquery", False):
            compiled.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(dj_compiler.SQLCompiler, "as_sql", counting_as_sql)
    qs = Event.objects.using(alias)
    reads = {
        "aggregate": (lambda: qs.filter(value__gt=1).aaggregate(s=Sum("value"), m=Max("ts")), {"s": 14}),
        "count": (lambda: qs.filter(name="n1").acount(), 2),
        "exists": (lambda: qs.filter(value=99).aexists(), False),
        "get": (lambda: qs.aget(value=4), 4),
        "first": (lambda: qs.order_by("-value").afirst(), 5),
        "latest": (lambda: qs.alatest("value"), 5),
        "list": (lambda: _alist(qs.filter(value__lt=3).order_by("value").values_list("value", flat=True)), [0, 1, 2]),
        "empty": (lambda: qs.filter(value__in=[]).acount(), 0),
    }
    for name, (read, want) in reads.items():
        compiled.clear()
        with no_thread_hop(alias):
            got = await read()
        if isinstance(got, Event):
            got = got.value
        if isinstance(want, dict):
            got = {k: got[k] for k in want}
        assert got == want, name
        assert len(compiled) == 1, (name, compiled)


async def _alist(qs):
    return [x async for x in qs]


async def test_aiterator_streams_in_chunks(alias):
    """Rows are read chunk by chunk while items are yielded, and leaving the
    loop early closes the result."""
    await _seed(alias, 30)
    it = Event.objects.using(alias).order_by("value").values_list("value", flat=True).aiterator(chunk_size=5)
    got = []
    with no_thread_hop(alias):
        async for v in it:
            got.append(v)
            if v == 11:
                break
        await it.aclose()
    assert got == list(range(12))


async def test_raw_queries(alias):
    objs = await _seed(alias, 5)
    table = connections[alias].ops.quote_name(Event._meta.db_table)
    sql = "SELECT id, name, value, value * 2 AS twice FROM %s WHERE value >= %%s ORDER BY value" % table
    want = await sync(lambda: [(e.pk, e.name, e.value, e.twice) for e in Event.objects.using(alias).raw(sql, [2])])
    with no_thread_hop(alias):
        got = [(e.pk, e.name, e.value, e.twice) async for e in Event.objects.using(alias).raw(sql, [2])]
    pk = {o.value: o.pk for o in objs}
    literal = [(pk[2], "n2", 2, 4), (pk[3], "n3", 3, 6), (pk[4], "n0", 4, 8)]
    assert got == literal and want == literal


async def test_writes(alias):
    qs = Event.objects.using(alias)
    seen = []

    def on_save(sender, instance, created=None, **kw):
        seen.append((kw.get("signal") is pre_save, created, instance.value))

    pre_save.connect(on_save, sender=Event)
    post_save.connect(on_save, sender=Event)
    try:
        with no_thread_hop(alias):
            # tags non-empty: updating an empty Array fails on 18.16 (sync path too).
            e = await qs.acreate(name="x", value=1, ts=T0, tags=["a"])
            assert e.pk and e.touched is not None
            # asave of an existing row: an UPDATE mutation (mutations_sync emulated on 18.16)
            e.value = 2
            await e.asave(using=alias)
            assert (await qs.aget(pk=e.pk)).value == 2
            # aget_or_create: both branches
            got, created = await qs.aget_or_create(name="x", defaults={"value": 5})
            assert (got.pk, created) == (e.pk, False)
            other, created = await qs.aget_or_create(name="y", defaults={"value": 5, "ts": T0, "tags": ["b"]})
            assert created and other.value == 5
            # aupdate_or_create: both branches
            upd, created = await qs.aupdate_or_create(name="y", defaults={"value": 6})
            assert (upd.pk, created) == (other.pk, False)
            new, created = await qs.aupdate_or_create(name="z", defaults={"value": 7, "ts": T0, "tags": ["c"]})
            assert created
            assert await qs.filter(name__in=["x", "y", "z"]).aupdate(score=1.5) == 3
            await e.arefresh_from_db(using=alias)
            assert e.score == 1.5 and e.value == 2
        assert await sync(lambda: sorted(qs.values_list("name", "value", "score"))) == [
            ("x", 2, 1.5), ("y", 6, 1.5), ("z", 7, 1.5)]
        assert (False, True, 1) in seen and (False, False, 2) in seen and (False, False, 6) in seen
        with no_thread_hop(alias):
            assert await qs.filter(name="z").adelete() == (1, {"aioapp.Event": 1})
            assert await e.adelete(using=alias) == (1, {"aioapp.Event": 1})
            assert e.pk is None
            assert await qs.filter(name="none").adelete() == (0, {})
        assert await sync(lambda: list(qs.values_list("name", flat=True))) == ["y"]
    finally:
        pre_save.disconnect(on_save, sender=Event)
        post_save.disconnect(on_save, sender=Event)


async def test_bulk_create_matches_sync(alias):
    qs = Event.objects.using(alias)
    with no_thread_hop(alias):
        made = await qs.abulk_create(_events(10), batch_size=3)
        assert await qs.acount() == 10
    want = await sync(lambda: sorted(_row(e) for e in qs.all()))
    assert sorted(_row(e) for e in made) == want
    assert sorted(r[1:] for r in want) == sorted(_given(10))  # what was written, read back
    assert len({r[0] for r in want}) == 10


async def test_plain_models(alias):
    """Plain Django models: AsyncManager, aio(qs), select_related, prefetch, cascade delete."""
    with no_thread_hop(alias):
        a = await Author.objects.using(alias).acreate(name="ann")
        b = await Author.objects.using(alias).acreate(name="bob")
        await Book.objects.using(alias).abulk_create(
            [Book(author=a, title="a%d" % i, pages=i) for i in range(3)] + [Book(author=b, title="b0")])
        books = [(bk.title, bk.author.name) async for bk in
                 Book.objects.using(alias).select_related("author").order_by("title")]
        authors = [(au.name, sorted(x.title for x in au.books.all())) async for au in
                   Author.objects.using(alias).prefetch_related("books").order_by("name")]
        note = Note(title="n", n=1)
        await asave(note, using=alias)
        assert await aio(Note.objects.using(alias).filter(n=1)).acount() == 1
        note.n = 2
        await asave(note, using=alias)
        fresh = Note(pk=note.pk)
        await arefresh_from_db(fresh, using=alias)
        assert (fresh.n, fresh.seven, note.seven) == (2, 7, 7)
        # Cascade: deleting an author deletes its books (collector reads replayed).
        deleted = []
        post_delete.connect(lambda sender, instance, **kw: deleted.append(type(instance).__name__), weak=False,
                            dispatch_uid="aio-test")
        try:
            n, per_model = await Author.objects.using(alias).filter(name="ann").adelete()
        finally:
            post_delete.disconnect(dispatch_uid="aio-test")
    assert books == [("a0", "ann"), ("a1", "ann"), ("a2", "ann"), ("b0", "bob")]
    assert authors == [("ann", ["a0", "a1", "a2"]), ("bob", ["b0"])]
    assert (n, per_model) == (4, {"aioapp.Book": 3, "aioapp.Author": 1})
    assert sorted(deleted) == ["Author", "Book", "Book", "Book"]
    assert await sync(lambda: list(Book.objects.using(alias).values_list("title", flat=True))) == ["b0"]
    # Django's own manager is native too.
    with no_thread_hop(alias):
        assert await Note.objects.using(alias).acount() == 1


async def test_settings_and_timeouts_apply():
    """DATABASES OPTIONS reach async queries: ClickHouse settings and query_timeout."""
    sql = "SELECT toInt64(0) AS id, value AS setting FROM system.settings WHERE name = 'max_threads'"
    with no_thread_hop():
        got = [e.setting async for e in Event.objects.using("default").raw(sql)]
    assert got == ["3"]
    with no_thread_hop(), pytest.raises(DatabaseError):
        await Slow.objects.using("short").acount()  # 1 s query, 0.5 s timeout
    with pytest.raises(DatabaseError):
        await sync(lambda: Slow.objects.using("short").count())


async def test_100_concurrent_acount_run_at_once(orm_databases):
    """100 acount() from one loop are all executing on the server at the same
    time (seen in system.processes), not one after another."""
    tasks = [asyncio.ensure_future(Slow.objects.using("default").acount()) for _ in range(100)]
    seen = []
    with no_thread_hop():
        while not all(t.done() for t in tasks):
            seen.append(await _running("aio_slow"))
            await asyncio.sleep(0.05)
        results = await asyncio.gather(*tasks)
    assert results == [8] * 100  # each takes 2 s: 200 s one after another
    assert max(seen) == 100, seen


async def test_cancelled_task_cancels_server_query(orm_databases):
    """A cancelled view task (client disconnect under ASGI) kills its query."""
    sql = "SELECT number AS id FROM numbers(40) WHERE sleepEachRow(0.5) = 0 SETTINGS max_block_size = 1"
    marker = "sleepEachRow(0.5)"

    async def view():
        return [s.pk async for s in Slow.objects.using("default").raw(sql)]

    task = asyncio.ensure_future(view())
    await cancel_when_running(task, marker)


async def test_queryset_query_id_and_query_log(alias):
    """QuerySet.query_id() and connection.queries' query facts on the async ORM."""
    await _seed(alias, 5)
    conn = connections[alias]
    conn.force_debug_cursor = True  # what DEBUG=True does (CaptureQueriesContext is sync-only)
    before = len(conn.queries_log)
    try:
        assert await Event.objects.using(alias).query_id("aqs-7").acount() == 5
        assert len([e async for e in Event.objects.using(alias).query_id("aqs-8")]) == 5
    finally:
        conn.force_debug_cursor = False
    captured = list(conn.queries_log)[before:]
    assert [q["query_id"] for q in captured] == ["aqs-7", "aqs-8"]
    if alias == "embedded":
        assert captured[1]["read_rows"] == 5  # (count() reads no rows: the trivial count)
