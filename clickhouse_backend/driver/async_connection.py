"""asyncio connection and cursor. No thread per request: the engine thread wakes the
loop through one eventfd per loop (a Notifier), and one wake-up may complete many
requests. Cancelling the awaiting task aborts the request, frees its pool slot and
kills the query on the server."""
import asyncio
from asyncio import _get_running_loop
from functools import partial
import inspect
import weakref

from .. import _engine
from . import columnar as col
from .connection import Connection, open_connection
from .cursor import CursorBase
from . import exceptions as exc

_notifiers = weakref.WeakKeyDictionary()
_last = (lambda: None, None)  # (weak ref to a loop, its Notifier): asked once per query


def _notifier(loop):
    global _last
    ref, n = _last
    if ref() is loop:
        return n
    n = _notifiers.get(loop)
    if n is None:
        n = _engine.Notifier()
        loop.add_reader(n.fileno(), n.dispatch)
        _notifiers[loop] = n
    _last = (weakref.ref(loop), n)
    return n


def _resolve(fut):
    if not fut.done():
        fut.set_result(None)


def _awaits(holder, task):
    """Is task `holder` waiting for `task` alone: awaiting it, or through
    asyncio.wait_for (a task of its own before Python 3.12)? (Not gather: its
    caller waits for many tasks at once, which may be the ones sharing a cursor.)"""
    waiter = getattr(holder, "_fut_waiter", None)
    if waiter is None:
        return False
    if waiter is task:
        return True
    for callback, _ in getattr(task, "_callbacks", None) or ():
        if waiter in (getattr(callback, "args", None) or ()):  # wait_for's partial(_release_waiter, waiter)
            return True
    return False


