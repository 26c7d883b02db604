"""Columnar results: NumPy arrays, pandas DataFrames and Arrow tables made from the
C decoder's column buffers (ext/native_buffers.c, columnar modes 2 and 3) without a Python
object per value for fixed-width columns. See docs/columnar.md.

A decoded block in buffer mode is (names, types, columns), each column one of
  ('b', bytes)                      fixed-width little-endian values
  ('s', data, offsets)              String, Arrow mode: bytes + n+1 int64 offsets
  ('S', native, n)                  String, mode 4: the n values' wire bytes (varint length first)
  ('n', nullmap, inner)             Nullable: 1 byte per row, 1 = NULL
  ('l', dictionary, indexes, width) LowCardinality: dictionary column + indexes
  ('o', list)                       Python values, as the row path gives them
  ('a', ndarray)                    the same in a NumPy object array (NumPy mode)
In NumPy mode 4 String columns come as ('S', native, n) and become one StringDType array
per result (_StringPart, packed once in C by concat_numpy, straight from the wire bytes).
The dtype of a buffer comes from the column's ClickHouse type name (parsed here).
"""
import datetime
import uuid as uuid_mod
import functools
import re

from .exceptions import InterfaceError, NotSupportedError, ProgrammingError

MODE_NUMPY = 2  # nd_options.columnar: strings as Python str (object arrays)
MODE_ARROW = 3  # strings as data + offsets (Arrow large_string without a str per value)
MODE_NUMPY_STR = 4  # as MODE_NUMPY, String as numpy.dtypes.StringDType (NumPy >= 2, no str per value)
STRINGS = ("str", "object")  # fetchnumpy(strings=...): None picks "str" where NumPy has StringDType

_EXTRAS = {"numpy": "numpy", "pandas": "pandas", "pyarrow": "arrow"}


class MissingExtra(NotSupportedError, ImportError):
    """A columnar call without its optional package: both a PEP 249 error and an ImportError."""


def need(module):
    """Import an optional package, or say which extra installs it."""
    try:
        return __import__(module)
    except ImportError as e:
        raise MissingExtra(f"this needs {module}: pip install {module} "
                           f"(or pip install 'clickhouse-backend[{_EXTRAS[module]}]')") from e


# -- type names -----------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|[^,()'`]+|\(|\)|,)")


@functools.lru_cache(maxsize=1024)
def parse_type(name):
    """'Nullable(DateTime64(3, \\'UTC\\'))' -> ('Nullable', (('DateTime64', ('3', "'UTC'")),)).
    Arguments that are types are parsed; others stay text."""
    name = name.strip()
    i = name.find("(")
    if i < 0 or not name.endswith(")"):
        return (name, ())
    base, inner = name[:i].strip(), name[i + 1:-1]
    args, depth, cur = [], 0, []
    for m in _TOKEN.finditer(inner):
        tok = m.group(0)
        s = tok.strip()
        if s == "(":
            depth += 1
        elif s == ")":
            depth -= 1
        elif s == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            continue
        cur.append(tok)
    if cur:
        args.append("".join(cur).strip())
    if base == "SimpleAggregateFunction":  # stored and sent as its value type
        return parse_type(args[-1])
    return (base, tuple(args))


@functools.lru_cache(maxsize=1024)
def unwrap(name):
    """(base type name, nullable, lowcardinality) of a column type."""
    nullable = lowcard = False
    base, args = parse_type(name)
    while base in ("Nullable", "LowCardinality"):
        if base == "Nullable":
            nullable = True
        else:
            lowcard = True
        name = args[0]
        base, args = parse_type(name)
    return name, nullable, lowcard


def _unquote(s):
    return s[1:-1].replace("\\'", "'").replace("\\\\", "\\") if s.startswith("'") else s


def _datetime_info(name):
    """(precision, timezone name or None) of DateTime / DateTime64."""
    base, args = parse_type(name)
    if base == "DateTime":
        return 0, (_unquote(args[0]) if args else None)
    return int(args[0]), (_unquote(args[1]) if len(args) > 1 else None)


