"""Refuse, before sending, the values a ClickHouse column would wrap silently.

ClickHouse parses an INSERT's literal into the column type and, on older servers
(18.16), wraps what does not fit: 2**70 into Int64 stores 0, 300 into UInt8
stores 44. executemany() into a table knows the target column types (one cached
DESCRIBE TABLE per table per connection) and checks every row with the checker
made here for each type; a value that does not fit raises DataError naming the
row and the column, and nothing is sent.
"""
import datetime
import decimal
import re

from .exceptions import DataError

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
_DATETIME64_RANGE = (datetime.datetime(1900, 1, 1, tzinfo=_UTC),
                     datetime.datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=_UTC))
_CONTEXT = decimal.Context(prec=200, Emax=10 ** 6, Emin=-10 ** 6)


def _tz(name, default):
    if not name:
        return default
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(name)
    except Exception:
        return default


def _aware(value, tz):
    """A datetime in UTC as the server reads it: a naive one is in the column's
    timezone (else the connection's `timezone` option, else UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz or _UTC)
    return value.astimezone(_UTC)


def checker(type_name, tz=None):
    """A function value -> None or what is wrong with it, for a column of
    type_name; None when the type needs no check here (the server refuses
    what it cannot parse, e.g. a too long FixedString)."""
    m = _WRAPPER.match(type_name)
    if m:
        wrapper, inner = m.groups()
        check = checker(inner, tz)
        if check is None:
            return None
        if wrapper == "Nullable":
            return lambda v: None if v is None else check(v)
        if wrapper == "Array":
            def check_array(v):
                if isinstance(v, (list, tuple)):
                    for i, item in enumerate(v):
                        problem = check(item)
                        if problem:
                            return f"element {i}: {problem}"
                return None
            return check_array
        return check
    m = _INT.match(type_name)
    if m:
        bits = int(m.group(2))
        lo, hi = (0, 2 ** bits - 1) if m.group(1) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)

        def check_int(v):
            if isinstance(v, int) and not lo <= v <= hi:
                return f"{v} is out of range for {type_name} [{lo}, {hi}]"
            return None
        return check_int
    m = _DECIMAL.match(type_name)
    if m:
        width, p, s = m.groups()
        if width:  # Decimal32(S): the one argument is the scale
            precision, scale = _DECIMAL_PRECISION[width], int(p)
        else:
            precision, scale = int(p), int(s or 0)
        digits = precision - scale  # integer digits
        int_limit = 10 ** digits
        quantum = decimal.Decimal(1).scaleb(-scale)

        def check_decimal(v):
            if isinstance(v, int) and not isinstance(v, bool):
                if -int_limit < v < int_limit:
                    return None
                return f"{v} is out of range for {type_name} (at most {digits} integer digits)"
            if isinstance(v, float):
                v = decimal.Decimal(repr(v))
            elif not isinstance(v, decimal.Decimal):
                return None
            if not v.is_finite():
                return f"{v} is not a finite number ({type_name})"
            # exponent and adjusted() read the digits as stored: no arithmetic unless
            # trailing zeros may make a long exponent exact (1.50 into Decimal(9, 1))
            if v.as_tuple().exponent < -scale and v.quantize(quantum, context=_CONTEXT) != v:
                return f"{v} has more than {scale} decimal places ({type_name})"
            if v and v.adjusted() >= digits:
                return f"{v} is out of range for {type_name} (at most {digits} integer digits)"
            return None
        return check_decimal
    if type_name in ("Date", "Date32"):
        lo, hi = _DATE_RANGE if type_name == "Date" else _DATE32_RANGE

        def check_date(v):
            if isinstance(v, datetime.datetime):
                v = v.date()
            if isinstance(v, datetime.date) and not lo <= v <= hi:
                return f"{v} is out of range for {type_name} [{lo}, {hi}]"
            return None
        return check_date
    m = _DATETIME.match(type_name)
    if m:
        zone = _tz(m.group("tz"), tz)

        def check_datetime(v):
            if isinstance(v, datetime.datetime):
                seconds = (_aware(v, zone) - _EPOCH).total_seconds()
                if not 0 <= seconds <= _DATETIME_MAX:
                    return f"{v} is out of range for {type_name} (1970-01-01 00:00:00 to 2105-12-31 23:59:59 UTC)"
            return None
        return check_datetime
    m = _DATETIME64.match(type_name)
    if m:
        precision = int(m.group("p"))
        zone = _tz(m.group("tz"), tz)
        lo, hi = _DATETIME64_RANGE

        def check_datetime64(v):
            if isinstance(v, datetime.datetime):
                if not lo <= _aware(v, zone) <= hi:
                    return f"{v} is out of range for {type_name} [{lo:%Y-%m-%d}, {hi:%Y-%m-%d}]"
                if precision < 6 and v.microsecond % 10 ** (6 - precision):
                    return f"{v} has more than {precision} fractional digits ({type_name})"
            return None
        return check_datetime64
    return None


def check_rows(rows, columns, tz=None):
    """Raise DataError for the first value of rows (sequences in the order of
    columns, a list of (name, type)) that its column would not store exactly."""
    checks = [(i, name, type_name, c) for i, (name, type_name) in enumerate(columns)
              if (c := checker(type_name, tz)) is not None]
    if not checks:
        return
    for i, name, type_name, check in checks:
        values = [row[i] if i < len(row) else None for row in rows]
        if values and _extremes_fit(values, check):
            continue
        for r, value in enumerate(values):
            problem = check(value)
            if problem:
                raise DataError(f"row {r}, column {name!r} ({type_name}): {problem}; nothing was inserted",
                                kind="client")


_ORDERED_EXACTLY = (int, datetime.date)  # types whose order is the range order of their columns


def _extremes_fit(values, check):
    """Fast path: a column of plain ints (or of dates) fits if its least and
    greatest values do (min/max run in C); any other mix is checked value by value."""
    kind = type(values[0])
    if kind not in _ORDERED_EXACTLY or not all(type(v) is kind for v in values):
        return False
    return check(min(values)) is None and check(max(values)) is None
