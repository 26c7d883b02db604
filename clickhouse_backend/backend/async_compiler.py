"""The async ORM's engine: Django's own ORM code builds the SQL and turns rows into
results; the statements run on the driver's AsyncCursor, on the event loop.

Django's ORM is synchronous: its methods build SQL, call ``cursor.execute`` and use
the rows, all in one call stack. Running that code on the loop must not block.
Reads are compiled once (see the end of this docstring); other calls are *replayed*:

* :func:`arun` runs a sync ORM callable in a **window** (synchronous, so no other
  task runs meanwhile) where this thread's DatabaseWrapper hands out a replay
  cursor. A statement it has not seen yet aborts the call (``_Need``); the
  statement then runs on the async cursor, its rows are recorded, and the callable
  runs again, now served from the record. A call that makes N queries runs N + 1
  times: SQL compilation is repeated (CPU), every query is sent exactly once.
  Row conversion happens once, in the final run, through Django's own code, so
  results are those of the sync path.
* Writes are never replayed at cursor level (auto_now, pk defaults and signals
  would change between runs). With ``dml=True`` the k-th INSERT/UPDATE/DELETE
  *compiler* of a run is executed once by an async executor below (mirroring
  compiler.py) and later runs are served its result. Callables given ``dml=True``
  must reach their writes without side effects (Django's update(), _update(),
  _insert(), bulk_create(), delete_batch() ... are such; save() is not, see
  models/aio.py).
* :func:`astream` feeds a sync iterable one row per ``next()`` from a query that is
  read chunk by chunk: ``aiterator()`` streams without holding the whole result.

Reads of models/aio.py do not replay (the replay above is their fallback for what
these do not cover): each query is compiled once.

* :func:`afetch_list` is ``list(iterable)`` for Django's own iterables: the
  queryset's compiler is compiled, its rows fetched, then the iterable runs once
  on that compiler (patched to return the fetched rows), converting them with
  Django's own code.
* :func:`aplan_single` runs a sync method whose one query is a single-row read
  (aggregate(), count(), exists()) in a *plan* pass: the read compiler's
  execute_sql() compiles, records the SQL and answers "no row" instead of
  running; the recorded SQL is then run, and ``finish(compiler, row)`` computes
  the result (see :func:`aggregation_result`).

Nothing here calls the sync driver: a sync DB call that slips through raises
Django's SynchronousOnlyOperation, it does not block the loop.
"""
import asyncio
import collections
import contextvars
import logging
import time

from django.core.exceptions import EmptyResultSet
from django.db import NotSupportedError
from django.db.models.sql import compiler as dj_compiler
from django.db.models.sql.constants import CURSOR, GET_ITERATOR_CHUNK_SIZE, MULTI, NO_RESULTS, ROW_COUNT, SINGLE

from . import base as _base

logger = logging.getLogger("django.db.backends")

_CONN_ATTR = "_chb_async_connection"
_CONN_TASK_ATTR = "_chb_async_connection_task"
# Wrapper methods Django decorates with async_unsafe that transaction.atomic() calls.
# ClickHouse has no transactions (they only flip flags), so inside a window their
# undecorated bodies are used; ensure_connection is a no-op (nothing uses the sync
# connection there).
_ATOMIC_METHODS = ("commit", "rollback", "savepoint", "savepoint_commit", "savepoint_rollback",
                   "clean_savepoints")
_DML_BASES = (dj_compiler.SQLInsertCompiler, dj_compiler.SQLUpdateCompiler,
              dj_compiler.SQLDeleteCompiler)

_window_session = contextvars.ContextVar("chb_async_window", default=None)


class _Need(BaseException):
    """Aborts a window run: a statement must be executed first. BaseException so
    that ORM code's ``except Exception`` blocks let it through."""

    def __init__(self, kind, payload):
        super().__init__(kind)
        self.kind = kind        # "read" or "dml"
        self.payload = payload  # (sql, params) or (compiler, args, kwargs)