_FIXED = {"Int8": "<i1", "Int16": "<i2", "Int32": "<i4", "Int64": "<i8",
          "UInt8": "<u1", "UInt16": "<u2", "UInt32": "<u4", "UInt64": "<u8",
          "Float32": "<f4", "Float64": "<f8", "Bool": "?", "Date": "<u2", "Date32": "<i4",
          "DateTime": "<u4", "DateTime64": "<i8"}
_UNITS = ((0, "s"), (3, "ms"), (6, "us"), (9, "ns"))


def _dt64_unit(precision):
    """The datetime64 unit holding a DateTime64(precision) exactly, and the factor."""
    for p, unit in _UNITS:
        if precision <= p:
            return unit, 10 ** (p - precision)
    return "ns", 1


def _buffer_dtype(base_name):
    base = parse_type(base_name)[0]
    if base in _FIXED:
        return _FIXED[base]
    if base.startswith("Interval"):
        return "<i8"
    return None


def numpy_mode(np, strings, strings_as_bytes):
    """The decoding mode of a NumPy fetch for its `strings` argument: "str" (String
    columns as numpy.dtypes.StringDType, NumPy >= 2: no Python object per value; a value
    that is not UTF-8 raises InterfaceError), "object" (object arrays of the row path's
    str, surrogateescape for bytes that are not UTF-8), None: "str" where NumPy has
    StringDType and the connection does not ask for bytes (strings_as_bytes), else "object"."""
    has = hasattr(getattr(np, "dtypes", None), "StringDType")
    if strings is None:
        return MODE_NUMPY_STR if has and not strings_as_bytes else MODE_NUMPY
    if strings not in STRINGS:
        raise ProgrammingError(f"strings must be one of {STRINGS} or None, not {strings!r}")
    if strings == "object":
        return MODE_NUMPY
    if strings_as_bytes:
        raise ProgrammingError("strings='str' gives text, but the connection has strings_as_bytes=True "
                               "(bytes values): use strings='object'")
    if not has:
        raise NotSupportedError(f"strings='str' needs NumPy >= 2 (numpy.dtypes.StringDType); "
                                f"NumPy {np.__version__} is installed: use strings='object'")
    return MODE_NUMPY_STR


def _is_text(name):
    return parse_type(unwrap(name)[0])[0] == "String"


def _as_stringdtype(np, arr, nullable):
    """An object array of str (None for NULL) as StringDType, for the blocks that came
    as Python values (rows decoded before the fetch, several LowCardinality dictionaries)."""
    dtype = np.dtypes.StringDType(na_object=None) if nullable else np.dtypes.StringDType()
    data = np.ma.getdata(arr)
    bad = next((i for i, v in enumerate(data.tolist()) if isinstance(v, str) and not _utf8(v)), None)
    if bad is not None:
        raise InterfaceError(f"row {bad}: a String value is not UTF-8, which a NumPy StringDType array cannot "
                             f"hold: fetch with strings='object' (str with surrogateescape, as the row path) "
                             f"or connect with strings_as_bytes=True")
    out = data.astype(dtype)
    return np.ma.MaskedArray(out, mask=np.ma.getmaskarray(arr)) if isinstance(arr, np.ma.MaskedArray) else out


def _utf8(v):
    try:
        v.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def block_rows(col, name):
    """Row count of one buffer-mode column."""
    kind = col[0]
    if kind == "b":
        dtype = _buffer_dtype(unwrap(name)[0])
        return len(col[1]) // (1 if dtype == "?" else int(dtype[2:]))
    if kind == "s":
        return len(col[2]) // 8 - 1
    if kind == "S":
        return col[2]
    if kind == "l":
        return len(col[2]) // col[3]
    return len(col[1])


