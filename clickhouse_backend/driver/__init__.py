"""DB-API 2.0 driver for ClickHouse over HTTP, on a libevent C engine.

``connect()`` returns a sync :class:`Connection`; ``connect_async()`` an
:class:`AsyncConnection` whose cursor methods are awaitables.
"""
import datetime
import time

from .. import _engine
from . import exceptions as _exceptions
from .async_connection import AsyncConnection, AsyncCursor, connect_async
from .connection import Connection, Cursor, connect
from .progress import Progress, Summary
from .exceptions import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PoolTimeout,
    ProgrammingError,
    Warning,
)

_engine.set_exceptions(_exceptions.CLASSES, _exceptions.make_error)

apilevel = "2.0"
threadsafety = 2  # connections may be shared between threads; cursors may not
paramstyle = "format"  # %(name)s (pyformat) is accepted too

quote = _engine.quote
format_query = _engine.format_query


# PEP 249 type constructors
Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime
Binary = bytes


def DateFromTicks(ticks):
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks):
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks):
    return Timestamp(*time.localtime(ticks)[:6])


class _TypeObject:
    """Compares equal to the ClickHouse type names (description's type_code) of a family."""

    def __init__(self, name, predicate):
        self.name = name
        self._predicate = predicate

    def __eq__(self, other):
        if isinstance(other, str):
            base = other
            for wrapper in ("Nullable(", "LowCardinality("):
                while base.startswith(wrapper):
                    base = base[len(wrapper):-1]
            return self._predicate(base)
        return NotImplemented

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"<DB-API type {self.name}>"


STRING = _TypeObject("STRING", lambda t: t in ("String", "UUID") or t.startswith(("Enum8(", "Enum16(")))
BINARY = _TypeObject("BINARY", lambda t: t.startswith("FixedString("))
NUMBER = _TypeObject("NUMBER", lambda t: t.startswith(("Int", "UInt", "Float", "Decimal", "Bool")))
DATETIME = _TypeObject("DATETIME", lambda t: t.startswith(("Date", "DateTime")))
ROWID = _TypeObject("ROWID", lambda t: False)  # ClickHouse has no row ids

__all__ = [
    "connect", "connect_async", "Connection", "Cursor", "AsyncConnection", "AsyncCursor",
    "apilevel", "threadsafety", "paramstyle", "quote", "format_query",
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError", "PoolTimeout",
    "Date", "Time", "Timestamp", "Binary", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks",
    "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID", "Progress", "Summary",
]
