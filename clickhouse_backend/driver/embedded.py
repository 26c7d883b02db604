"""ClickHouse in-process through chDB (``pip install clickhouse-backend[embedded]``).

``connect(embedded="/data/dir")`` (or ``embedded=True`` for a throwaway temporary
directory) gives the usual Connection/Cursor (and AsyncConnection/AsyncCursor):
only ``Connection._client`` differs. :class:`EmbeddedClient` implements the
``request(...) -> stream`` interface of ``_engine.Client`` and :class:`EmbeddedStream`
the ``_engine.Stream`` one (next_block/poll/arm/close/cancel/summary/query_id/state),
so the cursors run unchanged. Results come from chDB as Native bytes and are
decoded by the same C decoder as over HTTP.

What chDB imposes (see docs/embedded.md):

* importing chDB starts its engine, so it is imported on first use only;
* one data path per process (a second path is refused with a clear error);
* not fork-safe: a child forked after the engine started gets an error, not a hang;
* one query at a time per chDB connection: every stream takes its own chDB
  connection from a process-wide idle list (they are cheap once the engine runs);
* it installs process-wide handlers for SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
  SIGSYS, SIGTRAP, SIGTSTP and real-time signals.
"""
import atexit
import collections
import concurrent.futures
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref

from .. import _engine
from .config import encode_settings
from .exceptions import InterfaceError, OperationalError, make_error
from .progress import Summary

TEMP_FORMS = (True, "", ":memory:", "temp", ":temp:")

# Defaults that make chDB's Native output what the decoder (and the HTTP path)
# expects; the connection's and the query's settings override them.
BASE_SETTINGS = {"output_format_native_write_json_as_string": "1"}

_MAX_IDLE = 16           # chDB connections kept for reuse
_EXECUTOR_WORKERS = 8    # async: concurrent chDB calls (jobs never wait on each other)

_lock = threading.RLock()
_engine_obj = None       # the process's _Engine
_chdb_mod = None
_chdb_pid = None         # process that imported chDB (its engine threads live there)
_inherited = False       # set in a forked child when chDB was loaded in the parent
_executor = None
_executor_pid = None

_CODE = re.compile(r"Code:\s*(\d+)")
_LEAD = rb"^(?:\s|--[^\n]*\n|/\*.*?\*/)*"  # whitespace and comments before a statement's keyword
_SESSION_STATE = re.compile(_LEAD + rb"(?:SET|USE)\b", re.I | re.S)
_INSERT = re.compile(_LEAD + rb"INSERT\b", re.I | re.S)
# An INSERT whose data is a binary Native block after its text (the driver's Native
# inserts): chDB ends data inline in the query text at a blank line, which binary data
# may hold ("\n\n" is the UInt64 2570), so the block goes through an in-memory file.
_INLINE_NATIVE = re.compile(rb"(?P<head>" + _LEAD + rb"INSERT\b.*?)\bFORMAT\s+Native\n", re.I | re.S)
_STREAMING_UNSUPPORTED = "Streaming query is not supported"
# chDB lists its queries under ids of its own: a streamed query ends with a comment
# naming the driver's query_id (at the end, so that error positions do not move), by
# which system.processes shows it and KILL QUERY stops it while chDB is busy with it.
_TAGGABLE = re.compile(r"[\w.:@-]{1,127}")


def _after_fork_in_child():
    global _inherited
    if _chdb_mod is not None or "chdb._chdb" in sys.modules:
        _inherited = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_process():
    if _inherited or (_chdb_pid is not None and _chdb_pid != os.getpid()):
        raise InterfaceError(
            f"the embedded ClickHouse engine (chDB) was started in process {_chdb_pid or 'the parent'} "
            f"and this is a forked child (pid {os.getpid()}): chDB is not fork-safe. Open embedded "
            "connections only after forking (multiprocessing 'spawn'/'forkserver', no preloading "
            "of the app in pre-fork servers), or talk to a ClickHouse server instead"
        )


