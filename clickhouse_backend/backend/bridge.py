"""The async ORM: Django's sync ORM code runs once, in a greenlet on the event loop.

Django's async methods (``aget()``, ``acount()``, ``asave()``, related managers'
``aadd()`` ...) are ``sync_to_async(sync method)``: the sync method runs in a worker
thread. For a ClickHouse database :func:`sync_to_async` below runs it with
:func:`run` instead: in a greenlet of the calling task, on the loop thread. When
the backend's cursor needs I/O there, :func:`await_only` switches to the task, which
awaits the driver's ``AsyncCursor`` and switches back with the result. This is
SQLAlchemy's asyncio extension (``greenlet_spawn`` / ``await_only``).

* Every ORM path is Django's own code, run one time: save()/delete() overrides,
  signals, multi-table inheritance, prefetching, the deletion collector...
* Each call gets its own DatabaseWrapper per ClickHouse alias (pooled per thread),
  so concurrent tasks never share transaction state or a cursor; it shares the
  query log and execute wrappers of the task's own wrapper, if the task has one.
* Django's ``async_unsafe`` still refuses the sync ORM on the loop: only a bridge
  greenlet is let through (DatabaseWrapper in base.py), and only for ClickHouse.
* Cancelling the task throws CancelledError into the greenlet at its await: the
  query is killed by the driver and Django's ``finally`` blocks close the cursor.
"""
import asyncio
import functools
import sys
import threading
import time
from itertools import islice
import types
from types import CoroutineType

from asgiref.sync import sync_to_async as _thread_sync_to_async
from django.db import connections, router
from django.db.models import Model
from django.db.utils import load_backend
from greenlet import getcurrent, greenlet

from clickhouse_backend.driver import ProgrammingError


class _Bridge(greenlet):
    """A greenlet running one sync ORM call; its parent is the awaiting task.
    run() sets ``gr_context`` (contextvars: the task's own) and ``connections``
    (alias -> this call's DatabaseWrapper); no __init__ of its own, one Python
    call less per ORM call."""


def active():
    """True in a bridge greenlet: sync DB calls may await through await_only()."""
    return isinstance(getcurrent(), _Bridge)


def await_only(awaitable):
    """Await ``awaitable`` from sync code in a bridge greenlet: the task awaits it
    and resumes the greenlet with its result (or exception)."""
    current = getcurrent()
    if not isinstance(current, _Bridge):
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        from django.core.exceptions import SynchronousOnlyOperation

        raise SynchronousOnlyOperation("ClickHouse I/O outside the async ORM's bridge")
    # (the type first: asyncio.iscoroutine() is a Python call, and this runs per fetch)
    if type(awaitable) is CoroutineType or asyncio.iscoroutine(awaitable):
        # Run it here until it has to wait: rows already buffered, close() ...
        # cost no switch to the task.
        try:
            pending = awaitable.send(None)
        except StopIteration as done:
            return done.value
        awaitable = _started(awaitable, pending)
    return current.parent.switch(awaitable)


@types.coroutine
def _started(coro, pending):
    """A coroutine run up to its first wait, awaited from there on (what ``yield
    from`` does, resumed in the middle); a generator-based coroutine, awaited
    without an __await__ call."""
    while True:
        try:
            sent = yield pending
        except BaseException as exc:
            try:
                pending = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                pending = coro.send(sent)
            except StopIteration as done:
                return done.value


def sleep(seconds):
    """time.sleep() for sync code that may run in a bridge (mutation waits)."""
    if active():
        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


async def run(fn, *args, _connections=None, **kwargs):
    """``fn(*args, **kwargs)`` in a bridge greenlet; its awaits run on this task."""
    own = _connections is None
    task = getcurrent()
    g = _Bridge(fn, task)
    g.gr_context, g.connections = task.gr_context, {} if own else _connections
    try:
        result = g.switch(*args, **kwargs)
        while not g.dead:
            try:
                value = await result
            except BaseException:
                # Into the greenlet (cancellation too): its finally blocks run,
                # awaiting again if they must (closing a cursor).
                result = g.throw(*sys.exc_info())
            else:
                result = g.switch(value)
        return result
    finally:
        if own:
            release(g.connections)


# ---- Django's ORM modules' sync_to_async ----------------------------------------

