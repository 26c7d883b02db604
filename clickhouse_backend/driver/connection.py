"""Sync DB-API 2.0 connection and cursor. Waiting happens in C with the GIL released."""
from .. import _engine
from .config import make_options, version_tuple
from .cursor import CursorBase
from . import exceptions as exc


class Cursor(CursorBase):
    def execute(self, operation, parameters=None, *, settings=None, query_id=None):
        try:
            self._request(operation, parameters, settings, query_id)
        except _engine.ServerVersionNeeded:  # a literal that depends on it (see _server_version_info)
            self.connection._learn_server_version()
            self._request(operation, parameters, settings, query_id)
        self._first_block()
        return self

    def executemany(self, operation, seq_of_parameters, *, settings=None, query_id=None):
        self._check_open()
        try:
            prepared = self._insert_body(operation, seq_of_parameters)
        except _engine.ServerVersionNeeded:
            self.connection._learn_server_version()
            prepared = self._insert_body(operation, seq_of_parameters)
        if prepared is None:
            count = 0
            for params in seq_of_parameters:
                self.execute(operation, params, settings=settings)
                count += max(self._rowcount, 0)
            self._rowcount = count
            return self
        nrows = self._send_batch(prepared, settings, query_id, None)
        self._first_block()
        self._rowcount = nrows
        return self

    def _first_block(self):
        # Reading the first block makes errors surface in execute() and gives
        # `description` before any fetch.
        while not self._done:
            if self._on_block(self._stream.next_block()) or self._names is not None:
                break

    def _fill(self, want):
        while not self._done and (want is None or self._buffered() < want):
            self._on_block(self._stream.next_block())

    def _resolve_description(self):
        try:
            stream = self._describe_stream()
            if stream is None:
                return
            rows = []
            while (block := stream.next_block()) is not None:
                rows.extend(block[2])
        except exc.Error:
            return  # a statement DESCRIBE cannot wrap: description stays None
        self._described(rows)

    def fetchone(self):
        self._check_result()
        self._fill(1)
        rows = self._take(1)
        return rows[0] if rows else None

    def fetchmany(self, size=None):
        self._check_result()
        size = self.arraysize if size is None else size
        self._fill(size)
        return self._take(size)

    def fetchall(self):
        self._check_result()
        self._fill(None)
        return self._take(None)

    def __iter__(self):
        self._check_result()
        while True:
            if self._buffered() == 0:
                if self._done:
                    return
                self._on_block(self._stream.next_block())
                continue
            rows = self._take(None)
            yield from rows

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
        if options.embedded is not None and options.embedded is not False:
            from .embedded import EmbeddedClient  # imports chDB only when first used

            self._client = EmbeddedClient(options)
            self._closed = False
            return
        self._client = _engine.Client(
            options.host, options.port, options.url_params(), options.headers(),
            pool_size=options.pool_size, pool_timeout=options.pool_timeout,
            idle_timeout=options.idle_timeout, connect_timeout=options.connect_timeout,
            send_receive_timeout=options.send_receive_timeout, pool_name=options.pool_name,
            secure=options.secure, verify=options.verify, ca_certs=options.ca_certs or "",
            certfile=options.certfile or "", keyfile=options.keyfile or "",
            server_hostname=options.server_hostname or "",
            http2={"auto": 1, True: 2, False: 0}[options.http2],
        )
        self._closed = False

    @property
    def closed(self):
        return self._closed

    def _check_open(self):
        if self._closed:
            raise exc.InterfaceError("connection is closed")

    def cursor(self):
        self._check_open()
        return self.cursor_class(self)

    def close(self):
        self._closed = True
        self._release_client()

    def _release_client(self):
        # the engine client lets go of the shared pool: once no Connection and no
        # query uses it, its idle sockets are closed (docs/reliability.md)
        if isinstance(self._client, _engine.Client):
            self._client.close()

    def commit(self):
        self._check_open()  # ClickHouse has no transactions: nothing to commit

    def rollback(self):
        self._check_open()
        raise exc.NotSupportedError("ClickHouse has no transactions; rollback is not possible")

    def pool_stats(self):
        return self._client.pool_stats()

    def server_version(self):
        with self.cursor() as c:
            c.execute("SELECT version()")
            return c.fetchone()[0]

    def _learn_server_version(self):
        self._server_version_info = version_tuple(self.server_version())

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def __repr__(self):
        o = self._options
        return (f"<{type(self).__name__} {'closed' if self._closed else 'open'} "
                f"{o.host}:{o.port}/{o.database} user={o.user!r}>")


def connect(dsn=None, **kwargs):
    return Connection(make_options(dsn, **kwargs))
