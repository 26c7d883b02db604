"""The async ORM's greenlet bridge (clickhouse_backend/backend/bridge.py) on the
server and the embedded engine: Django's own async methods, each running Django's
sync code once on the event loop, compared with the sync path and with literal
values."""
import asyncio
import datetime
import threading
import tracemalloc

import psutil
import pytest
from asgiref.sync import sync_to_async as asgiref_sync_to_async
from django.core.exceptions import SynchronousOnlyOperation
from django.db import NotSupportedError, connection as default_connection, connections, transaction
from django.db.models import Count, F, Prefetch, Sum
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.db.models.sql import compiler as dj_compiler

from async_tests.orm.aioapp.models import (
    Audited, AuditLog, Author, Book, Chapter, Event, Million, Place, Restaurant, Slow)
from async_tests.orm.conftest import cancel_when_running, no_thread_hop, running, sync
from clickhouse_backend.backend import bridge

T0 = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
MODELS = (Event, Author, Book, Chapter, Place, Restaurant, Audited, AuditLog)
MILLION_VIEW = ("CREATE VIEW IF NOT EXISTS {db}.aio_million AS "
                "SELECT number AS id, toString(number) AS label FROM numbers(1000000)")


@pytest.fixture
def tables(orm_databases):
    for a in orm_databases:
        with connections[a].cursor() as cur:
            for model in MODELS:
                cur.execute("TRUNCATE TABLE %s" % connections[a].ops.quote_name(model._meta.db_table))


def _evs(n, name="e"):
    return [Event(name=name, value=i, ts=T0 + datetime.timedelta(hours=i), tags=["t"]) for i in range(n)]


# ---- SQL compiled once per statement ------------------------------------------------

class _CompileCounter:
    """Counts outermost compilations, per thread: compiler.as_sql() calls, and the
    INSERT compiler's _insert_plan() (its as_sql() for the executemany() fast path);
    a subquery compiled inside another statement is part of it."""

    def __init__(self, monkeypatch):
        self.counts = {}
        self._depth = threading.local()
        classes, todo = set(), [dj_compiler.SQLCompiler]
        while todo:
            cls = todo.pop()
            classes.add(cls)
            todo.extend(cls.__subclasses__())
        for cls in classes:
            for name in ("as_sql", "_insert_plan"):
                if name in vars(cls):
                    monkeypatch.setattr(cls, name, self._counting(vars(cls)[name]))

    def _counting(self, as_sql):
        counter = self

        def counted(self, *args, **kwargs):
            depth = getattr(counter._depth, "n", 0)
            if depth == 0:
                key = threading.get_ident()
                counter.counts[key] = counter.counts.get(key, 0) + 1
            counter._depth.n = depth + 1
            try:
                return as_sql(self, *args, **kwargs)
            finally:
                counter._depth.n = depth

        return counted

    def take(self, ident):
        return self.counts.pop(ident, 0)