def sync_to_async(func=None, *, thread_sensitive=True, executor=None):
    """Replaces asgiref's sync_to_async in Django's ORM modules (install()): a call
    whose databases are all ClickHouse runs in the bridge, any other in a thread."""
    if func is None:
        return functools.partial(sync_to_async, thread_sensitive=thread_sensitive, executor=executor)

    async def call(*args, **kwargs):
        if _on_clickhouse(func, args, kwargs):
            return await run(func, *args, **kwargs)
        return await _thread_sync_to_async(func, thread_sensitive=thread_sensitive,
                                           executor=executor)(*args, **kwargs)

    return call


def _aliases(func, args, kwargs):
    """The databases a sync ORM call may use: its explicit alias, or the router's
    read and write choices for its model."""
    owner = getattr(func, "__self__", None)
    if isinstance(owner, Model):  # save(), delete(), refresh_from_db()
        if kwargs.get("using"):
            return (kwargs["using"],)
        model, hints = type(owner), {"instance": owner}
    elif owner is not None and hasattr(owner, "_db") and hasattr(owner, "model"):
        # QuerySet, RawQuerySet, Manager and related managers
        if owner._db:
            return (owner._db,)
        model, hints = owner.model, getattr(owner, "_hints", {})
    elif args and isinstance(args[0], (list, tuple)) and args[0] and isinstance(args[0][0], Model):
        instance = args[0][0]  # prefetch_related_objects(instances, ...)
        if instance._state.db:
            return (instance._state.db,)
        model, hints = type(instance), {"instance": instance}
    else:
        return ()
    if not router.routers:  # Django's choice is then the same for reads and writes
        return (router.db_for_read(model, **hints),)
    return (router.db_for_read(model, **hints), router.db_for_write(model, **hints))


def _on_clickhouse(func, args, kwargs):
    aliases = _aliases(func, args, kwargs)
    for alias in aliases:  # (a loop, not all() of a generator: this runs per call)
        if not is_clickhouse(alias):
            return False
    return bool(aliases)


_vendors = {}  # ENGINE -> its DatabaseWrapper class is ClickHouse's


def is_clickhouse(alias):
    """Whether the database ``alias`` is ClickHouse, without making a connection
    (in async code Django makes one per task)."""
    settings_dict = connections.settings.get(alias)
    if settings_dict is None:
        return False  # Django's own path reports the unknown alias
    engine = settings_dict["ENGINE"]
    vendor = _vendors.get(engine)
    if vendor is None:
        vendor = _vendors[engine] = load_backend(engine).DatabaseWrapper.vendor == "clickhouse"
    return vendor


def _aiter(iterable, django_aiter):
    """BaseIterable.__aiter__ (``async for`` over a queryset's iterable, aiterator()):
    Django's sync generator resumed chunk by chunk in the bridge."""
    if not is_clickhouse(iterable.queryset.db):
        return django_aiter(iterable)
    return _astream(iterable)


async def _astream(iterable):
    size = iterable.chunk_size
    pinned = {}  # the stream's DatabaseWrappers, kept from chunk to chunk
    rows, done = None, False
    try:
        # Some iterables query in __iter__ itself, not lazily.
        rows = await run(iter, iterable, _connections=pinned)
        while not done:
            chunk = await run(_take, rows, size, _connections=pinned)
            done = len(chunk) < size
            for item in chunk:
                yield item
    finally:
        try:
            close = getattr(rows, "close", None)  # a generator (map(): closed when freed)
            if close is not None and not done:  # left early: cursor_iter closes the cursor
                await run(close, _connections=pinned)
        finally:
            release(pinned)


def _take(rows, size):
    return list(islice(rows, size))


_MODULES = ("django.db.models.query", "django.db.models.base",
            "django.db.models.fields.related_descriptors", "django.contrib.contenttypes.fields")


def install():
    """Route Django's async ORM methods through the bridge for ClickHouse databases
    (idempotent; contenttypes' generic relations once that app is loaded)."""
    from django.db.models.query import BaseIterable

    for name in _MODULES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "sync_to_async", None) is _thread_sync_to_async:
            module.sync_to_async = sync_to_async
    original = BaseIterable.__aiter__
    if not getattr(original, "_chb_bridge", False):
        @functools.wraps(original)
        def __aiter__(self):
            return _aiter(self, original)

        __aiter__._chb_bridge = True
        BaseIterable.__aiter__ = __aiter__
    install_connections()


# ---- one DatabaseWrapper per call ------------------------------------------------

