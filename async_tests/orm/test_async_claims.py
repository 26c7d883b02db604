"""Every claim docs/async.md makes about the async ORM, tested: signals, the
module-level asave()/adelete(), update_fields, aiterator()'s memory, cancellation
of a gather, connections_max, query logging, SynchronousOnlyOperation, related
managers, aprefetch_related_objects, and a non-ClickHouse database keeping
Django's behaviour. Server and embedded engine (the `alias` fixture) where the
claim is not about the server's process list."""
import asyncio
import datetime
import logging
import tracemalloc
import uuid

import pytest
from asgiref.sync import SyncToAsync
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connections
from django.db.models import aprefetch_related_objects as django_aprefetch_related_objects
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import override_settings

from async_tests.orm.aioapp.models import Author, Book, Chapter, Leaf, Event, Many, Note
from async_tests.orm.conftest import no_thread_hop, running, sync
from clickhouse_backend.models.aio import adelete, aio, aprefetch_related_objects, asave

pytestmark = pytest.mark.usefixtures("clean")

T0 = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
MANY_ROWS = 50_000
VIEW_BLOCK = 4096  # rows per block the aio_many view sends


async def _events(alias, n):
    with no_thread_hop(alias):
        return await Event.objects.using(alias).abulk_create(
            [Event(name="e%d" % i, value=i, score=i / 2, ts=T0, tags=["t"]) for i in range(n)])


@pytest.fixture
def leaves(orm_databases):
    for a in orm_databases:
        with connections[a].cursor() as cur:
            cur.execute("TRUNCATE TABLE %s" % connections[a].ops.quote_name(Leaf._meta.db_table))


@pytest.fixture(scope="module")
def many(orm_databases):
    """aio_many: a view of MANY_ROWS rows on both engines."""
    for a in orm_databases:
        with connections[a].cursor() as cur:
            cur.execute("CREATE VIEW IF NOT EXISTS %s.aio_many AS SELECT number AS id FROM numbers(%d) "
                        "SETTINGS max_block_size = %d" % (connections[a].settings_dict["NAME"], MANY_ROWS, VIEW_BLOCK))


# ---- signals, instance writes ------------------------------------------------------

async def test_pre_and_post_delete_signals(alias):
    objs = await _events(alias, 3)
    pks = [o.pk for o in objs]
    seen = []

    def on_pre(sender, instance, **kw):
        seen.append(("pre", instance.value, instance.pk))

    def on_post(sender, instance, **kw):
        seen.append(("post", instance.value, instance.pk))

    pre_delete.connect(on_pre, sender=Event)
    post_delete.connect(on_post, sender=Event)
    try:
        with no_thread_hop(alias):
            assert await objs[0].adelete(using=alias) == (1, {"aioapp.Event": 1})
            assert await Event.objects.using(alias).filter(value__gte=1).adelete() == (2, {"aioapp.Event": 2})
    finally:
        pre_delete.disconnect(on_pre, sender=Event)
        post_delete.disconnect(on_post, sender=Event)
    assert objs[0].pk is None
    # each signal once per object, pre before post, the pk still set in both (Django's order)
    assert seen[:2] == [("pre", 0, pks[0]), ("post", 0, pks[0])]
    assert sorted(seen[2:4]) == [("pre", 1, pks[1]), ("pre", 2, pks[2])]
    assert sorted(seen[4:]) == [("post", 1, pks[1]), ("post", 2, pks[2])]
    assert await sync(lambda: Event.objects.using(alias).count()) == 0