# -- NumPy -------------------------------------------------------------------------
def _np_fixed(np, buf, name):
    """A fixed-width buffer as the NumPy array of the type: numbers as they are (no
    copy), Date/Date32 as datetime64[D], DateTime* as datetime64 (UTC)."""
    base = parse_type(name)[0]
    a = np.frombuffer(buf, dtype=_buffer_dtype(name))
    if base in ("Date", "Date32"):
        return a.astype("datetime64[D]")
    if base == "DateTime":
        return a.astype("datetime64[s]")
    if base == "DateTime64":
        unit, factor = _dt64_unit(_datetime_info(name)[0])
        return (a * factor if factor != 1 else a).view(f"datetime64[{unit}]")
    return a


def _np_objects(np, values, name):
    """Python values (the row path's) as the array the buffers would give."""
    base = parse_type(name)[0]
    dtype = _buffer_dtype(name)
    if dtype is None:
        if base == "BFloat16":
            return np.array(values, dtype="float32")
        return np.fromiter(values, dtype=object, count=len(values))
    if base in ("Date", "Date32"):
        return np.array(values, dtype="datetime64[D]")
    if base in ("DateTime", "DateTime64"):
        unit = _dt64_unit(_datetime_info(name)[0])[0] if base == "DateTime64" else "s"
        utc = datetime.timezone.utc
        return np.array([v.astimezone(utc).replace(tzinfo=None) if v.tzinfo else v for v in values],
                        dtype=f"datetime64[{unit}]")
    return np.array(values, dtype=dtype)


def _zero(np, name):
    base = parse_type(name)[0]
    if base in ("Date", "Date32"):
        return datetime.date(1970, 1, 1)
    if base in ("DateTime", "DateTime64"):
        return datetime.datetime(1970, 1, 1)
    return False if base == "Bool" else 0


class _Pending:
    """A block's column kept as its buffers until concat_numpy joins a result's parts."""

    __slots__ = ()

    def __len__(self):
        return self.rows - self.start

    def __getitem__(self, rows):  # part[skip:], the rows a fetch has not taken yet
        if not isinstance(rows, slice) or rows.stop is not None or rows.step is not None:
            raise TypeError("a pending column takes only [start:]")
        return self._from(self.start + min(rows.start or 0, len(self)))


class _StringPart(_Pending):
    """One block's String column in mode 4 (the wire bytes and the row count, or data +
    n+1 int64 offsets; the null map of a Nullable), not packed yet: concat_numpy packs a
    result's parts once into one StringDType array, where joining an array per block
    would pack every string again (each StringDType array owns its allocator)."""

    __slots__ = ("data", "offsets", "nulls", "start", "rows")

    def __init__(self, data, offsets, nulls, start=0):  # offsets: the row count of wire bytes
        self.data, self.offsets, self.nulls, self.start = data, offsets, nulls, start
        self.rows = offsets if isinstance(offsets, int) else len(offsets) // 8 - 1

    def _from(self, start):
        return _StringPart(self.data, self.offsets, self.nulls, start)

    def args(self):
        return self.data, self.offsets, self.nulls, self.start


class _FixedPart(_Pending):
    """One block's fixed-width column (with the null map of a Nullable over it) in a
    NumPy fetch, not converted yet: concat_numpy joins a result's parts and converts
    them (DateTime's UInt32 to datetime64, ...) in one pass into the result's array,
    where converting each block first made a temporary array per block and copied
    everything twice."""

    __slots__ = ("buf", "nulls", "start", "rows")

    def __init__(self, buf, nulls, rows, start=0):
        self.buf, self.nulls, self.rows, self.start = buf, nulls, rows, start

    def _from(self, start):
        return _FixedPart(self.buf, self.nulls, self.rows, start)


