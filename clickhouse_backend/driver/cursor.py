"""The cursors' logic, once, for the sync and the async cursor.

Every operation (execute, executemany, fetch, describe) is a *step machine*: a
generator that does no I/O. When it needs the next block of a result it yields
that result's stream, and is sent the block (None at the end) or thrown the
error of the wait. psycopg 3's generators are the model. The sync cursor
(connection.py) drives a step machine by blocking in C with the GIL released,
the async cursor (async_connection.py) by awaiting the event loop: the two shells have no
logic of their own, so they cannot drift apart.
"""
import re
import threading

from .. import _engine
from . import columnar as col
from .config import settings_query
from .config import version_tuple
from .exceptions import Error, InterfaceError, NotSupportedError, ProgrammingError, from_python_error
from .progress import PROGRESS_SETTINGS, UNKNOWN, Progress, Summary
from . import native_insert
from .typecheck import column_checks

# Statements that may be sent again on a fresh connection when a reused keep-alive
# connection turns out dead before any answer byte: reads only, never an INSERT.
_RETRYABLE = re.compile(r"(?:\s|--[^\n]*\n|/\*.*?\*/|\()*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b",
                        re.I | re.S)
_INSERT_VALUES = re.compile(r"^(?P<head>\s*INSERT\s+INTO\s+.+?\s+VALUES)\s*(?P<row>\(.*\))\s*;?\s*$",
                            re.I | re.S)
_ONLY_PLACEHOLDERS = re.compile(r"^\(\s*%s(?:\s*,\s*%s)*\s*\)$")
_IDENT = r"(?:`(?:[^`\\]|\\.)*`|[A-Za-z_][\w$]*)"
_INSERT_TARGET = re.compile(rf"^\s*INSERT\s+INTO\s+(?:TABLE\s+)?(?P<table>{_IDENT}(?:\.{_IDENT})?)\s*"
                            r"(?:\((?P<columns>[^()]*)\))?\s*VALUES$", re.I | re.S)
_INSERT_DATA = re.compile(r"^(?P<head>\s*INSERT\s+INTO\s+.+?\s+VALUES)\s*;?\s*$", re.I | re.S)
# Statements after which the cached column types of tables may be stale.
_SCHEMA_CHANGE = re.compile(r"(?:\s|--[^\n]*\n|/\*.*?\*/)*(ALTER|CREATE|DROP|RENAME|EXCHANGE|ATTACH|DETACH)\b",
                            re.I | re.S)
COMPRESS_BODY_MIN = 1 << 20
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
# A SELECT whose result is empty comes with no Native block at all, so no column
# names or types: `description` then asks the server (DESCRIBE TABLE (query)),
# which analyses the query without running it.
_DESCRIBABLE = re.compile(r"(?:\s|--[^\n]*\n|/\*.*?\*/|\()*(SELECT|WITH)\b", re.I | re.S)


_CONCURRENT = ("this cursor is in use by another {} at the same time: a cursor serves one {} at a "
               "time (PEP 249 threadsafety 2); give each {} its own cursor")


