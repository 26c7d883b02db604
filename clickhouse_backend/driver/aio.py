"""asyncio connection and cursor. No thread per request: the engine thread wakes the
loop through one eventfd per loop (a Notifier), and one wake-up may complete many
requests. Cancelling the awaiting task aborts the request, frees its pool slot and
kills the query on the server."""
import asyncio
import weakref

from .. import _engine
from .config import make_options, version_tuple
from .connection import Connection
from .cursor import CursorBase
from . import exceptions as exc

_notifiers = weakref.WeakKeyDictionary()


def _notifier(loop):
    n = _notifiers.get(loop)
    if n is None:
        n = _engine.Notifier()
        loop.add_reader(n.fileno(), n.dispatch)
        _notifiers[loop] = n
    return n


async def _next_block(stream):
    """The next decoded block, None at the end; raises the request's error."""
    loop = None
    while True:
        item = stream.poll()
        if item is not False:
            if loop is None:
                # Data was ready without waiting: still yield once per block, or a fast
                # stream would starve every other task (and its own cancellation).
                await asyncio.sleep(0)
            return item
        if loop is None:
            loop = asyncio.get_running_loop()
        fut = loop.create_future()
        # poll() and arm() run without yielding, so no wake-up can be lost between them.
        stream.arm(fut)
        try:
            await fut
        except asyncio.CancelledError:
            stream.cancel()
            raise


class AsyncCursor(CursorBase):
    async def execute(self, operation, parameters=None, *, settings=None, query_id=None):
        try:
            self._request(operation, parameters, settings, query_id, self._notifier())
        except _engine.ServerVersionNeeded:  # as in Cursor.execute
            await self.connection._learn_server_version()
            self._request(operation, parameters, settings, query_id, self._notifier())
        await self._first_block()
        return self

    async def executemany(self, operation, seq_of_parameters, *, settings=None, query_id=None):
        self._check_open()
        try:
            prepared = self._insert_body(operation, seq_of_parameters)
        except _engine.ServerVersionNeeded:
            await self.connection._learn_server_version()
            prepared = self._insert_body(operation, seq_of_parameters)
        if prepared is None:
            count = 0
            for params in seq_of_parameters:
                await self.execute(operation, params, settings=settings)
                count += max(self._rowcount, 0)
            self._rowcount = count
            return self
        nrows = self._send_batch(prepared, settings, query_id, self._notifier())
        await self._first_block()
        self._rowcount = nrows
        return self

    def _notifier(self):
        return _notifier(asyncio.get_running_loop())

    async def _first_block(self):
        try:
            while not self._done:
                if self._on_block(await _next_block(self._stream)) or self._names is not None:
                    break
        except BaseException:
            self._done = True
            raise
        if self._describe is not None and self._done:
            # An empty SELECT: `description` is a plain attribute, so ask now.
            await self._adescribe()

    async def _adescribe(self):
        try:
            stream = self._describe_stream(self._notifier())
            if stream is None:
                return
            rows = []
            while (block := await _next_block(stream)) is not None:
                rows.extend(block[2])
        except exc.Error:
            return  # a statement DESCRIBE cannot wrap: description stays None
        self._described(rows)

    async def _fill(self, want):
        while not self._done and (want is None or self._buffered() < want):
            self._on_block(await _next_block(self._stream))

    async def fetchone(self):
        self._check_result()
        await self._fill(1)
        rows = self._take(1)
        return rows[0] if rows else None

    async def fetchmany(self, size=None):
        self._check_result()
        size = self.arraysize if size is None else size
        await self._fill(size)
        return self._take(size)

    async def fetchall(self):
        self._check_result()
        await self._fill(None)
        return self._take(None)

    def __aiter__(self):
        self._check_result()
        return self

    async def __anext__(self):
        if self._pos < len(self._rows):  # fast path: a row is buffered
            row = self._rows[self._pos]
            self._pos += 1
            self._fetched += 1
            return row
        if self._buffered() == 0:
            await self._fill(1)
            if self._buffered() == 0:
                raise StopAsyncIteration
        return self._take(1)[0]

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
        self._closed = True
        self._release_client()

    async def commit(self):
        self._check_open()

    async def rollback(self):
        self._check_open()
        raise exc.NotSupportedError("ClickHouse has no transactions; rollback is not possible")

    async def server_version(self):
        async with self.cursor() as c:
            await c.execute("SELECT version()")
            return (await c.fetchone())[0]

    async def _learn_server_version(self):
        self._server_version_info = version_tuple(await self.server_version())

    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        await self.close()

    def __enter__(self):
        raise TypeError("use 'async with' with an AsyncConnection")


async def connect_async(dsn=None, **kwargs):
    return AsyncConnection(make_options(dsn, **kwargs))