# ---- connection --------------------------------------------------------------

def is_clickhouse(wrapper):
    return getattr(wrapper, "vendor", None) == "clickhouse"


async def _aload_server_info(wrapper):
    """base.py's _load_server_info, asynchronously, into the same per-server cache:
    the compiler and the features read it synchronously while building SQL."""
    key = wrapper._server_key()
    with _base._server_info_lock:
        if key in _base._server_info:
            return
    params = wrapper._driver_params(with_settings=False)
    try:
        raw, names = await _aquery_server_info(params)
    except _base.Database.Error as exc:
        if getattr(exc, "code", None) != 81:  # UNKNOWN_DATABASE: ask via "default"
            raise
        raw, names = await _aquery_server_info(dict(params, database="default"))
    version = tuple(int(p) for p in raw.split(".") if p.isdigit())
    with _base._server_info_lock:
        _base._server_info.setdefault(key, (version, names))


async def _aquery_server_info(params):
    conn = await _base.Database.connect_async(**params)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT version()")
            raw = (await cur.fetchone())[0]
            await cur.execute("SELECT name FROM system.settings")
            names = frozenset(r[0] for r in await cur.fetchall())
    finally:
        await conn.close()
    return raw, names


async def _open(wrapper):
    await _aload_server_info(wrapper)
    params = wrapper._driver_params(with_settings=False)
    # the same settings as the sync connection; the server info is cached above: no I/O
    settings = wrapper.driver_settings()
    if settings:
        params["settings"] = settings
    return await _base.Database.connect_async(**params)


async def async_connection(wrapper):
    """The wrapper's AsyncConnection: made once, shared by every task of the loop
    thread (an AsyncConnection is only options; HTTP connections come from the
    process-wide pool, shared with the sync path). Same DATABASES options and
    ClickHouse settings as the sync connection."""
    conn = wrapper.__dict__.get(_CONN_ATTR)
    if conn is not None and not conn.closed:
        return conn
    loop = asyncio.get_running_loop()
    pending = wrapper.__dict__.get(_CONN_TASK_ATTR)
    if pending is None or pending[0] is not loop or (pending[1].done() and pending[1].exception()):
        # One opening per wrapper even when 100 tasks arrive at once.
        pending = (loop, loop.create_task(_open(wrapper)))
        wrapper.__dict__[_CONN_TASK_ATTR] = pending
    conn = await asyncio.shield(pending[1])
    wrapper.__dict__[_CONN_ATTR] = conn
    return conn


async def aprepare(wrapper):
    """Everything SQL generation reads synchronously is cached (server version,
    settings), so building SQL on the loop never does I/O."""
    await async_connection(wrapper)


# ---- running statements --------------------------------------------------------

def _log(wrapper, sql, params, start, many=False):
    if not wrapper.queries_logged:
        return
    duration = time.monotonic() - start
    wrapper.queries_log.append({"sql": "%s times %s" % (len(params), sql) if many else sql,
                                "time": "%.3f" % duration})
    logger.debug("(%.3f) %s; args=%s; alias=%s", duration, sql, params, wrapper.alias,
                 extra={"duration": duration, "sql": sql, "params": params, "alias": wrapper.alias})


async def aexecute(wrapper, sql, params=None, many=False):
    """Run one statement on a new async cursor; returns the cursor (caller closes).
    Driver errors become django.db errors, as on the sync path."""
    conn = await async_connection(wrapper)
    cursor = conn.cursor()
    start = time.monotonic()
    try:
        with wrapper.wrap_database_errors:
            if many:
                await cursor.executemany(sql, params)
            elif params is None:
                await cursor.execute(sql)
            else:
                await cursor.execute(sql, params)
    except BaseException:
        await cursor.close()  # also on cancellation: the query is killed on the server
        raise
    finally:
        _log(wrapper, sql, params, start, many)
    return cursor


class _Result:
    __slots__ = ("description", "rowcount", "rows")

    def __init__(self, description, rowcount, rows):
        self.description, self.rowcount, self.rows = description, rowcount, rows


