"""Columnar inserts: a dict of arrays, a pandas DataFrame or an Arrow table encoded as
one Native block (INSERT ... FORMAT Native). Values are checked against the column
types with NumPy, vectorised, by the rules executemany() applies value by value
(driver/typecheck.py: its bounds and the words of its messages): what does not fit
raises DataError naming the row, the column and the value, and nothing is sent.
Strings are encoded in C (_engine.encode_strings). See docs/columnar.md."""
import datetime
import decimal
import functools
import ipaddress
import struct
import uuid

from .. import _engine
from .columnar import _datetime_info, _unquote, need, parse_type
from .exceptions import DataError, NotSupportedError, ProgrammingError
from .typecheck import spec

_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=_UTC)
_INT_WIDTH = {"Int8": 1, "Int16": 2, "Int32": 4, "Int64": 8, "Int128": 16, "Int256": 32,
              "UInt8": 1, "UInt16": 2, "UInt32": 4, "UInt64": 8, "UInt128": 16, "UInt256": 32}


def varint(n):
    """Unsigned LEB128, as Native uses for counts and string lengths."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s):
    b = s.encode("utf-8")
    return varint(len(b)) + b


class _Col:
    """One input column: `values` (NumPy array), `mask` (bool array of NULLs or None),
    for datetime64 values whether they are UTC instants (tz-aware input), and for Arrow
    strings the Arrow array (a String column is then encoded from its buffers)."""

    def __init__(self, values, mask=None, utc=False, arrow=None):
        self._values, self.mask, self.utc, self.arrow = values, mask, utc, arrow

    @property
    def values(self):
        if self._values is None:  # Arrow strings wanted as Python values (not a String column)
            import numpy as np

            self._values = np.fromiter(self.arrow.to_pylist(), dtype=object, count=len(self.arrow))
        return self._values

    def __len__(self):
        return len(self.arrow) if self._values is None else len(self._values)


def _arrow_strings(pa, arr):
    """An Arrow string/binary array (chunks combined), or None for other types."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return arr
    return None


def _fail(col, row, value, message):
    raise DataError(f"row {row}, column {col}: {value!r}{message}")


def _is_null(v):
    if v is None:
        return True
    try:
        return v != v  # NaN, NaT, pd.NA (ambiguous: an error)
    except TypeError:
        return True  # pd.NA
    except ValueError:
        return False


def from_values(np, values):
    """A column of any array-like (NumPy, masked, pandas, Arrow, list) -> _Col."""
    if isinstance(values, np.ma.MaskedArray):
        return _Col(values.data, np.ma.getmaskarray(values))
    mod = type(values).__module__
    if mod.startswith("pandas"):
        pd = need("pandas")
        mask = values.isna().to_numpy()
        dtype = values.dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            return _Col(values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(), mask, utc=True)
        if isinstance(dtype, pd.CategoricalDtype):
            return _Col(np.asarray(values.astype(object)), mask)
        if isinstance(dtype, pd.StringDtype) and getattr(dtype, "storage", "") == "pyarrow":
            pa = need("pyarrow")
            arrow = _arrow_strings(pa, pa.array(values))  # pandas' own Arrow buffers, no copy
            if arrow is not None:
                return _Col(None, mask if mask.any() else None, arrow=arrow)
        if hasattr(values, "array") and hasattr(values.array, "_data") and hasattr(values.array, "_mask"):
            return _Col(values.array._data, mask)  # nullable Int/Float/boolean: the data, the NA mask
        arr = values.to_numpy()
        return _Col(arr, mask if mask.any() else None)
    if mod.startswith("pyarrow"):
        pa = need("pyarrow")
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        mask = values.is_null().to_numpy(zero_copy_only=False) if values.null_count else None
        arrow = _arrow_strings(pa, values)
        if arrow is not None:
            return _Col(None, mask, arrow=arrow)
        utc = pa.types.is_timestamp(values.type) and values.type.tz is not None
        if utc or pa.types.is_timestamp(values.type):
            values = values.cast(pa.timestamp(values.type.unit))
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_boolean(values.type):
            values = values.fill_null(0) if mask is not None else values
        if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
            arr = values.to_numpy(zero_copy_only=False)
        elif (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
              or pa.types.is_boolean(values.type)):
            arr = values.to_numpy(zero_copy_only=False)
        else:
            arr = np.fromiter(values.to_pylist(), dtype=object, count=len(values))
        return _Col(arr, mask, utc=utc)
    # a list stays Python values (an object array): NumPy would turn 2**64 - 1 into a float
    arr = values if isinstance(values, np.ndarray) else np.fromiter(values, dtype=object, count=len(values))
    if arr.dtype == object:
        mask = np.fromiter((_is_null(v) for v in arr), dtype=bool, count=len(arr))
        return _Col(arr, mask if mask.any() else None)
    if arr.dtype.kind in "fmM":
        mask = np.isnan(arr) if arr.dtype.kind == "f" else np.isnat(arr)
        return _Col(arr, mask if mask.any() else None)
    return _Col(arr)