async def test_module_level_adelete(alias):
    """adelete(obj) for a plain model: one DELETE, signals, the pk cleared."""
    note = Note(title="gone", n=1)
    keep = Note(title="kept", n=2)
    seen = []

    def on_delete(sender, instance, **kw):
        seen.append((kw["signal"] is pre_delete, instance.title))

    with no_thread_hop(alias):
        await asave(note, using=alias)
        await asave(keep, using=alias)
    pre_delete.connect(on_delete, sender=Note)
    post_delete.connect(on_delete, sender=Note)
    try:
        with no_thread_hop(alias):
            assert await adelete(note, using=alias) == (1, {"aioapp.Note": 1})
    finally:
        pre_delete.disconnect(on_delete, sender=Note)
        post_delete.disconnect(on_delete, sender=Note)
    assert note.pk is None
    assert seen == [(True, "gone"), (False, "gone")]
    assert await sync(lambda: list(Note.objects.using(alias).values_list("title", flat=True))) == ["kept"]


async def test_asave_update_fields(alias):
    (e,) = await _events(alias, 1)
    e.value, e.score = 100, 9.5
    with no_thread_hop(alias):
        await e.asave(using=alias, update_fields=["value"])
    got = await sync(lambda: Event.objects.using(alias).values_list("value", "score").get(pk=e.pk))
    assert got == (100, 0.0)  # score was not written
    # the same for a plain model through the module-level asave()
    note = Note(title="a", n=1)
    with no_thread_hop(alias):
        await asave(note, using=alias)
        note.title, note.n = "b", 2
        await asave(note, using=alias, update_fields=["n"])
    assert await sync(lambda: Note.objects.using(alias).values_list("title", "n").get(pk=note.pk)) == ("a", 2)
    # Django's checks hold: an unknown field is refused before any query
    with pytest.raises(ValueError, match="nope"):
        await e.asave(using=alias, update_fields=["nope"])


# ---- aiterator() memory ----------------------------------------------------------------

async def _traced_peak(consume):
    """Peak of Python allocations (tracemalloc) while `consume()` runs, above the start."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        kept = await consume()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return peak, kept


async def test_aiterator_holds_about_one_chunk(alias, many):
    """aiterator(chunk_size) keeps one chunk of model instances (plus the block the
    driver is decoding), not the result: its peak is bounded by the per-row cost of
    a materialised result times (chunk + one block), far below the whole."""
    chunk = 500
    qs = Many.objects.using(alias).all()

    async def stream():
        n = last = 0
        async for obj in qs.aiterator(chunk_size=chunk):
            n, last = n + 1, obj.id
        return n, last

    async def materialise():
        return [obj async for obj in qs]

    # first use: the connection, imports and caches are allocated once, not per row
    assert [o.id async for o in qs[:3].aiterator(chunk_size=chunk)] == [0, 1, 2]
    stream_peak, (n, last) = await _traced_peak(stream)
    all_peak, rows = await _traced_peak(materialise)
    assert (n, last) == (MANY_ROWS, MANY_ROWS - 1) and len(rows) == MANY_ROWS
    del rows
    bound = all_peak / MANY_ROWS * (chunk + VIEW_BLOCK) * 1.5
    assert stream_peak < bound, (stream_peak, bound, all_peak)


# ---- the server: cancellation, connections_max -------------------------------------------

async def _until(predicate, tries=300, pause=0.02):
    for _ in range(tries):
        if await predicate():
            return True
        await asyncio.sleep(pause)
    return False


async def test_cancelled_gather_cancels_every_query(orm_databases):
    token = uuid.uuid4().hex[:12]
    sql = ("SELECT number AS id FROM numbers(40) WHERE sleepEachRow(0.5) = 0 AND '%s-%d' != '' "
           "SETTINGS max_block_size = 1")

    async def view(i):
        return [s.pk async for s in Many.objects.using("default").raw(sql % (token, i))]

    gathered = asyncio.gather(*(view(i) for i in range(3)))
    assert await _until(lambda: _count_at_least(token, 3)), "the three queries never ran together"
    gathered.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gathered
    # each would run for 20 s: all three are gone at once
    assert await _until(lambda: _none_running(token), tries=60, pause=0.05), "a query outlived the gather"


async def _count_at_least(marker, n):
    return await running(marker) >= n


async def _none_running(marker):
    return await running(marker) == 0


@pytest.fixture
def bounded(orm_databases):
    """'bounded': the test server's database with OPTIONS connections_max=3."""
    settings = dict(connections["default"].settings_dict)
    settings["OPTIONS"] = dict(settings["OPTIONS"], connections_max=3)
    connections.settings["bounded"] = settings
    try:
        yield "bounded"
    finally:
        del connections.settings["bounded"]


