"""executemany() INSERTs as one typed Native block instead of VALUES text (issue 14 §6).

`INSERT INTO t (a, b) VALUES (%s, %s)` with rows of Python values: when every
target column has a type the C encoder writes (ext/native_encode.c), the rows go
as `INSERT INTO t (a, b) FORMAT Native` + one block, binary, so the client prints
nothing and the server parses nothing. What is stored is what the VALUES text
would have stored, value for value: the same checks (typecheck.py, the same
DataError naming row and column, before anything is sent), a naive datetime read
in the column's timezone, else the server's (as the server reads the text), and
any value the encoder cannot write that way (a str into an Int column, a wall
time a DST change skips or repeats, bytes longer than a FixedString...) sends the
whole INSERT as VALUES text instead. The connection option insert_format picks:
"auto" (this when it can), "values" (always text), "native" (this or
NotSupportedError saying why).
"""
import re

from .typecheck import _tz, _zone

INSERT_FORMATS = ("auto", "values", "native")

_PLAIN = re.compile(r"^(?:U?Int(?:8|16|32|64)|Float32|Float64|Bool|String|Date|Date32|UUID)$")
_FIXED = re.compile(r"^FixedString\((\d+)\)$")
_DATETIME = re.compile(r"^DateTime(?:\('(?P<tz>[^']*)'\))?$")
_DATETIME64 = re.compile(r"^DateTime64\((?P<p>\d)(?:,\s*'(?P<tz>[^']*)')?\)$")
_NULLABLE = re.compile(r"^Nullable\((.*)\)$")
_NO_ZONE = object()  # a timezone name zoneinfo does not know


def _column_zone(name):
    zone = _tz(name, _NO_ZONE)
    return zone if zone is _NO_ZONE else _zone(zone)


def needs_server_zone(columns):
    """Whether a column is a DateTime/DateTime64 without its own timezone: a naive
    value in it is read in the server's timezone."""
    for _, type_name in columns:
        m = _NULLABLE.match(type_name)
        t = m.group(1) if m else type_name
        m = _DATETIME.match(t) or _DATETIME64.match(t)
        if m and not m.group("tz"):
            return True
    return False


def server_zone(name):
    """The zone of the server's timezone() (None: UTC), or _NO_ZONE if unknown here."""
    return _column_zone(name) if isinstance(name, str) and name else _NO_ZONE


def plan(columns, server=None):
    """The columns of _engine.native_rows for [(name, type)], or a str saying which
    column the encoder does not take. server: the server's zone (server_zone())."""
    names = [n for n, _ in columns]
    if len(set(names)) != len(names):
        return "a column is named twice"
    out = []
    for name, type_name in columns:
        m = _NULLABLE.match(type_name)
        base = m.group(1) if m else type_name
        arg, zone = 0, None
        if _PLAIN.match(base):
            pass
        elif m_fixed := _FIXED.match(base):
            base, arg = "FixedString", int(m_fixed.group(1))
        elif m_dt := (_DATETIME.match(base) or _DATETIME64.match(base)):
            tz = m_dt.group("tz")
            zone = _column_zone(tz) if tz else server
            if zone is _NO_ZONE:
                return f"column {name!r} ({type_name}): timezone {tz or 'of the server'} unknown here"
            if base.startswith("DateTime64"):
                arg = int(m_dt.group("p"))
            base = "DateTime64" if base.startswith("DateTime64") else "DateTime"
        else:
            return f"column {name!r} has type {type_name or 'unknown'}"
        out.append((name, type_name, base, m is not None, arg, zone))
    return tuple(out)


def quote_names(names):
    """`a`, `b`: column names as an INSERT lists them."""
    return ", ".join("`" + n.replace("\\", "\\\\").replace("`", "\\`") + "`" for n in names)


def head(table, names):
    """b"INSERT INTO table (`a`, `b`) FORMAT Native\\n"."""
    return f"INSERT INTO {table} ({quote_names(names)}) FORMAT Native\n".encode("utf-8", "surrogateescape")