def _load_chdb():
    """Import chDB (which starts its engine) on first use only."""
    global _chdb_mod, _chdb_pid
    _check_process()
    if _chdb_mod is None:
        try:
            from chdb import _chdb  # noqa: the import itself boots ClickHouse
        except ImportError as e:
            raise InterfaceError(
                "the embedded engine needs chDB: pip install 'clickhouse-backend[embedded]' "
                f"(package chdb-core) [{e}]"
            ) from None
        _chdb_mod = _chdb
        _chdb_pid = os.getpid()
    return _chdb_mod


def error_from_chdb(exc, query_id=None):
    """chDB raises RuntimeError('Code: 47. DB::Exception: ...'): keep the code."""
    message = str(exc)
    m = _CODE.search(message)
    if m:
        return make_error("server", int(m.group(1)), message, 0, query_id)
    return make_error("internal", 0, f"chDB: {message}", 0, query_id)


def resolve_path(embedded):
    """The data directory an ``embedded`` option names (None: the temporary one)."""
    if embedded in TEMP_FORMS:
        return None
    if isinstance(embedded, os.PathLike):
        embedded = os.fspath(embedded)
    if not isinstance(embedded, str):
        raise InterfaceError(
            "embedded must be a data directory path, or True/':memory:'/'temp' for a temporary one")
    if "?" in embedded:
        raise InterfaceError("embedded path must not contain '?'; use the settings option for settings")
    return os.path.abspath(os.path.expanduser(embedded))


class _Session:
    """One chDB connection and the session state we put on it (SET / USE)."""

    __slots__ = ("conn", "settings", "database")

    def __init__(self, conn):
        self.conn = conn
        self.settings = {}
        self.database = "default"

    def prepare(self, settings, database):
        # Each chDB connection is a session: settings SET on it stay until changed,
        # so only the differences from what the previous user left are sent.
        for name in [n for n in self.settings if n not in settings]:
            self.conn.query(f"SET {name} = DEFAULT", "Native")
            del self.settings[name]
        for name, value in settings.items():
            if self.settings.get(name) != value:
                self.conn.query(f"SET {name} = {_engine.quote(value)}", "Native")
                self.settings[name] = value
        if database != self.database:
            self.conn.query(f"USE {_quote_ident(database)}", "Native")
            self.database = database

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


def _quote_ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class _Engine:
    """The process's chDB engine on one data directory, with idle chDB connections."""

    def __init__(self, path, temp):
        chdb = _load_chdb()
        self.path = path
        self.temp = temp
        self.pid = os.getpid()
        self._mu = threading.Lock()
        self._idle = []
        self.in_use = 0
        self.created = 0
        self.requests = 0
        try:
            # Kept open for the life of the engine: chDB shuts its engine down when
            # the last connection closes, and restarting it costs far more.
            self._keeper = chdb.connect(path)
        except RuntimeError as e:
            msg = str(e)
            if "different" in msg.lower() or "another" in msg.lower():
                raise InterfaceError(
                    f"chDB refused the data path {path!r}: {msg}. chDB runs one data path per "
                    "process, and another one is open (outside clickhouse_backend)") from None
            raise OperationalError(f"cannot open the embedded ClickHouse data path {path!r}: {msg}",
                                   kind="connect") from None

    def acquire(self):
        _check_process()
        with self._mu:
            if self._keeper is None:
                raise InterfaceError("the embedded engine was shut down")
            self.requests += 1
            self.in_use += 1
            if self._idle:
                return self._idle.pop()
        try:
            conn = _load_chdb().connect(self.path)
        except RuntimeError as e:
            with self._mu:
                self.in_use -= 1
            raise OperationalError(f"cannot open a chDB connection: {e}", kind="connect") from None
        with self._mu:
            self.created += 1
        return _Session(conn)

    def release(self, session, reuse=True):
        with self._mu:
            self.in_use -= 1
            if reuse and self._keeper is not None and len(self._idle) < _MAX_IDLE:
                self._idle.append(session)
                return
        session.close()

    def stats(self):
        with self._mu:
            return {"in_use": self.in_use, "idle": len(self._idle), "waiting": 0, "created": self.created,
                    "closed": 0, "reused": max(self.requests - self.created, 0), "retries": 0,
                    "requests": self.requests, "max_size": 0}

    def shutdown(self):
        with self._mu:
            if self.in_use:
                raise InterfaceError(f"{self.in_use} embedded queries are still open; close their cursors first")
            idle, self._idle = self._idle, []
            keeper, self._keeper = self._keeper, None
        for s in idle:
            s.close()
        if keeper is not None:
            try:
                keeper.close()
            except Exception:
                pass
        if self.temp:
            shutil.rmtree(self.path, ignore_errors=True)