async def test_connections_max_bounds_orm_queries_in_flight(bounded):
    token = uuid.uuid4().hex[:12]
    # sleepEachRow: sleep() of a constant would run while the query is analysed, before
    # it shows in system.processes
    sql = "SELECT toInt64(%d) AS id, sleepEachRow(0.4) AS s, '" + token + "' AS marker FROM numbers(1)"
    peak = 0

    async def watch():
        nonlocal peak
        while True:
            peak = max(peak, await running(token))
            await asyncio.sleep(0.02)

    async def one(i):
        return [e.pk async for e in Event.objects.using(bounded).raw(sql % i)]

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(*(one(i) for i in range(9)))
    finally:
        watcher.cancel()
    assert results == [[i] for i in range(9)]
    assert peak == 3, peak  # never more than connections_max at once, and the bound is reached


# ---- logging, sync-only guard ------------------------------------------------------------

async def test_queries_logged_under_debug(alias, caplog):
    await _events(alias, 2)
    conn = connections[alias]
    table = Event._meta.db_table
    with caplog.at_level(logging.DEBUG, logger="django.db.backends"):
        conn.queries_log.clear()
        with no_thread_hop(alias):
            assert await Event.objects.using(alias).filter(value=1).acount() == 1
        assert len(conn.queries_log) == 0  # DEBUG off: no connection.queries (as Django)
        with override_settings(DEBUG=True):
            with no_thread_hop(alias):
                assert await Event.objects.using(alias).filter(value=1).acount() == 1
                assert [e.value async for e in Event.objects.using(alias).order_by("value")] == [0, 1]
            queries = list(conn.queries)
    sqls = [q["sql"] for q in queries]
    assert len(sqls) == 2 and all(table in s for s in sqls), sqls
    assert "count" in sqls[0].lower() and all(float(q["time"]) >= 0 for q in queries)
    records = [r for r in caplog.records if r.name == "django.db.backends" and getattr(r, "alias", None) == alias]
    assert [r.sql for r in records][-2:] == sqls
    assert all(hasattr(r, "duration") and hasattr(r, "params") for r in records)


async def test_sync_orm_on_the_loop_raises_synchronous_only_operation(alias):
    with pytest.raises(SynchronousOnlyOperation):
        Event.objects.using(alias).count()
    with pytest.raises(SynchronousOnlyOperation):
        list(Note.objects.using(alias).all())
    with pytest.raises(SynchronousOnlyOperation):
        Note(title="x").save(using=alias)


# ---- related managers, prefetching ------------------------------------------------------

async def test_related_manager_aadd_aset_aremove_aclear(alias, leaves):
    author = await Author.objects.using(alias).acreate(name="ann")
    book = await Book.objects.using(alias).acreate(author=author, title="b")
    c0, c1, c2 = [await Leaf.objects.using(alias).acreate(title="c%d" % i) for i in range(3)]

    async def titles():
        return await sync(lambda: sorted(Leaf.objects.using(alias).filter(book=book)
                                         .values_list("title", flat=True)))

    await book.leaves.aadd(c0, c1)
    assert await titles() == ["c0", "c1"]
    await book.leaves.aremove(c0)
    assert await titles() == ["c1"]
    await book.leaves.aset([c2, c1])
    assert await titles() == ["c1", "c2"]
    await book.leaves.aset([c0])
    assert await titles() == ["c0"]
    await book.leaves.aclear()
    assert await titles() == []
    assert await Leaf.objects.using(alias).filter(book__isnull=True).acount() == 3
    # a non-null foreign key: aadd(bulk=False) saves, acreate through the manager
    other = await Book.objects.using(alias).acreate(author=await Author.objects.using(alias).acreate(name="bob"),
                                                    title="o")
    await author.books.aadd(other, bulk=False)
    made = await author.books.acreate(title="new")
    assert await sync(lambda: sorted(Book.objects.using(alias).filter(author=author)
                                     .values_list("title", flat=True))) == ["b", "new", "o"]
    assert made.author_id == author.pk