async def test_each_call_compiles_its_sql_once(alias, tables, monkeypatch):
    """Every async ORM call compiles exactly the statements its sync twin does:
    Django's code runs once (the first design replayed a call N + 1 times)."""
    qs = Event.objects.using(alias)
    await sync(lambda: qs.bulk_create(_evs(6)))
    counter = _CompileCounter(monkeypatch)
    loop_thread = threading.get_ident()

    def row(name):
        return qs.filter(name=name)

    calls = {
        "aget": (lambda: qs.aget(value=3), lambda: qs.get(value=3)),
        "acount": (lambda: qs.filter(value__gt=1).acount(), lambda: qs.filter(value__gt=1).count()),
        "aexists": (lambda: qs.filter(value=9).aexists(), lambda: qs.filter(value=9).exists()),
        "afirst": (lambda: qs.order_by("value").afirst(), lambda: qs.order_by("value").first()),
        "alast": (lambda: qs.alast(), lambda: qs.last()),
        "aearliest": (lambda: qs.aearliest("ts"), lambda: qs.earliest("ts")),
        "alatest": (lambda: qs.alatest("ts"), lambda: qs.latest("ts")),
        "aaggregate": (lambda: qs.aaggregate(s=Sum("value")), lambda: qs.aggregate(s=Sum("value"))),
        "ain_bulk": (lambda: qs.ain_bulk([1, 2]), lambda: qs.in_bulk([1, 2])),
        "async for": (lambda: _alist(qs.filter(value__lt=4)), lambda: list(qs.filter(value__lt=4))),
        "aiterator": (lambda: _alist(qs.aiterator(chunk_size=2)), lambda: list(qs.iterator(chunk_size=2))),
        "acreate": (lambda: qs.acreate(name="a", tags=["t"]), lambda: qs.create(name="s", tags=["t"])),
        "abulk_create": (lambda: qs.abulk_create(_evs(3, "ab")), lambda: qs.bulk_create(_evs(3, "sb"))),
        "aget_or_create": (lambda: qs.aget_or_create(name="a"), lambda: qs.get_or_create(name="s")),
        "aupdate_or_create": (lambda: qs.aupdate_or_create(name="a", defaults={"value": 50}),
                              lambda: qs.update_or_create(name="s", defaults={"value": 50})),
        "aupdate": (lambda: row("ab").aupdate(score=F("value") + 1), lambda: row("sb").update(score=F("value") + 1)),
        "adelete": (lambda: row("ab").adelete(), lambda: row("sb").delete()),
    }
    if connections[alias].features.supports_explaining_query_execution:
        calls["aexplain"] = (lambda: qs.filter(value=1).aexplain(), lambda: qs.filter(value=1).explain())
    for name, (native, sync_fn) in calls.items():
        counter.take(loop_thread)
        with no_thread_hop(alias):
            await native()
        n_async = counter.take(loop_thread)

        def run_sync():
            sync_fn()
            return counter.take(threading.get_ident())

        n_sync = await sync(run_sync)
        assert n_async == n_sync and n_async >= 1, (name, n_async, n_sync)


async def _alist(aiterable):
    return [x async for x in aiterable]


# ---- every model path is Django's -----------------------------------------------------

async def test_save_override_with_extra_queries(alias, tables):
    """A model whose save()/delete() make queries of their own: run natively, once."""
    with no_thread_hop(alias):
        a = Audited(name="first")
        await a.asave(using=alias)
        b = await Audited.objects.using(alias).acreate(name="second")
        assert (a.rank, b.rank) == (1, 2)
        await b.adelete(using=alias)
        log = [x async for x in AuditLog.objects.using(alias).order_by("what").values_list("what", flat=True)]
    assert log == ["deleted second", "saved first as 1", "saved second as 2"]
    # the sync path agrees
    c = await sync(lambda: Audited.objects.using(alias).create(name="third"))
    assert c.rank == 2
    assert await sync(lambda: AuditLog.objects.using(alias).count()) == 4


async def test_multi_table_inheritance_asave(alias, tables):
    with no_thread_hop(alias):
        r = Restaurant(name="chez", seats=12)
        await r.asave(using=alias)
        r.seats = 20
        r.name = "chez nous"
        await r.asave(using=alias)
        got = await Restaurant.objects.using(alias).aget(pk=r.pk)
        place = await Place.objects.using(alias).aget(pk=r.pk)
        assert (got.name, got.seats, place.name) == ("chez nous", 20, "chez nous")
        assert await Restaurant.objects.using(alias).filter(name="chez nous").acount() == 1
        assert await r.adelete(using=alias) == (2, {"aioapp.Restaurant": 1, "aioapp.Place": 1})
    assert await sync(lambda: (Place.objects.using(alias).count(), Restaurant.objects.using(alias).count())) == (0, 0)


