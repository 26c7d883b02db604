"""Refuse, before sending, the values a ClickHouse column would wrap silently.

ClickHouse parses an INSERT's literal into the column type and, on older servers
(18.16), wraps what does not fit: 2**70 into Int64 stores 0, 300 into UInt8
stores 44. executemany() into a table knows the target column types (one cached
DESCRIBE TABLE per table per connection); this module turns each type into the
spec of its check, and the C formatter (ext/typecheck.c, inside
_engine.format_rows) checks every value while it writes it: a value that does
not fit raises DataError naming the row, the column and the value, and nothing
is sent. The words of every message are here; C only decides.
"""
import datetime
import functools
import re

_INT = re.compile(r"^(U?)Int(8|16|32|64|128|256)$")
_DECIMAL = re.compile(r"^Decimal(32|64|128|256)?\((\d+)(?:,\s*(\d+))?\)$")
_DECIMAL_PRECISION = {"32": 9, "64": 18, "128": 38, "256": 76}
_DATETIME = re.compile(r"^DateTime(?:\('(?P<tz>[^']*)'\))?$")
_DATETIME64 = re.compile(r"^DateTime64\((?P<p>\d+)(?:,\s*'(?P<tz>[^']*)')?\)$")
_WRAPPER = re.compile(r"^(Nullable|LowCardinality|Array)\((.*)\)$")

_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
# Date (days) and DateTime (seconds) end in 2149 and 2106 on current servers, but
# 18.16 parses anything after 2105-12-31 23:59:59 as 1970: the common range is the
# one that is always stored exactly. Date32 and DateTime64 span 1900..2299.
_DATE_RANGE = (datetime.date(1970, 1, 1), datetime.date(2105, 12, 31))
_DATE32_RANGE = (datetime.date(1900, 1, 1), datetime.date(2299, 12, 31))
_DATETIME_MAX = int((datetime.datetime(2105, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
                     - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds())
_DATETIME64_SINCE = "20.1"
_DATETIME64_RANGE = (datetime.datetime(1900, 1, 1, tzinfo=_UTC),
                     datetime.datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=_UTC))


def _tz(name, default):
    if not name:
        return default
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(name)
    except Exception:
        return default


def _zone(tz):
    """The zone a naive value is read in; None for UTC (the C check's fast path)."""
    return None if tz is None or str(tz) in ("UTC", "Etc/UTC") else tz


def _us(value):
    return (value - _EPOCH) // datetime.timedelta(microseconds=1)


def spec(type_name, tz=None):
    """The check of a column of type_name, as ext/typecheck.c reads it (a tuple:
    the kind, its bounds, the messages after the value), or None when the type
    needs no check here (the server refuses what it cannot parse, e.g. a too
    long FixedString). tz: the connection's timezone, for naive datetimes."""
    m = _WRAPPER.match(type_name)
    if m:
        wrapper, inner = m.groups()
        check = spec(inner, tz)
        if check is None or wrapper == "LowCardinality":
            return check
        return (wrapper.lower(), check)  # ("nullable", check): None passes; ("array", check): each element
    m = _INT.match(type_name)
    if m:
        bits = int(m.group(2))
        lo, hi = (0, 2 ** bits - 1) if m.group(1) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        return ("int", lo, hi, f" is out of range for {type_name} [{lo}, {hi}]")
    m = _DECIMAL.match(type_name)
    if m:
        width, p, s = m.groups()
        if width:  # Decimal32(S): the one argument is the scale
            precision, scale = _DECIMAL_PRECISION[width], int(p)
        else:
            precision, scale = int(p), int(s or 0)
        digits = precision - scale  # integer digits
        # ints, floats (as Decimal(repr(v))) and Decimals
        return ("decimal", digits, scale,
                f" is out of range for {type_name} (at most {digits} integer digits)",
                f" has more than {scale} decimal places ({type_name})",
                f" is not a finite number ({type_name})")
    if type_name in ("Date", "Date32"):
        lo, hi = _DATE_RANGE if type_name == "Date" else _DATE32_RANGE
        # a datetime is checked (and shown) as its date
        return ("date", lo, hi, f" is out of range for {type_name} [{lo}, {hi}]")
    m = _DATETIME.match(type_name)
    if m:
        # a naive value is in the column's timezone (else the connection's, else UTC)
        # whole seconds: a fraction is cut (18.16 refuses the text, unclearly)
        return ("datetime", _zone(_tz(m.group("tz"), tz)), 0, _DATETIME_MAX * 10 ** 6, 0,
                f" is out of range for {type_name} (1970-01-01 00:00:00 to 2105-12-31 23:59:59 UTC)",
                f" has microseconds, which {type_name} (whole seconds) would drop: "
                f"DateTime64 keeps them (ClickHouse {_DATETIME64_SINCE} and later)")
    m = _DATETIME64.match(type_name)
    if m:
        precision = int(m.group("p"))
        lo, hi = _DATETIME64_RANGE
        return ("datetime", _zone(_tz(m.group("tz"), tz)), _us(lo), _us(hi), precision,
                f" is out of range for {type_name} [{lo:%Y-%m-%d}, {hi:%Y-%m-%d}]",
                f" has more than {precision} fractional digits ({type_name})")
    return None


@functools.lru_cache(maxsize=256)
def column_checks(columns, tz=None):
    """The `checks` of _engine.format_rows for rows in the order of columns (a
    tuple of (name, type)): per column None or (name, type, spec); None if no
    column needs a check."""
    checks = tuple((name, type_name, s) if (s := spec(type_name, tz)) is not None else None
                   for name, type_name in columns)
    return checks if any(checks) else None