def get_engine(embedded):
    """The process's engine for the ``embedded`` option; refuses a second path."""
    global _engine_obj
    _check_process()
    path = resolve_path(embedded)
    with _lock:
        eng = _engine_obj
        if eng is not None:
            if path is None and eng.temp or path == eng.path:
                return eng
            want = "a temporary directory" if path is None else repr(path)
            raise InterfaceError(
                f"the embedded ClickHouse engine (chDB) of this process is already open on "
                f"{'a temporary directory ' if eng.temp else ''}{eng.path!r}; chDB allows one data path "
                f"per process, so {want} cannot be opened too. Use the same path everywhere, or call "
                "clickhouse_backend.driver.embedded.shutdown() first")
        temp = path is None
        if temp:
            path = tempfile.mkdtemp(prefix="clickhouse_backend-chdb-")
        try:
            eng = _Engine(path, temp)
        except BaseException:
            if temp:
                shutil.rmtree(path, ignore_errors=True)
            raise
        _engine_obj = eng
        return eng


def shutdown():
    """Close the process's embedded engine (all its cursors must be closed); a
    temporary data directory is deleted. Another path may be opened afterwards."""
    global _engine_obj
    with _lock:
        eng = _engine_obj
        if eng is None or eng.pid != os.getpid():
            return
        eng.shutdown()
        _engine_obj = None


@atexit.register
def _shutdown_at_exit():
    # Closing the chDB connections lets ClickHouse flush and stop cleanly.
    try:
        if _engine_obj is not None and _engine_obj.pid == os.getpid():
            with _engine_obj._mu:
                _engine_obj.in_use = 0
            shutdown()
    except Exception:
        pass


def _get_executor():
    """The dedicated worker threads of async embedded queries (not the loop's default executor)."""
    global _executor, _executor_pid
    with _lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=_EXECUTOR_WORKERS, thread_name_prefix="clickhouse-chdb")
            _executor_pid = os.getpid()
        return _executor


def _resolve(fut):
    if not fut.done():
        fut.set_result(None)


def _progress_callback(ref):
    # Through a weak reference: the session's chDB connection holding the stream
    # would make a cycle, and an abandoned stream must close when dropped.
    def on_progress(progress):
        stream = ref()
        if stream is not None:
            stream._on_chdb_progress(progress)
    return on_progress


class EmbeddedClient:
    """The embedded engine's QueryClient (driver/interface.py), as ``_engine.Client`` is the server's."""

    def __init__(self, options):
        if options.session_id:
            raise InterfaceError("session_id is not supported by the embedded engine")
        self._options = options
        self._engine = get_engine(options.embedded)
        self.path = self._engine.path
        base = dict(BASE_SETTINGS)
        base.update(encode_settings(options.settings))
        self._settings = base

    def request(self, body, params=None, query_id=None, retryable=False, raw=False, notifier=None,
                query_timeout=0.0, buffer_limit=0, tz=None, strings_as_bytes=False, columnar=False,
                progress=False, **_transport_only):  # e.g. HTTP compression: nothing to do in-process
        _check_process()
        if query_id is not None and not isinstance(query_id, str):
            raise TypeError("query_id must be a str")
        settings = dict(self._settings)
        if params:
            settings.update(params)
        if query_timeout and query_timeout > 0 and "max_execution_time" not in settings:
            settings["max_execution_time"] = repr(float(query_timeout))
        return EmbeddedStream(self._engine, bytes(body), settings, self._options.database, query_id or None,
                              bool(retryable), bool(raw), notifier is not None, tz, bool(strings_as_bytes),
                              int(columnar), bool(progress))

    def pool_stats(self):
        return self._engine.stats()

    def close(self):
        """Nothing to let go of: the process's one chDB engine outlives its connections
        (shutdown() closes it)."""

    def host_stats(self):
        return []  # in-process: no endpoints