async def test_signals_in_order(alias, tables):
    seen = []

    def record(signal_name):
        def handler(sender, instance, **kw):
            seen.append((signal_name, sender.__name__, instance.title if hasattr(instance, "title") else instance.name,
                         kw.get("created")))
        return handler

    handlers = [(sig, record(n)) for sig, n in ((pre_save, "pre_save"), (post_save, "post_save"),
                                                 (pre_delete, "pre_delete"), (post_delete, "post_delete"))]
    for sig, h in handlers:
        sig.connect(h, weak=False)

    async def scenario():
        au = await Author.objects.using(alias).acreate(name="ann")
        bk = await Book.objects.using(alias).acreate(author=au, title="b")
        bk.title = "b2"
        await bk.asave(using=alias)
        await au.adelete(using=alias)

    def scenario_sync():
        au = Author.objects.using(alias).create(name="ann")
        bk = Book.objects.using(alias).create(author=au, title="b")
        bk.title = "b2"
        bk.save(using=alias)
        au.delete(using=alias)

    try:
        with no_thread_hop(alias):
            await scenario()
        native = list(seen)
        seen.clear()
        await sync(scenario_sync)
    finally:
        for sig, h in handlers:
            sig.disconnect(h)
    assert native == seen == [
        ("pre_save", "Author", "ann", None), ("post_save", "Author", "ann", True),
        ("pre_save", "Book", "b", None), ("post_save", "Book", "b", True),
        ("pre_save", "Book", "b2", None), ("post_save", "Book", "b2", False),
        ("pre_delete", "Book", "b2", None), ("pre_delete", "Author", "ann", None),
        ("post_delete", "Book", "b2", None), ("post_delete", "Author", "ann", None)], (native, seen)


async def test_aexplain_matches_sync(alias, tables):
    qs = Event.objects.using(alias).filter(value__gt=3)
    if not connections[alias].features.supports_explaining_query_execution:
        with no_thread_hop(alias), pytest.raises(NotSupportedError, match="EXPLAIN needs ClickHouse 20.6"):
            await qs.aexplain()
        with pytest.raises(NotSupportedError, match="EXPLAIN needs ClickHouse 20.6"):
            await sync(qs.explain)
        return
    with no_thread_hop(alias):
        plan = await qs.aexplain()
    assert plan == await sync(qs.explain)
    assert "value > 3" in plan, plan


async def _library(alias):
    ann = await Author.objects.using(alias).acreate(name="ann")
    bob = await Author.objects.using(alias).acreate(name="bob")
    books = await Book.objects.using(alias).abulk_create(
        [Book(author=ann, title="a1"), Book(author=ann, title="a2"), Book(author=bob, title="b1")])
    await Chapter.objects.using(alias).abulk_create(
        [Chapter(book=b, title="%s.%d" % (b.title, i)) for b in books for i in range(2)])
    return ann, bob


def _shape(authors):
    return [(a.name, [(b.title, sorted(c.title for c in b.chapters.all()))
                      for b in sorted(a.books.all(), key=lambda b: b.title)]) for a in authors]


async def test_prefetch_related_two_levels(alias, tables):
    with no_thread_hop(alias):
        await _library(alias)
        qs = Author.objects.using(alias).order_by("name").prefetch_related(
            Prefetch("books", queryset=Book.objects.using(alias).order_by("title")), "books__chapters")
        native = [a async for a in qs]
        streamed = [a async for a in qs.aiterator(chunk_size=1)]
    want = [("ann", [("a1", ["a1.0", "a1.1"]), ("a2", ["a2.0", "a2.1"])]), ("bob", [("b1", ["b1.0", "b1.1"])])]
    assert _shape(native) == _shape(streamed) == want
    assert await sync(lambda: _shape(list(qs.all()))) == want


async def test_cascaded_adelete_and_related_managers(alias, tables):
    with no_thread_hop(alias):
        ann, bob = await _library(alias)
        extra = await ann.books.acreate(title="a3")
        assert await ann.books.acount() == 3
        got, created = await bob.books.aget_or_create(title="b1")
        assert not created and got.author_id == bob.pk
        upd, created = await bob.books.aupdate_or_create(title="b1", defaults={"pages": 9})
        assert not created and upd.pages == 9
        n, per_model = await Author.objects.using(alias).filter(name="ann").adelete()
        left = [t async for t in Book.objects.using(alias).values_list("title", flat=True)]
        chapters = await Chapter.objects.using(alias).acount()
    assert extra.pk and (n, per_model) == (8, {"aioapp.Chapter": 4, "aioapp.Book": 3, "aioapp.Author": 1})
    assert (left, chapters) == (["b1"], 2)
    assert await sync(lambda: Book.objects.using(alias).get(title="b1").pages) == 9