class _Connections:
    """django.db.connections' storage (an asgiref Local): in a bridge greenlet a
    ClickHouse alias resolves to the call's own DatabaseWrapper. (In async code
    asgiref gives each task a copy of its parent's connections, so tasks gathered
    after a first query would share one wrapper, its atomic-block state included.)"""

    def __init__(self, outer):
        object.__setattr__(self, "_chb_outer", outer)

    def __getattr__(self, alias):
        outer = self._chb_outer
        g = getcurrent()
        if not isinstance(g, _Bridge):
            return getattr(outer, alias)
        conn = g.connections.get(alias)  # looked up several times per query
        if conn is None:
            if not is_clickhouse(alias):
                return getattr(outer, alias)
            conn = g.connections[alias] = _checkout(alias, getattr(outer, alias, None))
        return conn

    def __setattr__(self, alias, value):
        setattr(self._chb_outer, alias, value)

    def __delattr__(self, alias):
        delattr(self._chb_outer, alias)


def install_connections():
    if not isinstance(connections._connections, _Connections):
        connections._connections = _Connections(connections._connections)


_pools = threading.local()  # alias -> idle DatabaseWrappers of bridge calls


def _checkout(alias, outer):
    """A DatabaseWrapper for one call. ``outer``: the task's own wrapper, if it has
    one; the call shares what users see on it (settings, server version, query log,
    execute_wrapper() hooks)."""
    pool = _pools.__dict__.setdefault(alias, [])
    if pool:
        conn = pool.pop()
    else:
        settings_dict = connections.settings[alias]
        conn = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
        conn.__dict__["_chb_own"] = (conn.features, conn.queries_log)
    if outer is not None:
        conn.settings_dict, conn.features, conn.queries_log = \
            outer.settings_dict, outer.features, outer.queries_log
        conn.__dict__["_server_version_override"] = outer.__dict__.get("_server_version_override")
        conn.force_debug_cursor = outer.force_debug_cursor
        conn.execute_wrappers = outer.execute_wrappers
    else:
        conn.settings_dict = connections.settings[alias]  # as Django's own wrappers
    return conn


def release(connections):
    """Return a call's DatabaseWrappers to the pool (clean ones only)."""
    for alias, conn in connections.items():
        conn.features, conn.queries_log = conn.__dict__["_chb_own"]
        conn.__dict__.pop("_server_version_override", None)
        conn.force_debug_cursor, conn.execute_wrappers = False, []
        if not (conn.in_atomic_block or conn.needs_rollback or conn.savepoint_ids):
            _pools.__dict__.setdefault(alias, []).append(conn)
    connections.clear()


# ---- the cursor ----------------------------------------------------------------------

class Cursor:
    """A sync DB-API cursor over the driver's AsyncCursor for a bridge greenlet."""

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql, params=None, **kwargs):
        await_only(self._cursor.execute(sql, params, **kwargs))
        return self

    def executemany(self, sql, param_list, **kwargs):
        await_only(self._cursor.executemany(sql, param_list, **kwargs))
        return self

    # Rows already buffered are taken here, without a coroutine (per ORM query).
    def fetchone(self):
        rows = self._cursor._fetch_ready(1)
        if rows is None:
            return await_only(self._cursor.fetchone())
        return rows[0] if rows else None

    def fetchmany(self, size=None):
        cursor = self._cursor
        rows = cursor._fetch_ready(cursor.arraysize if size is None else size)
        return rows if rows is not None else await_only(cursor.fetchmany(size))

    def fetchall(self):
        rows = self._cursor._fetch_ready(None)
        return rows if rows is not None else await_only(self._cursor.fetchall())

    # columnar results (QuerySet.ato_dataframe() & co.)
    def fetchnumpy(self, strings=None):
        return await_only(self._cursor.fetchnumpy(strings))

    def fetch_df(self):
        return await_only(self._cursor.fetch_df())

    def fetch_arrow_table(self):
        return await_only(self._cursor.fetch_arrow_table())

    def __iter__(self):
        while rows := self.fetchmany(2000):
            yield from rows

    @property
    def description(self):
        describe = getattr(self._cursor, "describe", None)
        if describe is None:
            return self._cursor.description
        try:
            return self._cursor.description
        except ProgrammingError:  # an empty result's columns: ask the server
            return await_only(describe())

    def close(self):
        closing = self._cursor.close()
        if active():
            await_only(closing)
        else:  # a generator closed by the garbage collector: close() does no I/O
            try:
                closing.send(None)
            except StopIteration:
                pass
            else:
                closing.close()

    def __getattr__(self, name):
        return getattr(self._cursor, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