class AsyncCursor(CursorBase):
    """The async shell: waits by awaiting the event loop (no thread)."""

    _user = "task"
    _waiter = None  # the future a read waits on: closing the connection resolves it
    _unyielded = False  # the last block was taken without letting the loop run

    async def _await_block(self, stream):
        """The next decoded block, None at the end; raises the request's error."""
        loop = None
        while True:
            if self._progress is not None and stream is self._stream:  # woken for it, or a block
                await self._deliver_progress(stream)
            item = stream.poll()
            if item is not False:
                if loop is None and item is not None:
                    # Ready without waiting. A fast stream must not starve the other tasks
                    # (nor its own cancellation), so of two such blocks in a row the second
                    # yields to the loop; a small result (header block waited for, rows
                    # block, end) then costs no extra loop turn (workloads 2 and 5).
                    if self._unyielded:
                        await asyncio.sleep(0)
                    self._unyielded = not self._unyielded
                return item
            self._unyielded = False
            if loop is None:
                loop = asyncio.get_running_loop()
            fut = self._waiter = loop.create_future()
            # poll() and arm() run without yielding, so no wake-up can be lost between them.
            stream.arm(fut)
            try:
                await fut
            except asyncio.CancelledError:
                stream.cancel()
                raise
            finally:
                self._waiter = None

    async def _deliver_progress(self, stream):
        data = self._new_progress(stream)
        if data is not None:
            res = self._on_progress(data)
            if inspect.isawaitable(res):
                await res

    def _abandon(self):
        super()._abandon()
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.get_loop().call_soon_threadsafe(_resolve, fut)  # the reader then sees the close

    @staticmethod
    def _who():  # per query: no exception, and the loop given (current_task is Python before 3.12)
        loop = _get_running_loop()
        return None if loop is None else asyncio.current_task(loop)  # None: a cursor made outside a loop

    _awaits = staticmethod(_awaits)

    @staticmethod
    def _finished(task):
        return task is None or task.done()

    async def _wait(self, steps):
        """Run a step machine (see cursor.py) to its end; returns its value."""
        try:
            stream = steps.send(None)
            while True:
                try:
                    block = await self._await_block(stream)
                except BaseException as e:
                    stream = steps.throw(e)
                else:
                    stream = steps.send(block)
        except StopIteration as stop:
            return stop.value

    def _notifier(self):
        return _notifier(asyncio.get_running_loop())

    async def execute(self, operation, parameters=None, *, settings=None, query_id=None, progress=None):
        return await self._wait(self._execute(operation, parameters, settings, query_id, progress))

    async def executemany(self, operation, seq_of_parameters, *, settings=None, query_id=None, progress=None):
        return await self._wait(self._executemany(operation, seq_of_parameters, settings, query_id, progress))

    async def execute_progress(self, operation, parameters=None, *, settings=None, query_id=None):
        """execute() as an async iterator of its Progress updates; the iteration ends
        when execute() does (then fetch as usual) and raises its error. Leaving the
        loop early cancels the query (it is killed on the server)."""
        updates = asyncio.Queue()
        task = asyncio.ensure_future(self.execute(operation, parameters, settings=settings, query_id=query_id,
                                                  progress=updates.put_nowait))
        try:
            while not task.done() or not updates.empty():
                if updates.empty():
                    getter = asyncio.ensure_future(updates.get())
                    await asyncio.wait((getter, task), return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        continue
                    yield getter.result()
                else:
                    yield updates.get_nowait()
            task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait((task,))
            if not task.cancelled():
                task.exception()  # retrieved (raised above, or the loop was left early)

    async def fetchone(self):
        rows = self._fetch_ready(1)
        if rows is None:
            rows = await self._wait(self._fetch(1))
        return rows[0] if rows else None

    async def fetchmany(self, size=None):
        size = self.arraysize if size is None else size
        rows = self._fetch_ready(size)
        return rows if rows is not None else await self._wait(self._fetch(size))

    async def fetchall(self):
        rows = self._fetch_ready(None)
        return rows if rows is not None else await self._wait(self._fetch(None))

    async def describe(self):
        """`description`, resolved if needed: ClickHouse sends no columns with an
        empty result, so for an empty SELECT this asks DESCRIBE TABLE (query) once."""
        return await self._wait(self._describe_op())

    def _describe_now(self):
        # A property cannot await, and asking in execute() would cost every empty
        # SELECT a second round trip that most callers never need.
        raise exc.ProgrammingError(
            "the columns of an empty result are not known until asked: use 'await cursor.describe()'")

    async def __aiter__(self):
        generation, finished = self._generation, False
        try:
            while rows := await self._wait(self._fetch_some()):
                for row in rows:
                    yield row
                self._check_iteration(generation)
            finished = True
        finally:
            self._iterated(generation, finished)

    # -- columnar inserts (docs/columnar.md) -------------------------------------
    async def insert_columns(self, table, columns, *, settings=None, query_id=None):
        """INSERT {name: array-like} (NumPy, masked, lists) into table as one Native
        block; values are checked as executemany() checks them (DataError, nothing sent)."""
        return await self._wait(self._insert_columnar(table, dict(columns), settings, query_id))

    async def insert_df(self, table, df, *, settings=None, query_id=None):
        """INSERT a pandas DataFrame (its columns by name) into table."""
        return await self._wait(self._insert_columnar(table, {str(c): df[c] for c in df.columns}, settings, query_id))

    async def insert_arrow(self, table, arrow_table, *, settings=None, query_id=None):
        """INSERT a pyarrow Table (or RecordBatch) into table."""
        data = {n: arrow_table.column(i) for i, n in enumerate(arrow_table.schema.names)}
        return await self._wait(self._insert_columnar(table, data, settings, query_id))

    # -- columnar results (docs/columnar.md; the sync cursor's twins) ---------------
    async def fetchnumpy(self, strings=None):
        mode = self._numpy_mode(strings)
        return self._numpy_result(await self._wait(self._columnar_blocks(mode)), mode)

    async def fetch_df(self):
        mode, str_dtype = self._df_mode()
        return self._df_result(await self._wait(self._columnar_blocks(mode)), str_dtype)

    async def fetch_arrow_table(self):
        col.need("pyarrow")
        return self._arrow_result(await self._wait(self._columnar_blocks(col.MODE_ARROW)))



    async def _batches(self, mode):
        generation, finished = self._generation, False
        convert = self._arrow_batches if mode == col.MODE_ARROW else partial(self._numpy_batches, mode=mode)
        try:
            while blocks := await self._wait(self._columnar_blocks(mode, 1)):
                for batch in convert(blocks):
                    yield batch
                self._check_iteration(generation)
            finished = True
        finally:
            self._iterated(generation, finished)

    async def close(self):
        if not self._closed:
            self._abandon()
            self._closed = True

    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        await self.close()


class AsyncConnection(Connection):
    cursor_class = AsyncCursor

    async def close(self):
        super().close()

    async def commit(self):
        self._check_open()

    async def rollback(self):
        self._check_open()
        raise exc.NotSupportedError("ClickHouse has no transactions; rollback is not possible")

    async def server_version(self):
        async with self.cursor() as c:
            await c.execute("SELECT version()")
            return (await c.fetchone())[0]

    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        await self.close()

    def __enter__(self):
        raise TypeError("use 'async with' with an AsyncConnection")


async def connect_async(dsn=None, **kwargs):
    return open_connection(AsyncConnection, dsn, kwargs)