def _pending_fixed(col, name):
    """A fixed-width column (or Nullable over one) as a _FixedPart, else None."""
    inner = unwrap(name)[0]
    if col[0] == "b":
        buf, nulls = col[1], None
    elif col[0] == "n" and col[2][0] == "b":
        buf, nulls = col[2][1], col[1]
    else:
        return None
    dtype = _buffer_dtype(inner)
    return _FixedPart(buf, nulls, len(buf) // (1 if dtype == "?" else int(dtype[2:])))


def _join_fixed(np, parts, name):
    """_FixedParts -> one array of the type (as _np_fixed gives it; MaskedArray for a
    Nullable, with no mask array when nothing is NULL, as numpy.ma.concatenate)."""
    inner = unwrap(name)[0]
    base = parse_type(inner)[0]
    raw = [np.frombuffer(p.buf, dtype=_buffer_dtype(inner))[p.start:] for p in parts]
    if base in ("Date", "Date32", "DateTime"):  # widened to int64 while joined
        data = np.concatenate(raw, dtype="<i8").view("datetime64[D]" if base != "DateTime" else "datetime64[s]")
    else:
        data = raw[0] if len(raw) == 1 else np.concatenate(raw)
        if base == "DateTime64":
            unit, factor = _dt64_unit(_datetime_info(inner)[0])
            if factor != 1:
                data = np.multiply(data, factor, out=data) if len(raw) > 1 else data * factor
            data = data.view(f"datetime64[{unit}]")
    if parts[0].nulls is None:
        return data
    masks = [np.frombuffer(p.nulls, dtype=bool)[p.start:] for p in parts]
    if len(masks) == 1:
        return np.ma.MaskedArray(data, mask=masks[0])
    out = data.view(np.ma.MaskedArray)
    mask = np.concatenate(masks)
    out._mask = mask if mask.any() else np.ma.nomask
    return out


def _pack_strings(np, parts, name):
    """_StringParts -> one StringDType array (MaskedArray for Nullable(String))."""
    from .. import _engine

    nullable = unwrap(name)[1]
    data = _engine.np_strings_pack([p.args() for p in parts], nullable, name)
    if not nullable:
        return data
    mask = np.concatenate([np.frombuffer(p.nulls, dtype=bool)[p.start:] for p in parts])
    return np.ma.MaskedArray(data, mask=mask)


def numpy_column(np, col, name, strings=False, pending=False):
    """One block's column -> NumPy array (MaskedArray for Nullable); strings: String
    columns as StringDType (mode 4), also when a block came as Python values; a mode-4
    String column is a _StringPart until concat_numpy; pending: a fixed-width column
    (or Nullable over one) is a _FixedPart until concat_numpy."""
    if pending:
        part = _pending_fixed(col, name)
        if part is not None:
            return part
    if strings and _is_text(name):
        if col[0] in ("S", "s"):
            return _StringPart(col[1], col[2], None)
        if col[0] == "n" and col[2][0] in ("S", "s"):
            return _StringPart(col[2][1], col[2][2], col[1])
        arr = numpy_column(np, col, name)
        return arr if arr.dtype.kind == "T" else _as_stringdtype(np, arr, unwrap(name)[1])
    kind = col[0]
    inner, nullable, lowcard = unwrap(name)
    if kind == "b":
        return _np_fixed(np, col[1], inner)
    if kind == "n":
        mask = np.frombuffer(col[1], dtype=bool)
        data = numpy_column(np, col[2], inner)
        if data.dtype == object:  # a fresh array (the decoder's or made here): NULLs as None in place
            data[mask] = None
        return np.ma.MaskedArray(data, mask=mask)
    if kind == "l":
        d = col[1]  # a String dictionary comes as wire bytes in mode 4
        dictionary = _pack_strings(np, [_StringPart(d[1], d[2], None)], inner) if d[0] in ("S", "s") else \
            numpy_column(np, d, inner)
        idx = np.frombuffer(col[2], dtype=f"<u{col[3]}")
        data = dictionary[idx]
        if nullable:  # index 0 is NULL
            mask = idx == 0
            if data.dtype.kind == "T":  # StringDType: NULLs as NA, as Nullable(String) gives them
                data = data.astype(np.dtypes.StringDType(na_object=None))
            if data.dtype == object or data.dtype.kind == "T":
                data[mask] = None
            return np.ma.MaskedArray(data, mask=mask)
        return data
    values = col[1]
    if kind in ("s", "S"):
        raise InterfaceError("a String column in buffers cannot be read as NumPy objects")
    if kind == "a":  # an object array made by the decoder
        return values.astype("float32") if parse_type(inner)[0] == "BFloat16" else values
    if nullable and _buffer_dtype(inner) is not None:
        mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        z = _zero(np, inner)
        return np.ma.MaskedArray(_np_objects(np, [z if v is None else v for v in values], inner), mask=mask)
    data = _np_objects(np, values, inner)
    if not nullable:
        return data
    return np.ma.MaskedArray(data, mask=np.fromiter((v is None for v in values), dtype=bool, count=len(values)))


def concat_numpy(np, parts, name, strings=False):
    if not parts:
        return numpy_column(np, ("o", []), name, strings)
    pending = next((type(p) for p in parts if isinstance(p, _Pending)), None)
    if pending is not None:
        # consecutive pending parts joined together (a block that came as Python values,
        # e.g. rows decoded before the fetch, is already an array)
        join = _pack_strings if pending is _StringPart else _join_fixed
        runs, packed = [], []
        for p in parts:
            if isinstance(p, pending):
                packed.append(p)
                continue
            if packed:
                runs.append(join(np, packed, name))
                packed = []
            runs.append(p)
        if packed:
            runs.append(join(np, packed, name))
        parts = runs
    if len(parts) == 1:
        return parts[0]
    if any(isinstance(p, np.ma.MaskedArray) for p in parts):
        return np.ma.concatenate(parts)
    return np.concatenate(parts)


# -- pandas ------------------------------------------------------------------------
def _tz_name(tz):
    """A tzinfo's IANA name for pandas/Arrow (ZoneInfo key, UTC)."""
    if tz is None or tz is False:
        return None
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if key:
        return key
    if tz is datetime.timezone.utc or tz.utcoffset(None) == datetime.timedelta(0):
        return "UTC"
    return str(tz)


def column_tz(name, conn_tz):
    """The timezone the row path gives a DateTime column's values: the column's, else
    the connection's; None: naive UTC (conn_tz False: always naive)."""
    if conn_tz is False:
        return None
    tz = _datetime_info(name)[1]
    return tz or _tz_name(conn_tz)


def arrow_strings_dtype(pd):
    """pandas' default string dtype when it is Arrow-backed (pandas 3 with pyarrow), else
    None: fetch_df() then reads String columns in Arrow mode, without a str per value."""
    dtype = pd.Series(["a"]).dtype
    return dtype if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow" else None


def pandas_series(pd, np, parts, name, col_name, conn_tz):
    """The numpy parts of a column (or Categoricals for LowCardinality, Arrow-backed
    string arrays for String) -> Series."""
    inner, nullable, lowcard = unwrap(name)
    base = parse_type(inner)[0]
    if lowcard and parts and all(isinstance(p, pd.Categorical) for p in parts):
        from pandas.api.types import union_categoricals

        cat = parts[0] if len(parts) == 1 else union_categoricals(parts)
        return pd.Series(cat, name=col_name)
    ext = [p for p in parts if isinstance(p, pd.api.extensions.ExtensionArray) and not isinstance(p, pd.Categorical)]
    if ext and len(ext) == len(parts):  # Arrow-backed strings
        return pd.Series(type(ext[0])._concat_same_type(parts), name=col_name)
    if ext:  # with blocks of Python str (rows decoded before, not UTF-8): all as objects
        parts = [np.asarray(p, dtype=object) if any(p is e for e in ext) else p for p in parts]
    arr = concat_numpy(np, [np.asarray(p) if isinstance(p, pd.Categorical) else p for p in parts], name)
    mask = np.ma.getmaskarray(arr) if isinstance(arr, np.ma.MaskedArray) else None
    data = arr.data if mask is not None else arr
    # An array made here (concatenated, converted) is ours alone: pandas (3, copy on
    # write) would copy an ndarray again unless told not to; a view of the decoder's
    # read-only buffer (one block) is copied.
    own = data.base is None and data.flags.writeable
    if base in ("DateTime", "DateTime64", "Date", "Date32"):
        if base in ("Date", "Date32"):
            data = data.astype("datetime64[s]")
            own = True
        s = pd.Series(data, name=col_name, copy=not own)
        if mask is not None and mask.any():
            s = s.mask(mask)
        tz = column_tz(inner, conn_tz) if base.startswith("DateTime") else None
        return s.dt.tz_localize("UTC").dt.tz_convert(tz) if tz else s
    if mask is not None and data.dtype != object:
        if data.dtype.kind in "iu":
            return pd.Series(pd.arrays.IntegerArray(data, mask), name=col_name)
        if data.dtype.kind == "f":
            return pd.Series(pd.arrays.FloatingArray(data, mask), name=col_name)
        if data.dtype.kind == "b":
            return pd.Series(pd.arrays.BooleanArray(data, mask), name=col_name)
    return pd.Series(data, name=col_name, dtype=data.dtype, copy=not own)


def _strings_from_buffers(np, col):
    """An Arrow-mode String column ('s', or Nullable's 'n' over it) as str objects."""
    mask = np.frombuffer(col[1], dtype=bool) if col[0] == "n" else None
    data, offsets = (col[2] if mask is not None else col)[1:]
    o = np.frombuffer(offsets, dtype="<i8").tolist()
    values = np.fromiter((data[o[i]:o[i + 1]].decode("utf-8", "surrogateescape") for i in range(len(o) - 1)),
                         dtype=object, count=len(o) - 1)
    if mask is None:
        return values
    values[mask] = None
    return np.ma.MaskedArray(values, mask=mask)


def pandas_part(pd, np, col, name, str_dtype=None):
    """One block's column for pandas: LowCardinality as a Categorical over its
    dictionary; Arrow-mode strings as pandas' Arrow-backed str (no copy)."""
    inner, nullable, lowcard = unwrap(name)
    if col[0] == "s" or (col[0] == "n" and col[2][0] == "s"):
        pa = need("pyarrow")
        try:
            return pd.array(arrow_column(pa, np, col, name, None), dtype=str_dtype)
        except InterfaceError:  # not UTF-8: Python str with surrogateescape, as the row path
            return _strings_from_buffers(np, col)
    if col[0] == "l":
        dictionary = pandas_part(pd, np, col[1], inner, str_dtype)
        dictionary = np.asarray(dictionary, dtype=object) if not isinstance(dictionary, np.ndarray) else dictionary
        codes = np.frombuffer(col[2], dtype=f"<u{col[3]}").astype("int32")
        if nullable:  # slot 0 of the dictionary stands for NULL
            codes = codes - 1
            dictionary = dictionary[1:]
        return pd.Categorical.from_codes(codes, categories=pd.Index(dictionary, dtype=dictionary.dtype))
    return numpy_column(np, col, name)


# -- Arrow -------------------------------------------------------------------------
_GEO_LEVELS = {"Point": 0, "Ring": 1, "LineString": 1, "Polygon": 2, "MultiLineString": 2, "MultiPolygon": 3}


def arrow_type(pa, name, conn_tz, strings_as_bytes=False):
    """The Arrow type of a ClickHouse type, the dictionary for LowCardinality."""
    base, args = parse_type(name)
    if base == "Nullable":
        return arrow_type(pa, args[0], conn_tz, strings_as_bytes)
    if base == "LowCardinality":
        return pa.dictionary(pa.int32(), arrow_type(pa, args[0], conn_tz, strings_as_bytes))
    simple = {"Int8": pa.int8(), "Int16": pa.int16(), "Int32": pa.int32(), "Int64": pa.int64(),
              "UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64(),
              "Float32": pa.float32(), "Float64": pa.float64(), "BFloat16": pa.float32(), "Bool": pa.bool_(),
              "Date": pa.date32(), "Date32": pa.date32(), "IPv4": pa.string(), "IPv6": pa.string(),
              "Nothing": pa.null()}
    if base in simple:
        return simple[base]
    if base.startswith("Interval"):
        return pa.int64()
    if base in _GEO_LEVELS:  # the row path's tuples and lists of (x, y)
        t = pa.list_(pa.float64())
        for _ in range(_GEO_LEVELS[base]):
            t = pa.list_(t)
        return t
    if base in ("String", "FixedString", "JSON", "Object"):
        if base == "FixedString" and strings_as_bytes:
            return pa.binary(int(args[0]))
        return pa.large_binary() if strings_as_bytes and base != "JSON" else pa.large_string()
    if base.startswith("Enum"):
        return pa.string()
    if base == "UUID":
        return pa.uuid() if hasattr(pa, "uuid") else pa.string()
    if base == "DateTime" or base == "DateTime64":
        unit = _dt64_unit(_datetime_info(name)[0])[0] if base == "DateTime64" else "s"
        return pa.timestamp(unit, tz=column_tz(name, conn_tz))
    if base.startswith("Decimal"):
        if base == "Decimal":
            p, s = int(args[0]), int(args[1])
        else:
            p, s = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}[base], int(args[0])
        return pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)
    if base in ("Int128", "UInt128"):
        return pa.decimal256(39, 0)
    if base in ("Int256", "UInt256"):  # wider than any Arrow number: exact as text
        return pa.large_string()
    if base == "Array":
        return pa.list_(arrow_type(pa, args[0], conn_tz, strings_as_bytes))
    if base == "Map":
        return pa.map_(arrow_type(pa, args[0], conn_tz, strings_as_bytes),
                       arrow_type(pa, args[1], conn_tz, strings_as_bytes))
    if base == "Nested":  # Array(Tuple(...)) on the wire
        return pa.list_(arrow_type(pa, f"Tuple({', '.join(args)})", conn_tz, strings_as_bytes))
    if base == "Tuple":
        fields = []
        for i, a in enumerate(args):
            m = re.match(r"^([A-Za-z_]\w*|`(?:[^`\\]|\\.)*`)\s+(\S.*)$", a)
            if m:  # a named element, `name Type`
                fields.append((m.group(1).strip("`"), arrow_type(pa, m.group(2), conn_tz, strings_as_bytes)))
            else:
                fields.append((str(i + 1), arrow_type(pa, a, conn_tz, strings_as_bytes)))
        return pa.struct(fields)
    raise NotSupportedError(f"no Arrow type for ClickHouse type {name}")