class EmbeddedStream:
    """One query on chDB: a ResultStream (driver/interface.py), as ``_engine.Stream`` is.

    Sync cursors call next_block(), which runs chDB in the calling thread (chDB
    releases the GIL). Async cursors call poll(), which hands the chDB call to the
    dedicated executor and returns False; arm(fut) resolves fut when it is done.
    """

    def __init__(self, engine, body, settings, database, query_id, streamable, raw, use_executor, tz,
                 strings_as_bytes, columnar, progress=False):
        self.query_id = query_id or str(uuid.uuid4())
        self._tag_id = self.query_id if _TAGGABLE.fullmatch(self.query_id) else uuid.uuid4().hex
        self._engine = engine
        self._body = body
        self._settings = settings
        self._database = database
        self._streamable = streamable and not raw
        self._raw_mode = raw
        self._use_executor = use_executor
        # Blocks are queued raw and decoded by the consumer (as _engine.Stream does), in the
        # mode `columnar` has then: a columnar fetch after execute() switches it.
        self._decoder = _engine.NativeDecoder()
        self._tz = tz
        self._strings_as_bytes = strings_as_bytes
        self.columnar = int(columnar)
        self._last = None                # the last block handed out, raw, for redecode()
        self._work = threading.Lock()    # held during chDB calls on this stream's session
        self._mu = threading.Lock()      # guards the fields below; never held during chDB calls
        self._blocks = collections.deque()
        self._state = "new"
        self._error = None
        self._session = None
        self._sres = None                # chDB streaming result
        self._raw = None
        self._stats = {"read_rows": 0, "read_bytes": 0, "written_rows": 0, "written_bytes": 0,
                       "result_rows": 0, "result_bytes": 0}
        # chDB's progress callback (set on the session while this query runs)
        self._want_progress = progress
        self.progress = None             # the latest progress dict
        self.progress_seq = 0
        self._progress_cb = None         # next_block_progress()'s callback (sync: this thread)
        self._progress_error = None      # what that callback raised, re-raised after chDB returns
        self._started_at = None
        self._elapsed = 0.0
        self._finished = False           # the consumer has seen the end or the error
        self._stop = False               # close()/cancel() asked while a job runs
        self._inflight = False
        self._fut = None
        self._pid = os.getpid()

    # -- the work (runs in the consumer's thread, or in an executor thread) ------
    def _step(self):
        """One unit of work: start the query, or fetch its next chunk."""
        with self._work:
            if self._state in ("done", "failed", "cancelled"):
                return
            try:
                if self._stop:
                    self._cleanup("cancelled")
                    return
                if self._state == "new":
                    self._start()
                else:
                    self._fetch()
            except BaseException as e:
                if isinstance(e, RuntimeError):
                    err = error_from_chdb(e, self.query_id)
                elif isinstance(e, Exception):
                    err = e
                else:  # KeyboardInterrupt & co. propagate once; the result is then cancelled
                    err = make_error("cancelled", 0, f"query interrupted ({type(e).__name__})", 0, self.query_id)
                with self._mu:
                    self._error = err
                self._cleanup("failed")
                if not isinstance(e, Exception):
                    raise

    def _start(self):
        self._started_at = time.monotonic()
        self._session = self._engine.acquire()
        self._state = "streaming"
        self._session.prepare(self._settings, self._database)
        conn = self._session.conn
        # Always: chDB's per-chunk storage counts of a streamed result can fall short,
        # its progress counts are the query's own (the summary takes the larger).
        conn.set_progress_callback(_progress_callback(weakref.ref(self)))
        if self._streamable:
            try:
                self._sres = conn.send_query(self._body + self._tag(), "Native")
                return
            except RuntimeError as e:
                # SHOW, DESCRIBE, EXPLAIN, EXISTS... cannot stream; nothing ran yet.
                if _STREAMING_UNSUPPORTED not in str(e):
                    raise
        res = self._query_once(conn)
        if res.has_error():
            raise RuntimeError(res.error_message())
        self._account(res, written=True)
        data = res.bytes()
        if self._raw_mode:
            self._raw = data
        else:
            self._decode(data)
        self._cleanup("done")

    def _query_once(self, conn):
        m = _INLINE_NATIVE.match(self._body)
        if not m:
            return conn.query(self._body, "Native")
        fd = os.memfd_create("chb-native-insert", os.MFD_CLOEXEC)
        try:
            data = memoryview(self._body)[m.end():]
            while data:
                data = data[os.write(fd, data):]
            return conn.query(m.group("head") + b" FROM INFILE '/proc/self/fd/%d' FORMAT Native" % fd, "Native")
        finally:
            os.close(fd)

    def _fetch(self):
        conn = self._session.conn
        res = conn.streaming_fetch_result(self._sres)
        if res is not None and res.has_error():
            raise RuntimeError(res.error_message())
        if res is None or res.size() == 0:
            self._sres = None  # exhausted: nothing to cancel
            if self._decoder.buffered:
                raise InterfaceError(f"chDB returned {self._decoder.buffered} bytes of an incomplete Native block")
            self._cleanup("done")
            return
        self._account(res, written=False)
        self._decode(res.bytes())

    def _tag(self):
        return f"\n/* chb:{self._tag_id} */".encode()

    def _kill(self):
        """KILL QUERY this stream's chDB query from another chDB connection: chDB
        itself is busy running it (a fetch returns only with its next chunk)."""
        try:
            session = self._engine.acquire()
        except Exception:
            return
        try:
            session.conn.query(f"KILL QUERY WHERE query LIKE '%/* chb:{self._tag_id} */' ASYNC", "Native")
        except Exception:
            pass  # it ended meanwhile, or the engine is going away
        finally:
            self._engine.release(session)

    def _decode(self, data):
        d = self._decoder
        d.feed(data)
        while True:
            block = d.get_raw()
            if block is False:
                break
            with self._mu:
                self._blocks.append(block)
        if self._sres is None and d.buffered:  # a whole result: nothing more will come
            raise InterfaceError(f"chDB returned {d.buffered} bytes of an incomplete Native block")

    def _account(self, res, written):
        # chDB's rows_read() counts the result's rows; storage_rows_read() what was read
        s = self._stats
        s["read_rows"] += res.storage_rows_read()
        s["read_bytes"] += res.storage_bytes_read()
        s["result_rows"] += res.rows_read()
        s["result_bytes"] += res.bytes_read()
        if written:
            s["written_rows"] += res.rows_written()
            s["written_bytes"] += res.bytes_written()

    def _cleanup(self, state):
        """Let go of chDB (called with _work held)."""
        session, self._session = self._session, None
        sres, self._sres = self._sres, None
        reuse = True
        if session is not None:
            try:
                session.conn.set_progress_callback(None)  # the session goes to other queries
            except Exception:
                reuse = False
            if sres is not None:
                try:
                    session.conn.streaming_cancel_query(sres)
                except Exception:
                    reuse = False  # unknown state: do not hand it to another query
            if _SESSION_STATE.match(self._body):
                reuse = False  # a user's SET/USE must not leak into other queries
            self._engine.release(session, reuse)
        if self._started_at is not None:
            self._elapsed = time.monotonic() - self._started_at
        with self._mu:
            self._state = state

    # -- sync consumer -------------------------------------------------------
    def _check(self):
        if self._pid != os.getpid():
            raise InterfaceError("this result belongs to the parent process; it cannot be used after fork()")
        _check_process()

    def _take(self):
        """Next item without working: a block, None at the end, False if none is ready."""
        if self._finished:
            return None
        with self._mu:
            state = self._state  # read before the deque: blocks are queued before the state changes
            raw = self._blocks.popleft() if self._blocks else None
        if raw is not None:
            self._last = raw
            try:
                return self._decode_raw(raw)
            except BaseException:
                self.close()  # the rest of the result is useless now
                raise
        with self._mu:
            if state == "done":
                self._finished = True
                return None
            if state in ("failed", "cancelled"):
                self._finished = True
                err = self._error
                if err is None:
                    err = make_error("cancelled", 0, "query was cancelled", 0, self.query_id)
                self._error = None
                raise err
        return False

    def _decode_raw(self, raw):
        return _engine.decode_block(raw, tz=self._tz, strings_as_bytes=self._strings_as_bytes,
                                    columnar=self.columnar)

    def redecode(self):
        """The last block handed out, decoded again in the current `columnar` mode."""
        return None if self._last is None else self._decode_raw(self._last)

    def next_block(self):
        self._check()
        while True:
            item = self._take()
            if item is not False:
                return item
            if self._use_executor:
                raise InterfaceError("an async embedded stream cannot be read with next_block()")
            self._step()

    def _on_chdb_progress(self, progress):
        """chDB's callback, on the thread running the query: the caller's own
        (sync) or an executor thread (async: the armed future wakes the loop)."""
        with self._mu:
            self.progress = progress
            self.progress_seq += 1
            if not self._want_progress:
                return
            fut, self._fut = self._fut, None
        if fut is not None:
            try:
                fut.get_loop().call_soon_threadsafe(_resolve, fut)
            except RuntimeError:
                pass  # the loop is closed
        cb = self._progress_cb
        if cb is not None and self._progress_error is None:
            try:
                cb(progress)
            except BaseException as e:  # raised once chDB returns: not through its C++ frames
                self._progress_error = e

    def next_block_progress(self, callback):
        """next_block(), calling callback(progress dict) on this thread as chDB reports."""
        self._progress_cb = callback
        try:
            item = self.next_block()
        finally:
            self._progress_cb = None
        err, self._progress_error = self._progress_error, None
        if err is not None:
            self.close()
            raise err
        return item

    # -- async consumer ------------------------------------------------------
    def poll(self):
        self._check()
        item = self._take()
        if item is False:
            with self._mu:
                if not self._inflight:
                    self._inflight = True
                    submit = True
                else:
                    submit = False
            if submit:
                try:
                    _get_executor().submit(self._job)
                except BaseException:
                    with self._mu:
                        self._inflight = False
                    raise
        return item

    def _job(self):
        try:
            self._step()
            if self._stop:
                self._step()  # close()/cancel() came while chDB was busy: clean up now
        finally:
            with self._mu:
                self._inflight = False
                fut, self._fut = self._fut, None
            if fut is not None:
                try:
                    fut.get_loop().call_soon_threadsafe(_resolve, fut)
                except RuntimeError:
                    pass  # the loop is closed: nobody waits any more

    def arm(self, fut):
        self._check()
        with self._mu:
            if self._inflight:
                self._fut = fut
                return None
        # Nothing running: the news (a block, the end, an error) is already there.
        fut.get_loop().call_soon(_resolve, fut)
        return None

    # -- ending ---------------------------------------------------------------
    def close(self):
        """Let go of the rest of the result (the query is cancelled if it still runs)."""
        self._finished = True
        self._last = None
        with self._mu:
            self._fut = None
            self._blocks.clear()
            if self._state in ("done", "failed", "cancelled"):
                return
            self._stop = True
            busy = self._inflight and self._state == "streaming"
            if self._inflight:
                if busy:  # chDB may run the query for long before the job sees _stop
                    _get_executor().submit(self._kill)
                return  # the running job sees _stop and cleans up
            if self._use_executor:
                self._inflight = True
        if self._pid != os.getpid() or _inherited:
            return  # the parent's engine cannot be touched from a forked child
        if self._use_executor:
            _get_executor().submit(self._job)  # chDB calls never run on the event loop
        else:
            self._step()

    def cancel(self):
        self.close()

    attempt = 0  # one engine in-process: a read never moves

    def deliver(self):
        return True

    def __del__(self):
        try:
            if self._session is not None and not self._finished:
                self.close()
        except Exception:
            pass

    # -- information ------------------------------------------------------------
    @property
    def state(self):
        return self._state

    @property
    def summary(self):
        if self._state == "new":
            return None
        s = dict(self._stats)
        p = self.progress
        if p:
            for k in ("read_rows", "read_bytes"):
                s[k] = max(s[k], p.get(k, 0))
            s["total_rows_to_read"] = p.get("total_rows_to_read", 0)
        if not self._stats["written_rows"] and not _INSERT.match(self._body):
            del s["written_rows"]  # DDL and the like: rowcount stays -1 (unknown), as PEP 249 says
        s["elapsed_ns"] = int(self._elapsed * 1e9)
        return Summary.parse(s)  # the object itself: no JSON text to be parsed back

    @property
    def raw(self):
        return self._raw if self._state == "done" else None

    server_query_id = property(lambda self: self.query_id if self._state != "new" else None)
