"""Sync DB-API 2.0 connection and cursor. Waiting happens in C with the GIL released."""
import threading
from functools import partial
import weakref

from .. import _engine
from . import columnar as col
from .config import make_options
from .cursor import CursorBase
from . import exceptions as exc

# Options.http2 -> the engine's mode (its C enum, exported by name)
_HTTP2_MODES = {"auto": _engine.HTTP2_AUTO, True: _engine.HTTP2_REQUIRED, False: _engine.HTTP2_OFF}
# Options.auth -> how the engine sends the credentials
_AUTH_MODES = {"basic": _engine.AUTH_BASIC, "headers": _engine.AUTH_HEADERS}


class Cursor(CursorBase):
    """The sync shell: waits by blocking in C (GIL released; Ctrl-C cancels)."""

    def _wait(self, steps):
        """Run a step machine (see cursor.py) to its end; returns its value."""
        try:
            stream = steps.send(None)
            while True:
                try:
                    if self._progress is not None and stream is self._stream:  # calls back on this thread
                        block = stream.next_block_progress(self._on_progress)
                    else:
                        block = stream.next_block()
                except BaseException as e:
                    stream = steps.throw(e)
                else:
                    stream = steps.send(block)
        except StopIteration as stop:
            return stop.value

    def _notifier(self):
        return None

    _who = staticmethod(threading.current_thread)

    @staticmethod
    def _awaits(holder, thread):
        return False

    @staticmethod
    def _finished(thread):
        return not thread.is_alive()

    def execute(self, operation, parameters=None, *, settings=None, query_id=None, progress=None):
        return self._wait(self._execute(operation, parameters, settings, query_id, progress))

    def executemany(self, operation, seq_of_parameters, *, settings=None, query_id=None, progress=None):
        return self._wait(self._executemany(operation, seq_of_parameters, settings, query_id, progress))

    def fetchone(self):
        rows = self._fetch_ready(1)
        if rows is None:
            rows = self._wait(self._fetch(1))
        return rows[0] if rows else None

    def fetchmany(self, size=None):
        size = self.arraysize if size is None else size
        rows = self._fetch_ready(size)
        return rows if rows is not None else self._wait(self._fetch(size))

    def fetchall(self):
        rows = self._fetch_ready(None)
        return rows if rows is not None else self._wait(self._fetch(None))

    def describe(self):
        """`description`, as a method (the async cursor's must be awaited)."""
        return self._wait(self._describe_op())

    _describe_now = describe  # `description` of an empty SELECT asks the server on first read

    def __iter__(self):
        generation, finished = self._generation, False
        try:
            while rows := self._wait(self._fetch_some()):
                yield from rows
                self._check_iteration(generation)
            finished = True
        finally:
            self._iterated(generation, finished)

    # -- columnar inserts (docs/columnar.md) -------------------------------------
    def insert_columns(self, table, columns, *, settings=None, query_id=None):
        """INSERT {name: array-like} (NumPy, masked, lists) into table as one Native
        block; values are checked as executemany() checks them (DataError, nothing sent)."""
        return self._wait(self._insert_columnar(table, dict(columns), settings, query_id))

    def insert_df(self, table, df, *, settings=None, query_id=None):
        """INSERT a pandas DataFrame (its columns by name) into table."""
        return self._wait(self._insert_columnar(table, {str(c): df[c] for c in df.columns}, settings, query_id))

    def insert_arrow(self, table, arrow_table, *, settings=None, query_id=None):
        """INSERT a pyarrow Table (or RecordBatch) into table."""
        data = {n: arrow_table.column(i) for i, n in enumerate(arrow_table.schema.names)}
        return self._wait(self._insert_columnar(table, data, settings, query_id))

    # -- columnar results (docs/columnar.md) -------------------------------------
    def fetchnumpy(self, strings=None):
        """The rest of the result as {column name: NumPy array} (masked for Nullable).
        strings: "str" String columns as numpy.dtypes.StringDType (NumPy >= 2, no Python
        object per value), "object" as object arrays of str, None (default) "str" when
        NumPy has StringDType and the connection does not have strings_as_bytes."""
        mode = self._numpy_mode(strings)
        return self._numpy_result(self._wait(self._columnar_blocks(mode)), mode)

    def fetch_df(self):
        """The rest of the result as a pandas DataFrame."""
        mode, str_dtype = self._df_mode()
        return self._df_result(self._wait(self._columnar_blocks(mode)), str_dtype)

    def fetch_arrow_table(self):
        """The rest of the result as a pyarrow Table (one record batch per block)."""
        col.need("pyarrow")
        return self._arrow_result(self._wait(self._columnar_blocks(col.MODE_ARROW)))

    def fetch_record_batch(self):
        """The rest of the result as a pyarrow RecordBatchReader that reads one block
        at a time (memory bounded by stream_buffer_bytes, not by the result)."""
        pa = col.need("pyarrow")
        first = self._arrow_batches(self._wait(self._columnar_blocks(col.MODE_ARROW, 1)))
        return pa.RecordBatchReader.from_batches(self._arrow_schema(), self._batches(col.MODE_ARROW, first))



    def _batches(self, mode, first=()):
        generation, finished = self._generation, False
        convert = self._arrow_batches if mode == col.MODE_ARROW else partial(self._numpy_batches, mode=mode)
        try:
            yield from first
            while blocks := self._wait(self._columnar_blocks(mode, 1)):
                yield from convert(blocks)
                self._check_iteration(generation)
            finished = True
        finally:
            self._iterated(generation, finished)

    def close(self):
        if not self._closed:
            self._abandon()
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Connection:
    """A DB-API connection. Cheap: the HTTP connections live in the process-wide
    pool of the endpoint, shared by every Connection, thread and event loop."""

    cursor_class = Cursor
    # The server's version as a tuple, () until a query parameter's literal depends on
    # it (an aware datetime with microseconds: DateTime64 came in 20.1); then asked once.
    _server_version_info = ()
    # (zone,) of the server's timezone once asked (native_insert.server_zone): naive
    # datetimes of a Native INSERT body are read in it, as the server reads VALUES text
    _server_zone = None
    # PEP 249 optional extension: exceptions as connection attributes
    Warning = exc.Warning
    Error = exc.Error
    InterfaceError = exc.InterfaceError
    DatabaseError = exc.DatabaseError
    DataError = exc.DataError
    OperationalError = exc.OperationalError
    IntegrityError = exc.IntegrityError
    InternalError = exc.InternalError
    ProgrammingError = exc.ProgrammingError
    NotSupportedError = exc.NotSupportedError

    def __init__(self, options):
        self._options = options
        self._cursors = weakref.WeakSet()  # closing the connection closes their results
        self._columns = {}  # table -> [(name, type, default kind)]: what executemany() inserts into
        if options.embedded is not None and options.embedded is not False:
            from .embedded import EmbeddedClient  # imports chDB only when first used

            self._client = EmbeddedClient(options)
            self._closed = False
            return
        options.check_credentials()
        self._client = _engine.Client(
            options.host, options.port, options.url_params(), options.headers(),
            user=options.user, password=options.password, auth=_AUTH_MODES[options.auth],
            pool_size=options.pool_size, pool_timeout=options.pool_timeout,
            idle_timeout=options.idle_timeout, connect_timeout=options.connect_timeout,
            send_receive_timeout=options.send_receive_timeout, pool_name=options.pool_name,
            secure=options.secure, verify=options.verify, ca_certs=options.ca_certs or "",
            certfile=options.certfile or "", keyfile=options.keyfile or "",
            server_hostname=options.server_hostname or "", ciphers=options.ciphers or "",
            http2=_HTTP2_MODES[options.http2],
            alt_hosts=options.endpoints[1:], load_balancing=options.lb_policy,
            host_backoff=options.host_backoff, host_backoff_max=options.host_backoff_max,
            dns_refresh=options.dns_refresh, health_check=options.health_check_kind,
            health_check_interval=options.health_check_interval, max_replica_delay=options.max_replica_delay,
        )
        if options.health_check:
            self._client.host_stats()  # builds the pools now: checks start at connect, not at the first query
        self._closed = False

    @property
    def closed(self):
        return self._closed

    def _check_open(self):
        if self._closed:
            raise exc.InterfaceError("connection is closed")

    def cursor(self):
        self._check_open()
        cur = self.cursor_class(self)
        self._cursors.add(cur)
        return cur

    def close(self):
        """PEP 249: the connection and its cursors become unusable. Results still
        open are closed: their pool slots are freed and queries still running are
        killed on the server (a thread reading one gets InterfaceError)."""
        self._closed = True
        for cur in list(self._cursors):
            cur._abandon()
            # unusable now (PEP 249): its finished result must not keep the pool alive
            # until the cursor is garbage-collected
            cur._stream = None
        self._release_client()

    def _release_client(self):
        # the engine client lets go of the shared pool: once no Connection and no
        # query uses it, its idle sockets are closed (docs/reliability.md)
        self._client.close()

    def commit(self):
        self._check_open()  # ClickHouse has no transactions: nothing to commit

    def rollback(self):
        self._check_open()
        raise exc.NotSupportedError("ClickHouse has no transactions; rollback is not possible")

    def pool_stats(self):
        return self._client.pool_stats()

    def host_stats(self):
        """Per endpoint (docs/cluster.md): host, port, in_use, idle, open, requests,
        failures, failovers, down_for (seconds it is still skipped), max_size, addresses,
        checks, check_failures, pings, pings_unanswered."""
        return self._client.host_stats()

    def server_version(self):
        with self.cursor() as c:
            c.execute("SELECT version()")
            return c.fetchone()[0]

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def __repr__(self):
        o = self._options
        return (f"<{type(self).__name__} {'closed' if self._closed else 'open'} "
                f"{o.host}:{o.port}/{o.database} user={o.user!r}>")


def open_connection(cls, dsn, kwargs):
    """cls(options), with any error a PEP 249 one (bad options: InterfaceError)."""
    try:
        return cls(make_options(dsn, **kwargs))
    except exc.Error:
        raise
    except Exception as e:
        raise exc.InterfaceError(f"invalid connection options: {type(e).__name__}: {e}") from e


def connect(dsn=None, **kwargs):
    return open_connection(Connection, dsn, kwargs)