def to_arrow_value(v, t, pa):
    """A row-path value as pyarrow.array() takes it for type t."""
    if v is None:
        return None
    if pa.types.is_struct(t):
        return {t.field(i).name: to_arrow_value(x, t.field(i).type, pa) for i, x in enumerate(v)}
    if pa.types.is_list(t):
        return [to_arrow_value(x, t.value_type, pa) for x in v]
    if pa.types.is_map(t):
        return [(to_arrow_value(k, t.key_type, pa), to_arrow_value(x, t.item_type, pa)) for k, x in v.items()]
    if pa.types.is_dictionary(t):
        return to_arrow_value(v, t.value_type, pa)
    if isinstance(t, getattr(pa, "UuidType", ())):
        return v.bytes
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return v if isinstance(v, str) else str(v)
    return v


def _validity(pa, np, mask):
    """Arrow validity bitmap (1 = valid) from a NULL mask, None when nothing is NULL."""
    if mask is None or not mask.any():
        return None, 0
    return pa.py_buffer(np.packbits(~mask, bitorder="little")), int(mask.sum())


def arrow_column(pa, np, col, name, conn_tz, strings_as_bytes=False, mask=None):
    """One block's column -> pyarrow Array (nulls from `mask` for a Nullable's inner column)."""
    kind = col[0]
    t = arrow_type(pa, name, conn_tz, strings_as_bytes)
    inner, nullable, lowcard = unwrap(name)
    if kind == "n":
        return arrow_column(pa, np, col[2], inner, conn_tz, strings_as_bytes, np.frombuffer(col[1], dtype=bool))
    if kind == "l":
        dictionary = arrow_column(pa, np, col[1], inner, conn_tz, strings_as_bytes)
        idx = np.frombuffer(col[2], dtype=f"<u{col[3]}").astype("int32")
        indices = pa.array(idx, mask=(idx == 0) if nullable else None)
        return pa.DictionaryArray.from_arrays(indices, dictionary)
    if kind == "s":
        n = len(col[2]) // 8 - 1
        validity, nulls = _validity(pa, np, mask)
        arr = pa.Array.from_buffers(t, n, [validity, pa.py_buffer(col[2]), pa.py_buffer(col[1])], nulls)
        if pa.types.is_large_string(t):
            try:
                arr.validate(full=True)
            except pa.ArrowInvalid as e:
                raise InterfaceError(f"a String value is not UTF-8 (Arrow strings must be): "
                                     f"connect with strings_as_bytes=True for large_binary ({e})") from e
        return arr
    if kind == "b":
        a = np.frombuffer(col[1], dtype=_buffer_dtype(inner))
        base = parse_type(inner)[0]
        if base == "Date":
            a = a.astype("<i4")
        elif base == "DateTime":
            a = a.astype("<i8")
        elif base == "DateTime64":
            factor = _dt64_unit(_datetime_info(inner)[0])[1]
            if factor != 1:
                a = a * factor
        elif base == "Bool":
            return pa.array(a, mask=mask if mask is not None and mask.any() else None)
        validity, nulls = _validity(pa, np, mask)
        return pa.Array.from_buffers(t, len(a), [validity, pa.py_buffer(a)], nulls)
    values = col[1]
    if mask is not None:
        values = [None if m else v for v, m in zip(values, mask.tolist())]
    if pa.types.is_timestamp(t):
        utc = datetime.timezone.utc
        values = [v if v is None or v.tzinfo is None else v.astimezone(utc).replace(tzinfo=None) for v in values]
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)):
        values = [to_arrow_value(v, t, pa) for v in values]
    if pa.types.is_dictionary(t):
        return pa.array(values, type=t.value_type).dictionary_encode().cast(t)
    if isinstance(t, getattr(pa, "UuidType", ())):
        return pa.ExtensionArray.from_storage(t, pa.array(values, type=t.storage_type))
    return pa.array(values, type=t)