@pytest.mark.parametrize("prefetch", [aprefetch_related_objects, django_aprefetch_related_objects],
                         ids=["native", "django"])
async def test_aprefetch_related_objects(alias, prefetch):
    ann = await Author.objects.using(alias).acreate(name="ann")
    bob = await Author.objects.using(alias).acreate(name="bob")
    await Book.objects.using(alias).abulk_create(
        [Book(author=ann, title="a%d" % i) for i in range(2)] + [Book(author=bob, title="b0")])
    authors = [a async for a in Author.objects.using(alias).order_by("name")]
    if prefetch is aprefetch_related_objects:
        with no_thread_hop(alias):
            await prefetch(authors, "books")
    else:
        await prefetch(authors, "books")
    # served from the prefetch cache: a query here, on the loop, would raise SynchronousOnlyOperation
    assert [(a.name, sorted(b.title for b in a.books.all())) for a in authors] == \
        [("ann", ["a0", "a1"]), ("bob", ["b0"])]


# ---- a database that is not ClickHouse ----------------------------------------------------

@pytest.fixture
def lite(tmp_path, orm_databases, django_db_blocker):
    """'lite': SQLite, with the Author/Book/Chapter/Leaf/Note tables. pytest-django
    blocks database access to Django's own backends outside its db fixtures."""
    settings = connections.configure_settings({
        "default": {"ENGINE": "django.db.backends.dummy"},
        "lite": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "lite.sqlite3")},
    })["lite"]
    connections.settings["lite"] = settings

    def create():
        with connections["lite"].schema_editor() as editor:
            for model in (Author, Book, Chapter, Leaf, Note):
                editor.create_model(model)
        connections["lite"].close()

    import threading
    with django_db_blocker.unblock():
        t = threading.Thread(target=create)
        t.start()
        t.join()
        try:
            yield "lite"
        finally:
            del connections.settings["lite"]


async def test_non_clickhouse_database_keeps_djangos_methods(lite, monkeypatch):
    """On SQLite every async method is Django's own: sync_to_async, same results."""
    hops = []
    original = SyncToAsync.__call__

    async def counting(self, *a, **k):
        hops.append(getattr(self.func, "__qualname__", "?"))
        return await original(self, *a, **k)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    ann = await Author.objects.using(lite).acreate(name="ann")
    await Book.objects.using(lite).abulk_create([Book(author=ann, title="t%d" % i, pages=i) for i in range(3)])
    assert hops, "Django's async methods run the sync ORM through sync_to_async"
    hops.clear()
    qs = Book.objects.using(lite)
    assert await qs.acount() == 3
    assert (await qs.aget(pages=1)).title == "t1"
    assert [b.title async for b in qs.order_by("-pages")] == ["t2", "t1", "t0"]
    assert await qs.filter(pages__gte=1).aupdate(title="u") == 2
    assert await aio(qs.filter(title="u")).acount() == 2
    note = Note(title="n")
    await asave(note, using=lite)
    assert note.pk is not None and note.seven == 7
    assert await adelete(note, using=lite) == (1, {"aioapp.Note": 1})
    assert await qs.filter(title="u").adelete() == (2, {"aioapp.Book": 2})
    assert len(hops) >= 8, hops  # one thread hop per call above