async def _afetch(wrapper, sql, params):
    cursor = await aexecute(wrapper, sql, params)
    try:
        with wrapper.wrap_database_errors:
            rows = await cursor.fetchall()
            # the replay cursor serves description synchronously (RawQuery reads it)
            description = await cursor.describe()
        return _Result(description, cursor.rowcount, rows)
    finally:
        await cursor.close()


async def afetchone(wrapper, sql, params=None):
    cursor = await aexecute(wrapper, sql, params)
    try:
        with wrapper.wrap_database_errors:
            return await cursor.fetchone()
    finally:
        await cursor.close()


# ---- the window: replay cursor, DML capture -------------------------------------

def _params_key(params):
    return repr(params)


class _ReplayCursor:
    """What ORM code gets from connection.cursor() in a window: serves recorded
    results, or aborts the run with the statement to execute."""

    def __init__(self, session):
        self._session = session
        self.description = None
        self.rowcount = -1
        self._rows = []
        self._pos = 0
        self._feed = None

    def execute(self, sql, params=None):
        s = self._session
        if s.feed is not None and s.feed.sql == (sql, _params_key(params)):
            self._feed = s.feed
            self.description = s.feed.description
            return
        key = (sql, _params_key(params))
        n = s.seen[key]
        s.seen[key] = n + 1
        done = s.reads.get(key, ())
        if n >= len(done):  # a new statement, or one more execution of the same one
            raise _Need("read", (sql, params))
        r = done[n]
        self.description, self.rowcount, self._rows, self._pos = r.description, r.rowcount, r.rows, 0

    def executemany(self, sql, param_list):
        raise NotSupportedError("async ORM: a write reached a read-only replay (%s)" % sql[:80])

    def fetchone(self):
        if self._feed is not None:
            rows = self._feed.take(1)
            return rows[0] if rows else None
        if self._pos < len(self._rows):
            self._pos += 1
            return self._rows[self._pos - 1]
        return None

    def fetchmany(self, size=1):
        if self._feed is not None:
            return self._feed.take(1)  # one row per call: see _Feed
        rows = self._rows[self._pos:self._pos + size]
        self._pos += len(rows)
        return rows

    def fetchall(self):
        if self._feed is not None:
            raise NotSupportedError("async ORM: fetchall() on a streamed result")
        rows = self._rows[self._pos:]
        self._pos = len(self._rows)
        return rows

    def __iter__(self):
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Session:
    def __init__(self, wrapper, dml):
        self.wrapper = wrapper
        self.dml = dml
        self.reads = {}          # key -> [_Result, ...] in execution order
        self.dml_results = []    # results of the k-th DML compiler execution
        self.feed = None
        self.seen = None
        self.dml_seen = 0
        self.plan = None         # plan pass: the read compilers whose execute_sql() ran

    def begin_pass(self):
        self.seen = collections.Counter()
        self.dml_seen = 0

    def cursor(self, *args, **kwargs):
        return _ReplayCursor(self)


_hooked_classes = {}


def _hooked(cls):
    """Subclass of a DML compiler class whose execute_sql is served/captured in a
    window and runs normally outside one."""
    sub = _hooked_classes.get(cls)
    if sub is None:
        def execute_sql(self, *args, **kwargs):
            session = _window_session.get()
            if session is None:
                return cls.execute_sql(self, *args, **kwargs)
            if not session.dml:
                raise NotSupportedError("async ORM: %s in a read-only call" % cls.__name__)
            k = session.dml_seen
            session.dml_seen += 1
            if k < len(session.dml_results):
                return session.dml_results[k]
            raise _Need("dml", (self, args, kwargs))

        sub = type(cls.__name__, (cls,), {"execute_sql": execute_sql, "__module__": cls.__module__})
        _hooked_classes[cls] = sub
    return sub


_planned_classes = {}