def arrow_schema(pa, names, types, conn_tz, strings_as_bytes=False):
    return pa.schema([pa.field(n, arrow_type(pa, t, conn_tz, strings_as_bytes), nullable=True)
                      for n, t in zip(names, types)])


def arrow_batch(pa, np, names, types, cols, conn_tz, strings_as_bytes=False, skip=0):
    arrays = [arrow_column(pa, np, c, t, conn_tz, strings_as_bytes) for c, t in zip(cols, types)]
    batch = pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(pa, names, types, conn_tz, strings_as_bytes))
    return batch.slice(skip) if skip else batch


def row_value(v, name):
    """An Arrow value (to_pylist()) as the row path gives it for ClickHouse type `name`:
    for Django's converters, which expect the row path's values."""
    if v is None:
        return None
    inner = unwrap(name)[0]
    base, args = parse_type(inner)
    if base in ("IPv4", "IPv6"):
        import ipaddress

        return (ipaddress.IPv4Address if base == "IPv4" else ipaddress.IPv6Address)(v)
    if base == "UUID" and not isinstance(v, uuid_mod.UUID):
        return uuid_mod.UUID(bytes=v) if isinstance(v, bytes) else uuid_mod.UUID(v)
    if base in ("Int256", "UInt256", "Int128", "UInt128"):
        return int(v)
    if base == "Array":
        return [row_value(x, args[0]) for x in v]
    if base == "Map":
        return {row_value(k, args[0]): row_value(x, args[1]) for k, x in v}
    if base == "Tuple":
        elems = [re.sub(r"^([A-Za-z_]\w*|`(?:[^`\\]|\\.)*`)\s+(?=\S)", "", a) for a in args]
        return tuple(row_value(x, t) for x, t in zip(v.values(), elems))
    return v