class CursorBase:
    """State and step machines of a cursor; the shells add only how to wait:
    ``_wait(steps)`` runs a step machine to its end and returns its value,
    ``_notifier()`` gives what wakes the waiter (None: the sync cursor blocks),
    ``_who()`` the thread or task running, and ``_awaits(a, b)`` whether a waits for b."""

    arraysize = 1
    _user = "thread"  # who uses a cursor, for messages

    def __init__(self, connection):
        self.connection = connection
        self._closed = False
        self._busy = threading.Lock()  # held by the one operation running
        self._generation = 0           # counts results: an iteration stops if its result is replaced
        self._columnar = False         # set_query_execution_args()
        self._use_numpy = False
        self._progress = None          # the callback of the running execute (see _op)
        self._reset()

    def set_query_execution_args(self, columnar=None, use_numpy=None):
        """django-clickhouse-backend's (clickhouse-driver's) switches for the next
        queries: columnar results (fetchall() gives one tuple per column), as NumPy
        arrays with use_numpy; columnar also makes executemany()/execute() of an
        INSERT take its data as columns."""
        if use_numpy:
            col.need("numpy")
        self._columnar = bool(columnar)
        self._use_numpy = bool(use_numpy)

    def _reset(self):
        self._generation += 1
        # The threads/tasks whose result this is (see _check_owner), and whether
        # anyone read it yet. A holder of the previous result that waits for this
        # one's executor (a helper task) stays one.
        who = self._who()
        self._holders = [who] + [h for h in getattr(self, "_holders", ()) if h is not who and self._awaits(h, who)]
        self._read = False
        self._stream = None
        self._rows = []
        self._pos = 0
        self._done = True
        self._attempt = 0      # the stream's attempt the buffered rows come from
        self._delivered = False  # a row of this result reached the caller (see _delivering)
        self._failed = None    # the error that ended the current result early
        self._names = None
        self._types = None
        self._columns = None   # columnar: the values gathered per column until the end
        self._fetched = 0
        self._total = 0
        self._rowcount = -1
        self.query_id = None
        self._summary = UNKNOWN        # a Summary, or the stream's text until `summary` is read
        self.last_progress = None      # the latest Progress delivered
        self._progress_seen = 0        # the stream's progress_seq delivered (async)
        self._describe = None  # (sql, settings) while an empty SELECT's columns are unknown

    # -- PEP 249 attributes ---------------------------------------------------
    @property
    def description(self):
        if self._describe is not None:
            self._describe_now()
        return self._description()

    @property
    def rowcount(self):
        return self._rowcount

    @property
    def columns_with_types(self):
        if self._describe is not None:
            self._describe_now()
        if self._names is None:
            return None
        return list(zip(self._names, self._types))

    def _description(self):
        if self._names is None:
            return None
        return tuple((n, t, None, None, None, None, None) for n, t in zip(self._names, self._types))

    def setinputsizes(self, sizes):
        pass

    def setoutputsize(self, size, column=None):
        pass

    def nextset(self):
        # PEP 249: None when there is no further result set; ClickHouse sends one per query.
        self._check_open()
        return None

    # -- step machines: what execute/executemany/fetch*/describe do ----------------
    def _op(self, steps, progress=False):
        """Every operation of the shells: one at a time per cursor, and only PEP 249
        errors come out (any other with the original as __cause__). execute and
        executemany name their progress callback (None: the connection's)."""
        if not self._busy.acquire(False):
            raise ProgrammingError(_CONCURRENT.format(self._user, self._user, self._user))
        try:
            if progress is not False:
                if progress is not None and not callable(progress):
                    raise ProgrammingError(f"progress must be a callable taking a Progress, not {progress!r}")
                self._progress = progress if progress is not None else self.connection._options.progress
            return (yield from steps)
        except Error:
            raise
        except Exception as e:
            raise from_python_error(e, sent=self._stream is not None) from e
        finally:
            self._busy.release()

    def _execute(self, operation, parameters, settings, query_id, progress=None):
        return self._op(self._execute_steps(operation, parameters, settings, query_id), progress)

    def _executemany(self, operation, seq_of_parameters, settings, query_id, progress=None):
        return self._op(self._executemany_steps(operation, seq_of_parameters, settings, query_id), progress)

    def _fetch(self, n):
        return self._op(self._fetch_steps(n))

    def _fetch_some(self):
        return self._op(self._fetch_some_steps())

    def _describe_op(self):
        return self._op(self._describe_steps())

    def _execute_steps(self, operation, parameters, settings, query_id):
        if parameters is not None and _INSERT_DATA.match(operation):
            # clickhouse-driver's idiom: execute("INSERT INTO t (a, b) VALUES", rows)
            return (yield from self._executemany_steps(operation, parameters, settings, query_id))
        yield from self._knowing_server_version(lambda: self._request(operation, parameters, settings, query_id))
        yield from self._first_block()
        if not self._done:  # what is known so far (servers send it before the rows); final at the end
            self._summary = self._stream.summary
        return self

    def _executemany_steps(self, operation, seq_of_parameters, settings, query_id):
        self._check_open()
        prepared = self._insert_parts(operation, seq_of_parameters)
        if prepared is None:  # not an INSERT ... VALUES: once per parameter set
            count = 0
            for params in seq_of_parameters:
                yield from self._execute_steps(operation, params, settings, None)
                count += max(self._rowcount, 0)
            self._rowcount = count
            return self
        head, row, rows = prepared
        target = _INSERT_TARGET.match(head)
        checks = None
        body = why = None
        insert_format = self.connection._options.insert_format
        if target and _ONLY_PLACEHOLDERS.match(row):
            columns = yield from self._insert_columns(target, settings)
            if columns is not None:
                checks = column_checks(tuple(columns), self.connection._options.tzinfo)
                if insert_format != "values":
                    body = yield from self._native_body(target, row, rows, columns, checks, settings)
                    body, why = (None, body) if isinstance(body, str) else (body, None)
            else:
                why = f"the columns of {target.group('table')} cannot be described"
        elif insert_format == "native":
            why = "the rows are not plain placeholders into a table" if target else "the INSERT's target is not a table"
        if body is None:
            if insert_format == "native":
                raise NotSupportedError(f"this INSERT cannot be sent as Native (insert_format='native'): {why}")
            body = yield from self._knowing_server_version(lambda: self._insert_body(head, row, rows, checks))
        yield from self._send_insert(body, settings, query_id, target.group("table") if target else None)
        self._rowcount = len(rows)
        return self

    def _send_insert(self, body, settings, query_id, table):
        """Send an INSERT's body and read its answer."""
        retry = False
        if table and self.connection._options.retry_replicated_inserts:
            retry = yield from self._is_replicated(table, settings)
            if retry:  # the repeat is a no-op only while deduplication is on
                settings = {**(settings or {}), "insert_deduplicate": 1}
        self._abandon()
        self._reset()
        self._send(body, retry, settings, query_id)
        try:
            yield from self._first_block()
        except Error:
            if table:  # perhaps because the table changed: describe it again next time
                self.connection._columns.pop(table, None)
            raise

    def _insert_columns(self, target, settings):
        """(name, type) of the columns an INSERT ... VALUES fills, from one
        DESCRIBE TABLE per table and connection; None if it cannot be known."""
        table = target.group("table")
        cache = self.connection._columns
        described = cache.get(table)
        if described is None:
            try:
                rows = yield from self._side_query(f"DESCRIBE TABLE {table}", settings)
            except Error:
                return None  # e.g. no such table: the INSERT itself will say so
            described = cache[table] = [(r[0], r[1], r[2]) for r in rows]
        if target.group("columns") is None:  # every column the server fills from VALUES
            return [(n, t) for n, t, kind in described if kind not in ("MATERIALIZED", "ALIAS")]
        types = {n: t for n, t, _ in described}
        names = [c.strip() for c in target.group("columns").split(",")]
        names = [n[1:-1].replace("\\`", "`") if n.startswith("`") else n for n in names]
        return [(n, types.get(n, "")) for n in names]

    def _native_body(self, target, row, rows, columns, checks, settings):
        """The INSERT as one typed Native block (native_insert.py), or a str saying why
        it goes as VALUES text."""
        if row.count("%s") != len(columns):
            return f"{row.count('%s')} placeholders for {len(columns)} columns"
        if not rows:
            return "no rows"
        zone = None
        if native_insert.needs_server_zone(columns):
            zone = yield from self._server_zone(settings)
        plan = native_insert.plan(columns, zone)
        if isinstance(plan, str):
            return plan
        head = native_insert.head(target.group("table"), [name for name, _ in columns])
        body = _engine.native_rows(rows, plan, checks=checks, head=head)
        return body if body is not None else ("a value is not one the Native encoder writes as its VALUES text "
                                              "would be stored (docs/driver.md)")

    def _server_zone(self, settings):
        """The server's timezone (native_insert.server_zone), asked once per connection:
        a naive datetime in a DateTime column without its own is read in it."""
        conn = self.connection
        if conn._server_zone is None:
            try:
                rows = yield from self._side_query("SELECT timezone()", settings)
            except Error:
                rows = []
            conn._server_zone = (native_insert.server_zone(rows[0][0] if rows else None),)
        return conn._server_zone[0]

    def _is_replicated(self, table, settings):
        """Whether table is a Replicated*MergeTree table (cached with its columns):
        the server deduplicates a block it already has, so an INSERT of the same
        body may be sent again (retry_replicated_inserts, docs/cluster.md)."""
        key = ("replicated", table)  # in the column cache: cleared on schema changes too
        cache = self.connection._columns
        if key not in cache:
            try:
                rows = yield from self._side_query(f"SHOW CREATE TABLE {table}", settings)
            except Error:
                return False  # the INSERT itself will say what is wrong
            cache[key] = bool(rows) and re.search(r"ENGINE = Replicated\w*MergeTree\b", rows[0][0]) is not None
        return cache[key]

    def _knowing_server_version(self, prepare):
        """prepare(), again once the server version is known when a literal's
        rendering depends on it (the escaper raises ServerVersionNeeded; asked once
        per connection, see Connection._server_version_info)."""
        try:
            return prepare()
        except _engine.ServerVersionNeeded:
            rows = yield from self._side_query("SELECT version()", None)
            self.connection._server_version_info = version_tuple(rows[0][0])
            return prepare()

    def _side_query(self, sql, settings):
        """The rows of a small query the cursor needs (DESCRIBE), beside its result."""
        opts = self.connection._options
        stream = self.connection._client.request(
            sql.encode("utf-8", "surrogateescape"), params=settings_query(settings), retryable=True,
            notifier=self._notifier(), query_timeout=opts.query_timeout or 0.0,
            buffer_limit=opts.stream_buffer_bytes, max_ratio=opts.max_decompression_ratio,
            max_block_bytes=opts.max_block_bytes)
        rows, attempt = [], 0
        try:
            while True:
                block = yield stream
                if stream.attempt != attempt:  # moved to another host: its rows start again
                    rows, attempt = [], stream.attempt
                if block is None:
                    break
                rows.extend(block[2])
        except Error:
            raise
        except BaseException:
            stream.close()  # interrupted: free the slot
            raise
        return rows

    def _first_block(self):
        # Reading the first block makes errors surface in execute() and gives
        # `description` before any fetch.
        while not self._done:
            if (self._on_block((yield from self._next_block())) or self._names is not None) and not self._columnar:
                break

    def _fill(self, enough):
        """Read blocks until enough() or the end; then rows may reach the caller.
        Until the first do, a read that breaks off (its host stopped after execute()
        took the first block) moves to another host; from then on it stays. If it
        moved meanwhile, what is buffered is the abandoned attempt's: read again."""
        while True:
            while not self._done and not enough():
                self._on_block((yield from self._next_block()))
            if self._may_deliver():
                return
            self._forget_attempt()

    def _may_deliver(self):
        if not self._delivered and (self._stream is None or self._stream.deliver()):
            self._delivered = True
        return self._delivered

    def _forget_attempt(self):
        self._rows, self._pos, self._total, self._columns = [], 0, 0, None
        self._attempt = self._stream.attempt

    def _fetch_ready(self, n):
        """fetch's answer when it needs no wait (the rows are buffered), else None:
        the shells try this first, as a step machine costs a generator per call."""
        if not self._busy.acquire(False):
            raise ProgrammingError(_CONCURRENT.format(self._user, self._user, self._user))
        try:
            if (self._done or (n is not None and self._buffered() >= n)) and self._may_deliver():
                self._check_result()
                return self._take(n)
            return None
        finally:
            self._busy.release()

    def _fetch_steps(self, n):
        """Up to n rows (None: all the rest)."""
        self._check_result()
        self._rows_again()
        yield from self._fill(lambda: n is not None and self._buffered() >= n)
        return self._take(n)

    def _fetch_some_steps(self):
        """The rows buffered, or the next block's; [] at the end (for iteration)."""
        self._check_result()
        self._rows_again()
        yield from self._fill(self._buffered)
        return self._take(None)

    def _iterated(self, generation, finished):
        """An iteration over result `generation` ends (finished: it saw the end)."""
        if not finished and generation == self._generation and not self._done:
            # Left early (break, an exception, Ctrl-C in the loop's body): the rest
            # is not wanted, so free the pool slot and kill the query now rather than
            # when the cursor is garbage-collected.
            self._fail(InterfaceError("the iteration over this result stopped before its end"))

    def _check_iteration(self, generation):
        if generation != self._generation:
            raise ProgrammingError("the cursor ran another query while its result was being iterated")

    def _column_values(self):
        if not self._use_numpy:
            return [tuple(c) for c in self._columns]
        np = col.need("numpy")
        return [col.concat_numpy(np, parts, t) for parts, t in zip(self._columns, self._types)]

    # -- columnar results (columnar.py, docs/columnar.md) ---------------------------
    def _columnar_blocks(self, mode, max_blocks=None):
        return self._op(self._columnar_steps(mode, max_blocks))

    def _columnar_steps(self, mode, max_blocks):
        """The rest of the result as buffer-mode blocks [(cols, skip)] (max_blocks:
        at most that many; [] at the end). The rows execute() decoded already are
        decoded again from the stream's last block as buffers."""
        self._check_result()
        if self._columnar:
            raise ProgrammingError("with set_query_execution_args(columnar=True) the columns come from fetchall()")
        self._read = True
        fetched = self._fetched
        while True:
            blocks = []
            if self._buffered():
                blocks.append(self._buffered_columns(mode))
            self._stream.columnar = mode  # the next blocks come as buffers
            while not self._done and (max_blocks is None or len(blocks) < max_blocks):
                block = yield from self._next_block()
                if self._stream.attempt != self._attempt:  # the read moved to another host: start again
                    self._forget_attempt()
                    blocks, self._fetched = [], fetched
                if block is None:
                    self._on_block(None)
                    break
                names, types, cols = block
                if self._names is None:
                    self._names, self._types = names, types
                    self._describe = None
                n = col.block_rows(cols[0], types[0]) if cols else 0
                self._total += n
                self._fetched += n
                if n:
                    blocks.append((cols, 0))
            if self._may_deliver():
                break
            self._forget_attempt()  # it moved after the last block taken: read again
            self._fetched = fetched
        if self._done and self._names is None and self._describe is not None:
            yield from self._describe_steps()  # an empty result: the column types, for typed empty columns
        return blocks

    def _buffered_columns(self, mode):
        """The rows buffered (decoded as rows) as a buffer-mode block."""
        rows, pos = self._rows, self._pos
        self._rows, self._pos = [], 0
        self._fetched += len(rows) - pos
        again = None
        if self._stream is not None:
            self._stream.columnar = mode
            again = self._stream.redecode()
        if again is not None and again[2] and col.block_rows(again[2][0], again[1][0]) == len(rows):
            return again[2], pos  # the buffer is the last block: its buffers, from the first unread row
        # rows of two blocks (fetchmany across a block end): their Python values
        return [("o", list(c)) for c in zip(*rows[pos:])], 0

    def _numpy_mode(self, strings):
        """The decoding mode of fetchnumpy(strings=...) (columnar.numpy_mode)."""
        return col.numpy_mode(col.need("numpy"), strings, self.connection._options.strings_as_bytes)

    def _numpy_result(self, blocks, mode=col.MODE_NUMPY):
        np = col.need("numpy")
        strings = mode == col.MODE_NUMPY_STR
        names, types = self._columns_known()
        parts = [[] for _ in names]
        for cols, skip in blocks:
            for p, c, t in zip(parts, cols, types):
                a = col.numpy_column(np, c, t, strings, pending=True)
                p.append(a[skip:] if skip else a)
        return {n: col.concat_numpy(np, p, t, strings) for n, p, t in zip(names, parts, types)}

    def record_batches(self):
        """Iterate over the rest of the result as pyarrow RecordBatches, one per block
        (``async for`` on the async cursor): memory bounded by the block, not the result."""
        col.need("pyarrow")
        return self._batches(col.MODE_ARROW)  # the shell's (async) generator

    def numpy_blocks(self, strings=None):
        """Iterate over the rest of the result as {name: array} dicts, one per block
        (`strings` as for fetchnumpy())."""
        return self._batches(self._numpy_mode(strings))

    def _numpy_batches(self, blocks, mode=col.MODE_NUMPY):
        return [self._numpy_result([b], mode) for b in blocks]

    def _df_mode(self):
        """(decoding mode, str dtype) of fetch_df(): Arrow mode when pandas' own string
        dtype is Arrow-backed (String columns then need no str per value); bytes
        (strings_as_bytes) stay Python objects."""
        pd = col.need("pandas")
        str_dtype = None if self.connection._options.strings_as_bytes else col.arrow_strings_dtype(pd)
        return (col.MODE_ARROW if str_dtype is not None else col.MODE_NUMPY), str_dtype

    def _df_result(self, blocks, str_dtype=None):
        pd = col.need("pandas")
        np = col.need("numpy")
        names, types = self._columns_known()
        parts = [[] for _ in names]
        for cols, skip in blocks:
            for p, c, t in zip(parts, cols, types):
                a = col.pandas_part(pd, np, c, t, str_dtype)
                p.append(a[skip:] if skip else a)
        tz = self.connection._options.tzinfo
        series = [col.pandas_series(pd, np, p, t, n, tz) for n, p, t in zip(names, parts, types)]
        return pd.concat(series, axis=1) if series else pd.DataFrame()

    def _arrow_batches(self, blocks):
        pa = col.need("pyarrow")
        np = col.need("numpy")
        names, types = self._columns_known()
        o = self.connection._options
        return [col.arrow_batch(pa, np, names, types, cols, o.tzinfo, o.strings_as_bytes, skip)
                for cols, skip in blocks]

    def _arrow_schema(self):
        pa = col.need("pyarrow")
        names, types = self._columns_known()
        o = self.connection._options
        return col.arrow_schema(pa, names, types, o.tzinfo, o.strings_as_bytes)

    def _arrow_result(self, blocks):
        pa = col.need("pyarrow")
        return pa.Table.from_batches(self._arrow_batches(blocks), schema=self._arrow_schema())

    def _columns_known(self):
        if self._names is None:
            return [], []
        return list(self._names), list(self._types)

    # -- columnar inserts (columnar_insert.py) ------------------------------------
    def _insert_columnar(self, table, data, settings, query_id):
        return self._op(self._insert_columnar_steps(table, data, settings, query_id))

    def _insert_columnar_steps(self, table, data, settings, query_id):
        """INSERT INTO table (columns of data) FORMAT Native: one block, every value
        checked against its column type first (DataError, nothing sent)."""
        from .columnar_insert import Encoder

        np = col.need("numpy")
        self._check_open()
        if not isinstance(table, str) or not re.fullmatch(rf"{_IDENT}(?:\.{_IDENT})?", table.strip()):
            raise ProgrammingError(f"not a table name: {table!r}")
        names = list(data)
        if not names:
            raise ProgrammingError("an insert needs at least one column")
        head = f"INSERT INTO {table.strip()} ({native_insert.quote_names(names)}) VALUES"
        target = _INSERT_TARGET.match(head)
        columns = yield from self._insert_columns(target, settings)
        if columns is None:
            raise ProgrammingError(f"the columns of {table} cannot be described (no such table?)")
        missing = [n for n, t in columns if not t]
        if missing:
            raise ProgrammingError(f"{table} has no column {missing[0]!r}")
        sql = head[:-len("VALUES")].encode("utf-8", "surrogateescape") + b"FORMAT Native\n"
        body = Encoder(np, self.connection._options.tzinfo).block(columns, data, sql)
        yield from self._send_insert(body, settings, query_id, table.strip())
        self._rowcount = len(next(iter(data.values())))
        return self

    def _describe_steps(self):
        """description; for an empty SELECT, asks DESCRIBE TABLE (query) once."""
        if self._describe is not None:
            sql, settings = self._describe
            if not self._done or self._closed or self.connection._closed:
                self._describe = None
            else:
                sql = sql.strip().rstrip(";").rstrip()
                try:
                    rows = yield from self._side_query(f"DESCRIBE TABLE ({sql}\n)", settings)
                except Error:
                    self._describe = None  # a statement DESCRIBE cannot wrap: description stays None
                else:
                    self._described(rows)
        return self._description()

    def _next_block(self):
        """The one wait of every step machine: the next block of the current result."""
        try:
            block = yield self._stream
        except BaseException as e:
            # The result ends here, on every shell: an error of the query, a
            # timeout, Ctrl-C, a cancelled task. Closing frees the pool slot and
            # kills the query on the server if it still runs.
            self._fail(e)
            raise
        if self._closed or self.connection._closed:
            # closed from elsewhere while we waited: the stream's end is not the result's
            raise InterfaceError("the cursor or its connection was closed while the result was read")
        return block

    def _fail(self, error):
        self._failed = error
        self._done = True
        self._rows, self._pos = [], 0
        self._describe = None
        if self._stream is not None:
            self._stream.close()

    # -- preparation ----------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise InterfaceError("cursor is closed")
        self.connection._check_open()

    def _request(self, operation, parameters, settings, query_id, raw=False):
        self._check_open()
        self._abandon()
        self._reset()
        if not isinstance(operation, str):
            raise ProgrammingError("operation must be a str")
        sql = (operation if parameters is None else
               _engine.format_query(operation, parameters, server_version=self.connection._server_version_info))
        if _SCHEMA_CHANGE.match(sql):
            self.connection._columns.clear()
        if not raw and _DESCRIBABLE.match(sql) and not _FORMAT_CLAUSE.search(sql):
            self._describe = (sql, settings)
        return self._send(sql.encode("utf-8", "surrogateescape"), bool(_RETRYABLE.match(sql)),
                          settings, query_id, raw)

    def _send(self, body, retryable, settings, query_id, raw=False):
        if query_id is not None and (not isinstance(query_id, str) or "\x00" in query_id):
            raise ProgrammingError(f"query_id must be a str without NUL characters, not {query_id!r}")
        opts = self.connection._options
        headers = None
        if self._progress is not None:
            settings = {**PROGRESS_SETTINGS, **(settings or {})}
        if opts.encoding in ("gzip", "zstd") and len(body) >= COMPRESS_BODY_MIN:
            # large INSERT bodies travel compressed (ClickHouse decodes Content-Encoding)
            body = _engine.compress(opts.encoding, body)
            headers = [("Content-Encoding", opts.encoding)]
        self._stream = self.connection._client.request(
            body,
            params=settings_query(settings),
            query_id=query_id,
            retryable=retryable,
            raw=raw,
            notifier=self._notifier(),
            query_timeout=opts.query_timeout or 0.0,
            tz=opts.tzinfo,
            strings_as_bytes=opts.strings_as_bytes,
            headers=headers,
            # the engine's limits (it has no defaults: Options has them), spelled out:
            # a ** mapping costs a dict merge on every query (docs/performance.md)
            buffer_limit=opts.stream_buffer_bytes,
            max_ratio=opts.max_decompression_ratio,
            max_block_bytes=opts.max_block_bytes,
            columnar=self._row_decoding(),
            progress=self._progress is not None,
        )
        self.query_id = self._stream.query_id
        self._done = False
        return self._stream

    def _row_decoding(self):
        """The stream's decoding mode for the row API: rows, columns with
        set_query_execution_args(columnar=True), and with use_numpy the C decoder's
        column buffers (columnar.py), not a value per row."""
        return col.MODE_NUMPY if self._columnar and self._use_numpy else int(self._columnar)

    def _rows_again(self):
        """After a columnar fetch that stopped early (a record batch reader), the rest
        of the result is read as rows again."""
        if self._stream is not None and self._stream.columnar != (mode := self._row_decoding()):
            self._stream.columnar = mode

    def _insert_parts(self, operation, seq_of_parameters):
        """executemany of INSERT ... VALUES (row) or INSERT ... VALUES with the data
        (rows, or columns when columnar): (head, row, rows), else None."""
        rows = seq_of_parameters if isinstance(seq_of_parameters, (list, tuple)) else list(seq_of_parameters)
        m = _INSERT_DATA.match(operation)
        if m:
            if self._columnar:
                rows = list(zip(*rows))
            if not rows:
                raise ProgrammingError("an INSERT without a row template needs at least one row")
            if not all(isinstance(r, (list, tuple)) for r in rows):
                raise ProgrammingError("INSERT ... VALUES takes its data as a list of row tuples "
                                       "(of column tuples with columnar=True)")
            return m.group("head"), "(" + ", ".join(["%s"] * len(rows[0])) + ")", rows
        m = _INSERT_VALUES.match(operation)
        if not m:
            return None
        return m.group("head"), m.group("row"), rows

    def _insert_body(self, head, row, rows, checks=None):
        """All rows of an INSERT ... VALUES in one request body; each value checked
        against its column (checks: typecheck.column_checks) as it is written."""
        if _ONLY_PLACEHOLDERS.match(row):
            width = row.count("%s")
            for r in rows[:1]:
                if len(r) != width:
                    raise ProgrammingError(f"INSERT has {width} placeholders but a row has {len(r)} values")
            values = _engine.format_rows(rows, server_version=self.connection._server_version_info, checks=checks)
        else:
            values = ",".join(_engine.format_query(row, p, server_version=self.connection._server_version_info)
                              for p in rows).encode("utf-8", "surrogateescape")
        return head.encode("utf-8", "surrogateescape") + b" " + values

    # -- consuming ------------------------------------------------------------
    def _on_block(self, block):
        """Take one decoded block (or None at the end). Returns True if it had rows."""
        if self._stream is not None and self._stream.attempt != self._attempt:
            self._forget_attempt()  # the read moved to another host: its rows start again
        if block is None:
            self._done = True
            if self._columns is not None:
                self._rows, self._pos = self._column_values(), 0
            self._read_summary()
            if self._names is not None:
                self._rowcount = self._total
                self._describe = None
            elif self._describe is not None:
                self._rowcount = 0  # a SELECT without rows (its columns are asked only if wanted)
            return False
        names, types, rows = block
        if self._names is None:
            self._names, self._types = names, types
            self._describe = None
        if self._columnar:  # whole columns only: gather until the end
            if self._columns is None:
                self._columns = [[] for _ in names]
            if self._use_numpy:  # one array per block, joined at the end
                np = col.need("numpy")
                for parts, c, t in zip(self._columns, rows, types):
                    parts.append(col.numpy_column(np, c, t))
                self._total += len(self._columns[0][-1]) if names else 0
                return False
            for gathered, values in zip(self._columns, rows):
                gathered.extend(values)
            self._total += len(rows[0]) if rows else 0
            return False
        self._total += len(rows)
        if self._pos >= len(self._rows):
            self._rows, self._pos = rows, 0
        elif self._pos == 0:
            self._rows.extend(rows)  # fetchall() gathering blocks: no copy of what is buffered
        else:
            self._rows = self._rows[self._pos:] + rows
            self._pos = 0
        return bool(rows)

    def _described(self, rows):
        """Columns from DESCRIBE's rows (name, type, ...) for an empty result."""
        self._describe = None
        self._names = [r[0] for r in rows]
        self._types = [r[1] for r in rows]
        self._rowcount = 0

    @property
    def summary(self):
        """What the last query did (a Summary; fields None where unknown): final once
        the result is read to its end, what the server told so far before."""
        s = self._summary
        if not isinstance(s, Summary):  # parsed when asked: most callers never do
            s = self._summary = Summary.parse(s)
        return s

    def _read_summary(self):
        self._summary = self._stream.summary if self._stream is not None else None
        if self._names is None and self._summary is not None and self.summary.written_rows is not None:
            self._rowcount = self.summary.written_rows

    # -- progress: the shells call these while they wait for the result of an execute
    # that asked for progress (self._progress set, stream is self._stream) ---------
    def _on_progress(self, data):
        """A progress update of the current query (server JSON text or chDB's dict):
        the callback's return value (an awaitable for the async shell to await)."""
        self.last_progress = Progress.parse(data)
        return self._progress(self.last_progress)

    def _new_progress(self, stream):
        """The stream's progress if newer than the last delivered, else None."""
        seq = stream.progress_seq
        if seq == self._progress_seen:
            return None
        self._progress_seen = seq
        return stream.progress

    def _take(self, n):
        self._read = True
        if self._pos == 0 and (n is None or n >= len(self._rows)):
            rows, self._rows = self._rows, []  # the whole buffer: hand it over, no copy
        else:
            rows = self._rows[self._pos:self._pos + n] if n is not None else self._rows[self._pos:]
            self._pos += len(rows)
        self._fetched += len(rows)
        return rows

    def _buffered(self):
        return len(self._rows) - self._pos

    def _check_result(self):
        self._check_open()
        if self._stream is None:
            raise ProgrammingError("no query has been executed")
        self._check_owner()
        if self._failed is not None:
            raise ProgrammingError(f"the last query's result ended early ({type(self._failed).__name__}: "
                                   f"{self._failed}); it has nothing more to read") from self._failed

    def _check_owner(self):
        """Only the thread/task that executed a result reads it: with a cursor shared
        by mistake, another one's execute() in between would hand it foreign rows.
        A result may still change hands when that cannot happen: to a task its
        holder awaits (asyncio.wait_for(cur.fetchall(), t)), or once every holder
        is finished and nobody read it (a result executed in a helper task)."""
        who = self._who()
        holders = self._holders
        if who in holders:
            return
        if any(self._awaits(h, who) for h in holders) or (
                not self._read and all(self._finished(h) for h in holders)):
            holders.append(who)
            return
        u = self._user
        raise ProgrammingError(f"this cursor's result belongs to another {u}: another {u} ran a query on "
                               f"the cursor since (a cursor serves one {u}; give each {u} its own cursor)")

    def _abandon(self):
        """Stop a result that was not read to the end: frees the connection and
        cancels the query on the server."""
        if self._stream is not None and not self._done:
            self._stream.close()
        self._done = True

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state} query_id={self.query_id!r}>"