class Encoder:
    """Encodes columns for the table's column types; tz: the connection's timezone."""

    def __init__(self, np, tz=None):
        self.np = np
        self.tz = tz if tz is not False else None

    # -- the block -------------------------------------------------------------
    def block(self, columns, data, head=b""):
        """columns: [(name, type)]; data: {name: array-like} -> head + the Native block
        (one join: the body is large, every copy of it counts)."""
        np = self.np
        cols = {name: from_values(np, values) for name, values in data.items()}
        lengths = {len(c) for c in cols.values()}
        if len(lengths) > 1:
            raise ProgrammingError(f"the columns have different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        out = [head, varint(len(columns)), varint(n)]
        for name, type_name in columns:
            out += [_string(name), _string(type_name)]
            out.append(self.column(name, type_name, cols[name]))
        return b"".join(out)

    # -- one column -------------------------------------------------------------
    def column(self, name, type_name, col, top=True):
        np = self.np
        base, args = parse_type(type_name)
        if base == "Nullable":
            mask = col.mask if col.mask is not None else np.zeros(len(col), dtype=bool)
            if col.arrow is not None:  # a NULL's slot holds what Arrow has there (no value is read)
                inner = _Col(None, None, arrow=col.arrow)
            else:
                inner = _Col(self._fill(col.values, mask, args[0]), None, col.utc)
            return mask.astype(np.uint8).tobytes() + self.column(name, args[0], inner, False)
        if base == "LowCardinality":
            return self._lowcard(name, args[0], col)
        self._no_nulls(name, col)
        return self._plain(name, type_name, base, args, col)

    def _no_nulls(self, name, col):
        if col.mask is not None and col.mask.any():
            row = int(self.np.flatnonzero(col.mask)[0])
            raise DataError(f"row {row}, column {name}: NULL in a column that is not Nullable")

    def _fill(self, values, mask, type_name):
        """Values with a placeholder where they are NULL (the null map says NULL)."""
        np = self.np
        if not mask.any():
            return values
        values = values.copy()
        if values.dtype == object:
            values[mask] = _placeholder(type_name)
        elif values.dtype.kind in "mM":
            values[mask] = 0
        else:
            values[mask] = 0
        return values

    def _plain(self, name, type_name, base, args, col):
        np = self.np
        if base in ("String", "JSON", "Object") and col.arrow is not None:
            return self._arrow_string_column(col.arrow)
        v = col.values
        if base in _INT_WIDTH:
            return self._ints(name, type_name, base, v)
        if base in ("Float32", "Float64"):
            if v.dtype == object or v.dtype.kind not in "iufb":
                v = self._objects_to(name, v, float, type_name)
            return v.astype("<f4" if base == "Float32" else "<f8").tobytes()
        if base == "Bool":
            if v.dtype.kind != "b":
                v = self._objects_to(name, v, _strict_bool, type_name).astype(bool)
            return v.astype(np.uint8).tobytes()
        if base.startswith("Decimal"):
            return self._decimals(name, type_name, base, args, v)
        if base in ("String", "JSON", "Object"):
            try:
                return _engine.encode_strings(v.tolist() if v.dtype != object else list(v))
            except TypeError as e:
                row = e.args[1] if len(e.args) > 1 else 0
                _fail(name, row, v[row], f" is not str or bytes ({type_name})")
        if base == "FixedString":
            return self._fixed(name, type_name, int(args[0]), v)
        if base in ("Date", "Date32"):
            return self._dates(name, type_name, base, col)
        if base in ("DateTime", "DateTime64"):
            return self._datetimes(name, type_name, base, col)
        if base == "UUID":
            return b"".join(_uuid_bytes(name, i, x) for i, x in enumerate(v))
        if base in ("IPv4", "IPv6"):
            return b"".join(_ip_bytes(name, i, x, base) for i, x in enumerate(v))
        if base in ("Enum8", "Enum16"):
            return self._enums(name, type_name, base, args, v)
        if base == "Array":
            return self._arrays(name, args[0], v)
        if base == "Map":
            return self._maps(name, args, v)
        if base == "Tuple":
            return self._tuples(name, args, v)
        raise NotSupportedError(f"columnar inserts do not support the type {type_name} (column {name})")

    def _arrow_string_column(self, arr):
        np = self.np
        bufs = arr.buffers()
        wide = arr.type.id in (need("pyarrow").large_string().id, need("pyarrow").large_binary().id)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[arr.offset:arr.offset + len(arr) + 1]
        return _engine.encode_string_buffers(bufs[2] if bufs[2] is not None else b"", offsets)

    def _objects_to(self, name, v, conv, type_name):
        out = []
        for i, x in enumerate(v):
            try:
                out.append(conv(x))
            except (TypeError, ValueError, decimal.InvalidOperation):
                _fail(name, i, x, f" is not a {type_name} value")
        return self.np.array(out)

    def _ints(self, name, type_name, base, v):
        np = self.np
        check = spec(type_name)
        lo, hi, message = check[1], check[2], check[3]
        if v.dtype.kind == "f":  # integral floats only: 1.5 is not an integer
            bad = ~np.isfinite(v) | (v != np.floor(v))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                _fail(name, i, v[i].item(), f" is not an integer ({type_name})")
            v = v.astype(object) if np.abs(v).max(initial=0) >= 2 ** 53 else v.astype(np.int64)
        if v.dtype == object:
            ints = [_integral(x) for x in v]
            if None in ints:
                i = ints.index(None)
                _fail(name, i, v[i], f" is not an integer ({type_name})")
            v = np.fromiter(ints, dtype=object, count=len(ints))
        elif v.dtype.kind not in "iub":
            _fail(name, 0, v[0], f" is not an integer ({type_name})")
        if len(v):
            out = (v < lo) | (v > hi)
            if np.asarray(out).any():
                i = int(np.flatnonzero(np.asarray(out, dtype=bool))[0])
                x = v[i]
                _fail(name, i, int(x), message)
        width = _INT_WIDTH[base]
        signed = not base.startswith("U")
        if width <= 8 and v.dtype != object:
            return v.astype(f"<{'i' if signed else 'u'}{width}").tobytes()
        if width <= 8:
            return np.array([int(x) for x in v], dtype=f"<{'i' if signed else 'u'}{width}").tobytes()
        return b"".join(int(x).to_bytes(width, "little", signed=signed) for x in v)

    def _decimals(self, name, type_name, base, args, v):
        check = spec(type_name)
        digits, scale = check[1], check[2]
        width = {"Decimal32": 4, "Decimal64": 8, "Decimal128": 16, "Decimal256": 32}.get(base)
        if width is None:
            p = int(args[0])
            width = 4 if p <= 9 else 8 if p <= 18 else 16 if p <= 38 else 32
        out = []
        exact = decimal.Context(prec=200)  # the default 28 digits would round a Decimal(38+) value
        for i, x in enumerate(v.tolist() if v.dtype != object else v):
            if isinstance(x, bool):
                _fail(name, i, x, f" is not a number ({type_name})")
            d = x if isinstance(x, decimal.Decimal) else decimal.Decimal(repr(x)) if isinstance(x, float) \
                else decimal.Decimal(x) if isinstance(x, int) else None
            if d is None:
                _fail(name, i, x, f" is not a number ({type_name})")
            if not d.is_finite():
                _fail(name, i, x, check[5])
            t = d.as_tuple()
            if t.exponent < -scale and d != d.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_DOWN,
                                                       context=exact):
                _fail(name, i, x, check[4])
            if d.adjusted() >= digits and d != 0:
                _fail(name, i, x, check[3])
            out.append(int(d.scaleb(scale, context=exact)).to_bytes(width, "little", signed=True))
        return b"".join(out)

    def _fixed(self, name, type_name, n, v):
        out = []
        for i, x in enumerate(v):
            b = x.encode("utf-8") if isinstance(x, str) else x
            if not isinstance(b, bytes):
                _fail(name, i, x, f" is not str or bytes ({type_name})")
            if len(b) > n:
                _fail(name, i, x, f" is longer than {n} bytes ({type_name})")
            out.append(b.ljust(n, b"\0"))
        return b"".join(out)

    def _dates(self, name, type_name, base, col):
        np = self.np
        v = col.values
        if v.dtype.kind != "M":
            v = np.array([x.date() if isinstance(x, datetime.datetime) else x for x in v], dtype="datetime64[D]")
        days = v.astype("datetime64[D]").astype(np.int64)
        check = spec(type_name)
        lo, hi = (np.datetime64(check[1], "D").astype(np.int64), np.datetime64(check[2], "D").astype(np.int64))
        bad = (days < lo) | (days > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _fail(name, i, v[i].astype("datetime64[D]").item(), check[3])
        return days.astype("<u2" if base == "Date" else "<i4").tobytes()

    def _datetimes(self, name, type_name, base, col):
        """Instants in ns since the epoch (UTC), range and precision checked."""
        np = self.np
        check = spec(type_name, self.tz)
        zone = check[1]
        precision = _datetime_info(type_name)[0] if base == "DateTime64" else 0
        v = col.values
        if base == "DateTime" and v.dtype == np.dtype("datetime64[s]") and (col.utc or zone is None):
            # seconds already: checked and narrowed as they are (no pass through ns)
            secs = v.view(np.int64)
            bad = (secs < -(-check[2] // 10 ** 6)) | (secs > check[3] // 10 ** 6)  # the µs bounds, in s
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                _fail(name, i, _show(v[i]), check[5])
            return secs.astype("<u4").tobytes()
        if v.dtype.kind == "M":
            ns = v.astype("datetime64[ns]").astype(np.int64)
            if not col.utc and zone is not None:  # naive: in the column's (connection's) zone
                ns = self._localize(ns, zone)
        else:
            ns = np.array([self._ns(name, i, x, zone, type_name) for i, x in enumerate(v)], dtype=np.int64)
        us = ns // 1000
        bad = (us < check[2]) | (us > check[3])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _fail(name, i, _show(v[i]), check[5])
        if base == "DateTime":  # whole seconds, as the server reads a literal's
            return (ns // 10 ** 9).astype("<u4").tobytes()
        unit = 10 ** (9 - precision)
        bad = ns % unit != 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _fail(name, i, _show(v[i]), check[6])
        return (ns // unit).astype("<i8").tobytes()

    def _localize(self, ns, zone):
        """Naive wall times (ns) in `zone` -> UTC instants, exactly as executemany reads
        them (zoneinfo, fold=0), value by value."""
        np = self.np
        epoch = datetime.datetime(1970, 1, 1)
        return np.array([self._ns(None, 0, epoch + datetime.timedelta(microseconds=int(x) // 1000), zone, "")
                         + int(x) % 1000 for x in ns], dtype=np.int64)

    def _ns(self, name, i, x, zone, type_name):
        if hasattr(x, "to_pydatetime"):  # pandas Timestamp
            x = x.to_pydatetime()
        if isinstance(x, self.np.datetime64):
            return int(x.astype("datetime64[ns]").astype(self.np.int64))
        if not isinstance(x, datetime.datetime):
            if isinstance(x, datetime.date):
                x = datetime.datetime(x.year, x.month, x.day)
            else:
                _fail(name, i, x, f" is not a datetime ({type_name})")
        if x.tzinfo is None:
            if zone is None:  # naive UTC wall time: no tz arithmetic per value
                delta = x - _EPOCH
                return (delta.days * 86400 + delta.seconds) * 10 ** 9 + delta.microseconds * 1000
            x = x.replace(tzinfo=zone)
        delta = x - _EPOCH_UTC
        return (delta.days * 86400 + delta.seconds) * 10 ** 9 + delta.microseconds * 1000

    def _enums(self, name, type_name, base, args, v):
        mapping = {}
        for a in args:
            label, _, code = a.rpartition("=")
            mapping[_unquote(label.strip())] = int(code)
        codes = set(mapping.values())
        out = []
        for i, x in enumerate(v):
            c = mapping.get(x) if isinstance(x, str) else int(x) if isinstance(x, int) and x in codes else None
            if c is None:
                _fail(name, i, x, f" is not a value of {type_name}")
            out.append(c)
        return self.np.array(out, dtype="<i1" if base == "Enum8" else "<i2").tobytes()

    def _lowcard(self, name, inner_type, col):
        """LowCardinality: a dictionary of the distinct values and their indexes
        (key version 1, one granule with additional keys, as ClickHouse writes it)."""
        np = self.np
        inner_base, inner_args = parse_type(inner_type)
        nullable = inner_base == "Nullable"
        dict_type = inner_args[0] if nullable else inner_type
        values = col.values
        mask = col.mask if col.mask is not None else np.zeros(len(values), dtype=bool)
        if mask.any() and not nullable:
            self._no_nulls(name, col)
        present = values[~mask] if mask.any() else values
        keys = list(dict.fromkeys(present.tolist() if present.dtype != object else list(present)))
        index = {k: j for j, k in enumerate(keys)}
        shift = 1 if nullable else 0  # index 0 of a Nullable dictionary is NULL
        dictionary = ([_placeholder(dict_type)] if nullable else []) + keys
        seq = values.tolist() if values.dtype != object else list(values)
        idx = np.array([0 if m else index[x] + shift for x, m in zip(seq, mask.tolist())], dtype=np.uint64)
        n = len(dictionary)
        width, code = (1, 0) if n < 2 ** 8 else (2, 1) if n < 2 ** 16 else (4, 2)
        dict_col = _Col(np.fromiter(dictionary, dtype=object, count=n) if values.dtype == object
                        else np.array(dictionary, dtype=values.dtype))
        body = self.column(name, dict_type, dict_col, False)
        return (struct.pack("<QQQ", 1, code | (1 << 9), n) + body + struct.pack("<Q", len(values))
                + idx.astype(f"<u{width}").tobytes())

    def _arrays(self, name, inner_type, v):
        np = self.np
        offsets, flat, total = [], [], 0
        for i, x in enumerate(v):
            if not isinstance(x, (list, tuple, np.ndarray)):
                _fail(name, i, x, f" is not a list (Array({inner_type}))")
            total += len(x)
            offsets.append(total)
            flat.extend(x)
        inner = from_values(np, np.fromiter(flat, dtype=object, count=len(flat)))
        return np.array(offsets, dtype="<u8").tobytes() + self.column(name, inner_type, inner, False)

    def _maps(self, name, args, v):
        np = self.np
        offsets, keys, vals, total = [], [], [], 0
        for i, x in enumerate(v):
            items = list(x.items()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else None
            if items is None:
                _fail(name, i, x, " is not a dict (Map)")
            total += len(items)
            offsets.append(total)
            keys.extend(k for k, _ in items)
            vals.extend(y for _, y in items)
        kc = from_values(np, np.fromiter(keys, dtype=object, count=len(keys)))
        vc = from_values(np, np.fromiter(vals, dtype=object, count=len(vals)))
        return (np.array(offsets, dtype="<u8").tobytes() + self.column(name, args[0], kc, False)
                + self.column(name, args[1], vc, False))

    def _tuples(self, name, args, v):
        np = self.np
        import re

        types = [re.sub(r"^([A-Za-z_]\w*|`(?:[^`\\]|\\.)*`)\s+(?=\S)", "", a) for a in args]
        names = [a[:len(a) - len(t)].strip().strip("`") for a, t in zip(args, types)]
        rows = []
        for i, x in enumerate(v):
            if isinstance(x, dict):
                x = tuple(x[k] for k in names)
            if not isinstance(x, (list, tuple)) or len(x) != len(types):
                _fail(name, i, x, f" is not a tuple of {len(types)} values")
            rows.append(x)
        out = []
        for j, t in enumerate(types):
            elems = [r[j] for r in rows]
            out.append(self.column(name, t, from_values(np, np.fromiter(elems, dtype=object, count=len(elems))), False))
        return b"".join(out)


@functools.lru_cache(maxsize=None)
def _np_integer():
    import numpy

    return numpy.integer


def _integral(x):
    """x as an int if it is one (an int, or an integral float / Decimal), else None."""
    if type(x) is int:  # the common case first: a list of Python ints
        return x
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, _np_integer())):
        return int(x)
    if isinstance(x, (float, decimal.Decimal)) and (x.is_finite() if isinstance(x, decimal.Decimal)
                                                    else x == x and abs(x) != float("inf")):
        return int(x) if x == int(x) else None
    return None


def _show(x):
    return x.item() if hasattr(x, "item") else x


def _strict_bool(x):
    if isinstance(x, bool) or x in (0, 1):
        return bool(x)
    raise TypeError


def _placeholder(type_name):
    """A value of the type written where a Nullable value is NULL."""
    base, args = parse_type(type_name)
    if base in ("String", "FixedString", "JSON", "Object"):
        return ""
    if base in ("Date", "Date32"):
        return datetime.date(1970, 1, 1)
    if base in ("DateTime", "DateTime64"):
        return datetime.datetime(1970, 1, 1, tzinfo=_UTC)
    if base == "UUID":
        return uuid.UUID(int=0)
    if base == "IPv4":
        return ipaddress.IPv4Address(0)
    if base == "IPv6":
        return ipaddress.IPv6Address(0)
    if base.startswith("Enum"):
        return _unquote(args[0].rpartition("=")[0].strip())
    if base.startswith("Decimal"):
        return decimal.Decimal(0)
    if base in ("Array", "Map"):
        return [] if base == "Array" else {}
    if base == "Bool":
        return False
    return 0


def _uuid_bytes(name, i, x):
    try:
        u = x if isinstance(x, uuid.UUID) else uuid.UUID(bytes=x) if isinstance(x, bytes) else uuid.UUID(str(x))
    except (ValueError, TypeError):
        _fail(name, i, x, " is not a UUID")
    b = u.bytes  # ClickHouse: two little-endian UInt64 halves, high half first
    return b[7::-1] + b[15:7:-1]


def _ip_bytes(name, i, x, base):
    try:
        a = (ipaddress.IPv4Address if base == "IPv4" else ipaddress.IPv6Address)(
            x if not isinstance(x, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else str(x))
    except (ValueError, TypeError):
        if base == "IPv6":
            try:
                a = ipaddress.IPv6Address("::ffff:" + str(ipaddress.IPv4Address(x)))
            except (ValueError, TypeError):
                _fail(name, i, x, f" is not an {base} address")
        else:
            _fail(name, i, x, f" is not an {base} address")
    return a.packed[::-1] if base == "IPv4" else a.packed