async def test_bulk_update_and_refresh(alias, tables):
    qs = Event.objects.using(alias)
    with no_thread_hop(alias):
        objs = await qs.abulk_create(_evs(4))
        for o in objs:
            o.value += 100
        assert await qs.abulk_update(objs, ["value"]) == 4
        await objs[0].arefresh_from_db(using=alias)
        values = [v async for v in qs.order_by("value").values_list("value", flat=True)]
    assert values == [100, 101, 102, 103] and objs[0].value == 100
    assert await sync(lambda: list(qs.order_by("value").values_list("value", flat=True))) == values


async def test_values_shapes_and_annotations(alias, tables):
    qs = Event.objects.using(alias)
    await sync(lambda: qs.bulk_create(_evs(6, "a") + _evs(3, "b")))
    q = qs.values("name").annotate(n=Count("id"), s=Sum("value")).order_by("name")
    with no_thread_hop(alias):
        got = [r async for r in q]
    assert got == [{"name": "a", "n": 6, "s": 15}, {"name": "b", "n": 3, "s": 3}]
    assert got == await sync(lambda: list(q.all()))


# ---- the loop is protected; tasks are isolated -------------------------------------

async def test_sync_orm_on_the_loop_still_refused(orm_databases):
    """Outside the bridge, Django's async_unsafe keeps refusing the sync ORM."""
    with pytest.raises(SynchronousOnlyOperation):
        Event.objects.using("default").count()
    with pytest.raises(SynchronousOnlyOperation):
        default_connection.cursor()
    # ... and the bridge does not leak into other greenlets' code
    assert not bridge.active()


async def test_concurrent_tasks_have_their_own_connection(alias, tables):
    """Tasks interleaving on the loop thread never share a DatabaseWrapper (its
    atomic-block state) or a cursor; the thread's wrapper stays untouched."""
    seen, active, most = [], set(), [0]

    def unit(i):
        conn = connections[alias]
        # no wrapper is used by two units at once (a finished unit's wrapper may
        # serve a later one: the bridge pools them per thread)
        assert id(conn) not in active
        active.add(id(conn))
        most[0] = max(most[0], len(active))
        try:
            with transaction.atomic(using=alias):
                assert conn.in_atomic_block
                Event.objects.using(alias).create(name="c%d" % i, value=i, tags=["t"])
                n = Event.objects.using(alias).filter(name="c%d" % i).count()  # another await
                seen.append((id(conn), n))
                assert conn.in_atomic_block and connections[alias] is conn
        finally:
            active.discard(id(conn))
        return n

    with no_thread_hop(alias):
        results = await asyncio.gather(*(bridge.run(unit, i) for i in range(20)))
    assert results == [1] * 20 and len(seen) == 20
    assert most[0] > 1  # the units did interleave, each with its own wrapper
    base = connections[alias]  # outside the bridge: the thread's own
    assert not base.in_atomic_block and all(c != id(base) for c, _ in seen)
    assert await sync(lambda: Event.objects.using(alias).filter(name__startswith="c").count()) == 20


async def test_execute_wrappers_and_query_log_see_async_queries(orm_databases):
    calls = []

    def wrapper(execute, sql, params, many, context):
        calls.append(sql.split()[0])
        return execute(sql, params, many, context)

    conn = connections["default"]
    conn.force_debug_cursor = True
    conn.queries_log.clear()
    try:
        with conn.execute_wrapper(wrapper):
            await Event.objects.using("default").acount()
        logged = list(conn.queries)
    finally:
        conn.force_debug_cursor = False
    assert calls == ["SELECT"]
    assert len(logged) == 1 and logged[0]["sql"].startswith("SELECT COUNT(*)")


