"""What the sync and async cursors share: statement preparation, the row buffer,
description and rowcount. Only "wait for the next block" differs between them."""
import json
import re

from .. import _engine
from .config import settings_query
from .exceptions import InterfaceError, ProgrammingError

# Statements that may be sent again on a fresh connection when a reused keep-alive
# connection turns out dead before any answer byte: reads only, never an INSERT.
_RETRYABLE = re.compile(r"(?:\s|--[^\n]*\n|/\*.*?\*/|\()*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b",
                        re.I | re.S)
_INSERT_VALUES = re.compile(r"^(?P<head>\s*INSERT\s+INTO\s+.+?\s+VALUES)\s*(?P<row>\(.*\))\s*;?\s*$",
                            re.I | re.S)
_ONLY_PLACEHOLDERS = re.compile(r"^\(\s*%s(?:\s*,\s*%s)*\s*\)$")
COMPRESS_BODY_MIN = 1 << 20
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
# A SELECT whose result is empty comes with no Native block at all, so no column
# names or types: `description` then asks the server (DESCRIBE TABLE (query)),
# which analyses the query without running it.
_DESCRIBABLE = re.compile(r"(?:\s|--[^\n]*\n|/\*.*?\*/|\()*(SELECT|WITH)\b", re.I | re.S)


class CursorBase:
    arraysize = 1

    def __init__(self, connection):
        self.connection = connection
        self._closed = False
        self._reset()

    def _reset(self):
        self._stream = None
        self._rows = []
        self._pos = 0
        self._done = True
        self._names = None
        self._types = None
        self._fetched = 0
        self._total = 0
        self._rowcount = -1
        self.query_id = None
        self.summary = None
        self._describe = None  # (sql, settings) while an empty SELECT's columns are unknown

    # -- PEP 249 attributes ---------------------------------------------------
    @property
    def description(self):
        if self._describe is not None:
            self._resolve_description()
        if self._names is None:
            return None
        return tuple((n, t, None, None, None, None, None) for n, t in zip(self._names, self._types))

    @property
    def rowcount(self):
        return self._rowcount

    @property
    def columns_with_types(self):
        if self._describe is not None:
            self._resolve_description()
        if self._names is None:
            return None
        return list(zip(self._names, self._types))

    def setinputsizes(self, sizes):
        pass

    def setoutputsize(self, size, column=None):
        pass

    def nextset(self):
        # PEP 249: None when there is no further result set; ClickHouse sends one per query.
        self._check_open()
        return None

    # -- preparation ----------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise InterfaceError("cursor is closed")
        self.connection._check_open()

    def _request(self, operation, parameters, settings, query_id, notifier=None, raw=False):
        self._check_open()
        self._abandon()
        self._reset()
        if not isinstance(operation, str):
            raise ProgrammingError("operation must be a str")
        sql = (operation if parameters is None else
               _engine.format_query(operation, parameters, server_version=self.connection._server_version_info))
        if not raw and _DESCRIBABLE.match(sql) and not _FORMAT_CLAUSE.search(sql):
            self._describe = (sql, settings)
        return self._send(sql.encode("utf-8", "surrogateescape"), bool(_RETRYABLE.match(sql)),
                          settings, query_id, notifier, raw)

    def _send(self, body, retryable, settings, query_id, notifier, raw=False):
        opts = self.connection._options
        headers = ""
        if opts.encoding in ("gzip", "zstd") and len(body) >= COMPRESS_BODY_MIN:
            # large INSERT bodies travel compressed (ClickHouse decodes Content-Encoding)
            body = _engine.compress(opts.encoding, body)
            headers = f"Content-Encoding: {opts.encoding}\r\n"
        self._stream = self.connection._client.request(
            body,
            params=settings_query(settings),
            query_id=query_id,
            retryable=retryable,
            raw=raw,
            notifier=notifier,
            query_timeout=opts.query_timeout or 0.0,
            buffer_limit=opts.stream_buffer_bytes,
            tz=opts.tzinfo,
            strings_as_bytes=opts.strings_as_bytes,
            headers=headers,
            max_ratio=opts.max_decompression_ratio,
            max_block_bytes=opts.max_block_bytes,
        )
        self.query_id = self._stream.query_id
        self._done = False
        return self._stream

    def _send_batch(self, prepared, settings, query_id, notifier):
        """Send an executemany INSERT prepared by _insert_body; returns its row count."""
        body, nrows = prepared
        self._abandon()
        self._reset()
        self._send(body, False, settings, query_id, notifier)
        return nrows

    def _insert_body(self, operation, seq_of_parameters):
        """executemany of INSERT ... VALUES: all rows in one request body."""
        m = _INSERT_VALUES.match(operation)
        if not m:
            return None
        head, row = m.group("head"), m.group("row")
        rows = seq_of_parameters if isinstance(seq_of_parameters, (list, tuple)) else list(seq_of_parameters)
        if _ONLY_PLACEHOLDERS.match(row):
            width = row.count("%s")
            for r in rows[:1]:
                if len(r) != width:
                    raise ProgrammingError(f"INSERT has {width} placeholders but a row has {len(r)} values")
            values = _engine.format_rows(rows, server_version=self.connection._server_version_info)
        else:
            values = ",".join(_engine.format_query(row, p, server_version=self.connection._server_version_info)
                              for p in rows).encode("utf-8", "surrogateescape")
        return (head.encode("utf-8", "surrogateescape") + b" " + values), len(rows)

    # -- consuming ------------------------------------------------------------
    def _on_block(self, block):
        """Take one decoded block (or None at the end). Returns True if it had rows."""
        if block is None:
            self._done = True
            self._read_summary()
            if self._names is not None:
                self._rowcount = self._total
                self._describe = None
            return False
        names, types, rows = block
        if self._names is None:
            self._names, self._types = names, types
            self._describe = None
        self._total += len(rows)
        if self._pos >= len(self._rows):
            self._rows, self._pos = rows, 0
        elif self._pos == 0:
            self._rows.extend(rows)  # fetchall() gathering blocks: no copy of what is buffered
        else:
            self._rows = self._rows[self._pos:] + rows
            self._pos = 0
        return bool(rows)

    def _describe_stream(self, notifier=None):
        """Start DESCRIBE TABLE (query) for an empty SELECT; None if it can't be asked."""
        sql, settings = self._describe
        self._describe = None
        if not self._done or self._closed or self.connection._closed:
            return None
        sql = sql.strip().rstrip(";").rstrip()
        return self.connection._client.request(
            f"DESCRIBE TABLE ({sql}\n)".encode("utf-8", "surrogateescape"),
            params=settings_query(settings), retryable=True, notifier=notifier,
            query_timeout=self.connection._options.query_timeout or 0.0)

    def _described(self, rows):
        """Columns from DESCRIBE's rows (name, type, ...) for an empty result."""
        self._names = [r[0] for r in rows]
        self._types = [r[1] for r in rows]
        self._rowcount = 0

    def _resolve_description(self):
        # Sync surfaces override this; the async cursor resolves in execute().
        self._describe = None

    def _read_summary(self):
        s = self._stream.summary if self._stream is not None else None
        if s:
            try:
                self.summary = json.loads(s)
            except ValueError:
                self.summary = None
            if self._names is None and self.summary and "written_rows" in self.summary:
                self._rowcount = int(self.summary["written_rows"])

    def _take(self, n):
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

    def _abandon(self):
        """Stop a result that was not read to the end: frees the connection and
        cancels the query on the server."""
        if self._stream is not None and not self._done:
            self._stream.close()
        self._done = True

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state} query_id={self.query_id!r}>"