def _planned(cls):
    """Subclass of a read compiler class whose execute_sql(SINGLE) only records
    the compiler in a plan pass (and runs normally outside one)."""
    sub = _planned_classes.get(cls)
    if sub is None:
        def execute_sql(self, result_type=MULTI, *args, **kwargs):
            session = _window_session.get()
            if session is None or session.plan is None:
                return cls.execute_sql(self, result_type, *args, **kwargs)
            if result_type != SINGLE or session.plan:
                raise _Need("plan", None)  # not a single single-row read: replay instead
            session.plan.append((self, _compile(self)))  # compiled here, as execute_sql would
            return None

        sub = type(cls.__name__, (cls,), {"execute_sql": execute_sql, "__module__": cls.__module__})
        _planned_classes[cls] = sub
    return sub


class _Window:
    """Patches this thread's wrapper for one synchronous run. No await happens
    inside, so no other task can see the patched wrapper."""

    def __init__(self, session):
        self.session = session

    def __enter__(self):
        s = self.session
        w = s.wrapper
        d = w.__dict__
        self._saved = {k: d[k] for k in ("cursor", "chunked_cursor", "ensure_connection",
                                          *_ATOMIC_METHODS) if k in d}
        d["cursor"] = d["chunked_cursor"] = s.cursor
        d["ensure_connection"] = _noop
        for name in _ATOMIC_METHODS:
            inner = getattr(getattr(type(w), name), "__wrapped__", None)
            if inner is not None:
                d[name] = inner.__get__(w)
        ops = w.ops
        self._ops_saved = ops.__dict__.get("compiler")
        original = type(ops).compiler.__get__(ops)

        def compiler(name):
            cls = original(name)
            if issubclass(cls, _DML_BASES):
                return _hooked(cls)
            if s.plan is not None and issubclass(cls, dj_compiler.SQLCompiler):
                return _planned(cls)
            return cls

        ops.__dict__["compiler"] = compiler
        self._token = _window_session.set(s)
        s.begin_pass()
        return s

    def __exit__(self, *exc):
        w = self.session.wrapper
        d = w.__dict__
        for k in ("cursor", "chunked_cursor", "ensure_connection", *_ATOMIC_METHODS):
            d.pop(k, None)
        d.update(self._saved)
        if self._ops_saved is None:
            w.ops.__dict__.pop("compiler", None)
        else:
            w.ops.__dict__["compiler"] = self._ops_saved
        _window_session.reset(self._token)
        return False


def _noop(*args, **kwargs):
    return None


def _wrapper_for(wrapper_or_alias):
    if isinstance(wrapper_or_alias, str):
        from django.db import connections

        return connections[wrapper_or_alias]
    return wrapper_or_alias


async def arun(wrapper, fn, *, dml=False):
    """Run the sync ORM callable ``fn`` with its statements executed on the async
    cursor (see the module docstring); returns what ``fn`` returns."""
    wrapper = _wrapper_for(wrapper)
    await aprepare(wrapper)
    session = _Session(wrapper, dml)
    while True:
        try:
            with _Window(session):
                return fn()
        except _Need as need:
            if need.kind == "read":
                sql, params = need.payload
                result = await _afetch(wrapper, sql, params)
                session.reads.setdefault((sql, _params_key(params)), []).append(result)
            else:
                comp, args, kwargs = need.payload
                session.dml_results.append(await aexecute_dml(comp, *args, **kwargs))


# ---- reads compiled once ----------------------------------------------------------

def _compile(compiler):
    """compiler.as_sql(), or None when the query can match nothing (as execute_sql)."""
    try:
        sql, params = compiler.as_sql()
        if not sql:
            raise EmptyResultSet
    except EmptyResultSet:
        return None
    return sql, params