# ---- streaming, concurrency, cancellation ------------------------------------------

@pytest.fixture(scope="module")
def million(orm_databases):
    for a in orm_databases:
        with connections[a].cursor() as cur:
            cur.execute(MILLION_VIEW.format(db=connections[a].settings_dict["NAME"]))
    return orm_databases


async def test_aiterator_million_rows_flat_memory(alias, million):
    """1,000,000 rows stream through aiterator() with memory bounded by a chunk:
    Python allocations (tracemalloc) and the process RSS stay flat."""
    proc = psutil.Process()
    qs = Million.objects.using(alias).values_list("id", "label").aiterator(chunk_size=2000)
    count = total = 0
    tracemalloc.start()
    try:
        async for pk, label in qs:
            count += 1
            total += pk
            if count == 100_000:
                rss_early = proc.memory_info().rss
                traced_early = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
            if pk == 999_999:
                assert label == "999999"
        traced_end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = proc.memory_info().rss - rss_early
    assert (count, total) == (1_000_000, 499_999_500_000)
    # The whole result as tuples would be > 100 MB; the last 900,000 rows moved
    # through a block's and a chunk's worth of memory, and nothing accumulated.
    assert peak < 32 * 2**20, peak
    assert traced_end - traced_early < 2**20, (traced_early, traced_end)
    # chDB runs the query in this process: its own allocator and read buffers grow
    # with the query (54-60 MB seen in CI runs, under 48 MB in others), not with the
    # rows Python holds (tracemalloc above); the bound there is "not the result".
    assert rss_growth < (48 if alias == "default" else 100) * 2**20, rss_growth


def _pool_in_use():
    conn = connections["default"]
    conn.ensure_connection()
    return conn.connection.pool_stats()["in_use"]


async def test_cancel_mid_query_kills_it_and_unwinds(orm_databases):
    """Cancelling a task whose acount() is running on the server: the query is
    killed, the greenlet unwinds (Django's finally blocks close the cursor), the
    pool slot comes back and the call's DatabaseWrapper returns to its pool."""
    idle = bridge._pools.__dict__.setdefault("default", [])
    in_use_before = await sync(_pool_in_use)
    idle_before = len(idle)
    task = asyncio.ensure_future(Slow.objects.using("default").filter(id__gte=0).acount())
    await cancel_when_running(task, "aio_slow")
    for _ in range(100):  # the engine thread frees the aborted request's slot
        in_use = await sync(_pool_in_use)
        if in_use <= in_use_before:
            break
        await asyncio.sleep(0.02)
    assert in_use <= in_use_before, (in_use, in_use_before)
    assert len(idle) >= max(idle_before, 1)  # the call's DatabaseWrapper is back
    # the loop is fine: the next call works
    assert await Slow.objects.using("default").filter(id__lt=0).acount() == 0


async def test_100_concurrent_counts_overlap_with_own_wrappers(orm_databases):
    """100 acount() of one loop run on the server at the same time (system.processes),
    each in its own greenlet with its own DatabaseWrapper."""
    seen = []

    async def probe():
        while len(seen) < 400:
            seen.append(await running("aio_slow"))
            if seen[-1] >= 100:
                return
            await asyncio.sleep(0.05)

    with no_thread_hop():
        watcher = asyncio.ensure_future(probe())
        results = await asyncio.gather(*(Slow.objects.using("default").acount() for _ in range(100)))
        await watcher
    assert results == [8] * 100
    assert max(seen) == 100, seen


async def test_guard_catches_every_thread_hop(orm_databases):
    """no_thread_hop() fails on asgiref's sync_to_async, run_in_executor and new threads."""
    from async_tests.orm.conftest import ThreadHop

    loop = asyncio.get_running_loop()
    for hop in (lambda: asgiref_sync_to_async(lambda: 1)(),
                lambda: loop.run_in_executor(None, lambda: 1),
                lambda: asyncio.to_thread(lambda: 1),
                lambda: _start_thread()):
        with pytest.raises(ThreadHop), no_thread_hop():
            await hop()


async def _start_thread():
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