async def _afetch_compiled(compiler, compiled, result_type):
    """What SQLCompiler.execute_sql(result_type) returns (MULTI: a list of row
    chunks, not chunked; SINGLE: the first row or None), for SQL compiled already."""
    if compiled is None:
        return [] if result_type == MULTI else None
    w = compiler.connection
    sql, params = compiled
    if result_type == SINGLE:
        row = await afetchone(w, sql, params)
        return row[0:compiler.col_count] if row else row
    rows = (await _afetch(w, sql, params)).rows
    if compiler.has_extra_select:
        rows = [r[0:compiler.col_count] for r in rows]
    return [rows] if rows else []


def _run_once(session, fn):
    with _Window(session):
        return fn()


async def afetch_list(wrapper, query, make_iter):
    """``list(make_iter())`` for an iterable that gets its rows from one
    ``query.get_compiler(using).execute_sql(MULTI)`` (Django's model, values and
    values_list iterables): compiled once, the rows fetched on the async cursor,
    the iterable run once on them. Anything else it would query falls back to
    :func:`arun`."""
    wrapper = _wrapper_for(wrapper)
    await aprepare(wrapper)
    session = _Session(wrapper, dml=False)
    try:
        compiler = _run_once(session, lambda: query.get_compiler(using=wrapper.alias))
        compiled = _run_once(session, lambda: _compile(compiler))
    except _Need:
        return await arun(wrapper, lambda: list(make_iter()))
    results = await _afetch_compiled(compiler, compiled, MULTI)
    compiler.execute_sql = lambda *args, **kwargs: results
    query.__dict__["get_compiler"] = lambda *args, **kwargs: compiler
    try:
        return _run_once(session, lambda: list(make_iter()))
    except _Need:
        pass
    finally:
        query.__dict__.pop("get_compiler", None)
    return await arun(wrapper, lambda: list(make_iter()))


async def aplan_single(wrapper, fn, finish):
    """Run the sync callable ``fn`` whose only query is a single-row read (SINGLE)
    once, in a plan pass; then run that query and return ``finish(compiler, row)``.
    Without a query, ``fn``'s own result; with anything else, :func:`arun`."""
    wrapper = _wrapper_for(wrapper)
    await aprepare(wrapper)
    session = _Session(wrapper, dml=False)
    session.plan = []
    try:
        value = _run_once(session, fn)
    except _Need:
        return await arun(wrapper, fn)
    except Exception:
        if not session.plan:
            raise
        return await arun(wrapper, fn)  # fn choked on the "no row" placeholder
    if not session.plan:
        return value
    compiler, compiled = session.plan[0]
    return finish(compiler, await _afetch_compiled(compiler, compiled, SINGLE))


def aggregation_result(compiler, result):
    """The end of Django's Query.get_aggregation() for the row ``result`` of its
    outer query's compiler."""
    outer_query = compiler.query
    cols = outer_query.annotation_select.values()
    if result is None:
        result = [expression.empty_result_set_value for expression in cols]
    else:
        converters = compiler.get_converters(cols)
        rows = compiler.apply_converters((result,), converters)
        if getattr(compiler, "has_composite_fields", None) and compiler.has_composite_fields(cols):
            rows = compiler.composite_fields_to_tuples(rows, cols)
        result = next(rows)
    return dict(zip(outer_query.annotation_select, result))


# ---- streaming ------------------------------------------------------------------

class _Feed:
    """Rows of a streamed query for the replay cursor. Django's cursor_iter pulls
    with fetchmany(); serving one row per call makes every next() of the 1:1
    iterables (model, values, values_list) consume exactly one row, so the loop
    can refill between next() calls without ever blocking inside one."""

    def __init__(self, sql, params, description):
        self.sql = (sql, _params_key(params))
        self.description = description
        self.rows = collections.deque()
        self.done = False

    def take(self, n):
        if self.rows:
            return [self.rows.popleft()]
        if self.done:
            return []
        raise NotSupportedError("async ORM: the iterable read ahead of the stream")


async def astream(wrapper, make_iter, chunk_size=GET_ITERATOR_CHUNK_SIZE):
    """Async generator over the sync iterator ``make_iter()`` (a 1:1 iterable: one
    row in, one item out) fed from a query read chunk by chunk."""
    wrapper = _wrapper_for(wrapper)
    await aprepare(wrapper)
    session = _Session(wrapper, dml=False)
    # First run: learn the statement (and serve any other query it makes first).
    while True:
        try:
            with _Window(session):
                it = make_iter()
                next(it)
        except StopIteration:
            return  # no query at all (e.g. an empty IN list)
        except _Need as need:
            sql, params = need.payload
            break
        else:
            raise NotSupportedError("async ORM: the iterable produced rows without a query")
    cursor = await aexecute(wrapper, sql, params)
    try:
        with wrapper.wrap_database_errors:
            feed = _Feed(sql, params, await cursor.describe())
        session.feed = feed
        it = None
        while True:
            if not feed.rows and not feed.done:
                with wrapper.wrap_database_errors:
                    rows = await cursor.fetchmany(chunk_size)
                if rows:
                    feed.rows.extend(rows)
                else:
                    feed.done = True
            out = []
            with _Window(session):
                if it is None:
                    it = make_iter()
                try:
                    for _ in range(len(feed.rows) if feed.rows else 1):
                        out.append(next(it))
                except StopIteration:
                    it = False
            for item in out:
                yield item
            if it is False:
                return
    finally:
        await cursor.close()


# ---- DML executors (async twins of compiler.py's execute_sql) ---------------------

async def aexecute_dml(comp, *args, **kwargs):
    if isinstance(comp, dj_compiler.SQLInsertCompiler):
        return await _ainsert(comp, *args, **kwargs)
    if isinstance(comp, dj_compiler.SQLUpdateCompiler):
        return await _aupdate(comp, *args, **kwargs)
    return await _adelete(comp, *args, **kwargs)


async def _ainsert(comp, returning_fields=None):
    w = comp.connection
    # db_default expressions are evaluated with a SELECT inside _insert_plan().
    fields, objs, plan = await arun(w, comp._insert_plan)
    if plan is None:
        return []
    sql, params, many = plan
    await (await aexecute(w, sql, params, many=many)).close()
    return comp._returning(objs, returning_fields)


async def arun_steps(wrapper, steps):
    """Drive a step generator (compiler.MutationMixin._mutation_steps) on the
    async cursor: the sync path's statements, waits and checks, one copy."""
    from .compiler import EXECUTE, FETCHALL, FETCHONE, SLEEP, next_step

    step, value = next_step(steps, None)
    while step is not None:
        kind, sql, params = step
        result = None
        if kind == SLEEP:
            await asyncio.sleep(sql)
        elif kind == FETCHONE:
            result = await afetchone(wrapper, sql, params)
        elif kind == FETCHALL:
            result = (await _afetch(wrapper, sql, params)).rows
        elif kind == EXECUTE:
            await (await aexecute(wrapper, sql, params)).close()
        step, value = next_step(steps, result)
    return value


async def _amutate(comp, sql, params):
    """compiler.MutationMixin._run on the async cursor."""
    where, where_params = comp._where
    return await arun_steps(comp.connection, comp._mutation_steps(sql, params, where, where_params))


async def _adelete(comp, result_type=MULTI):
    try:
        sql, params = comp.as_sql()
    except EmptyResultSet:
        return 0
    return await _amutate(comp, sql, params)


async def _aupdate(comp, result_type=ROW_COUNT):
    try:
        sql, params = comp.as_sql()
    except EmptyResultSet:
        sql = ""
    count = await _amutate(comp, sql, params) if sql else 0
    for query in comp.query.get_related_updates():
        aux = await aexecute_dml(query.get_compiler(comp.using), result_type)
        if not count and aux:
            count = aux
    return count


__all__ = ["arun", "astream", "afetch_list", "aplan_single", "aggregation_result", "aexecute", "afetchone", "aexecute_dml", "async_connection",
           "aprepare", "is_clickhouse", "CURSOR", "MULTI", "NO_RESULTS", "ROW_COUNT", "SINGLE"]
