"""String columns as NumPy StringDType arrays (fetchnumpy(strings="str"), the default on
NumPy >= 2; ext/columnar_strings.c) against the row path, value by value, on the server
and the embedded engine: empty strings, NUL bytes, long values, multi-block results,
NULLs, LowCardinality; values that are not UTF-8 are refused; the C decoder against
Python's UTF-8 decoder (hypothesis); the NumPy C API slots we call against the
installed NumPy's header."""
import os
import re
import struct

import pytest
from hypothesis import given, settings, strategies as st

import clickhouse_backend.driver as chd
from clickhouse_backend import _engine
from tests.test_columnar import conn  # noqa: F401 (the fixture: server and embedded)

np = pytest.importorskip("numpy")
if not hasattr(np.dtypes, "StringDType"):
    pytest.skip("NumPy < 2 has no StringDType", allow_module_level=True)

SD = np.dtypes.StringDType


# empty, NUL bytes inside and at the ends, multi-byte text, 15/16/17 bytes (NumPy keeps
# short strings inline, longer ones in the array's arena), a long value
VALUES = ["''", "'a\\0b'", "'\\0'", "'x\\0'", "'héllo 日本 🎉'", f"'{'a' * 15}'", f"'{'b' * 16}'",
          f"'{'c' * 17}'", f"'{'é' * 3000}'", "toString(number)"]  # 18.16 has no repeat()


def strings_sql(ctype, n=23):
    exprs = ", ".join(VALUES)
    return (f"SELECT CAST([{exprs}, NULL][number % {len(VALUES) + 1} + 1] AS {ctype}) AS s, number AS k "
            f"FROM system.numbers LIMIT {n}")


def as_list(a):
    """An array's values, NULL (masked) as None."""
    mask = np.ma.getmaskarray(a) if isinstance(a, np.ma.MaskedArray) else None
    data = np.ma.getdata(a).tolist()
    return data if mask is None else [None if m else v for v, m in zip(data, mask.tolist())]


@pytest.mark.parametrize("ctype", ["Nullable(String)", "String", "LowCardinality(String)",
                                   "LowCardinality(Nullable(String))"])
@pytest.mark.parametrize("block", [1, 4, 65536])  # one-row blocks, several blocks, one block
def test_string_dtype_as_the_row_path(conn, ctype, block):
    if conn.target == "server" and "LowCardinality" in ctype:
        pytest.skip("LowCardinality is experimental on 18.16 (tested on chDB)")
    nullable = "Nullable" in ctype
    sql = strings_sql(ctype if nullable else f"{ctype.replace('String', 'Nullable(String)')}")
    if not nullable:  # the NULL slot as ''
        sql = strings_sql(ctype).replace(", NULL]", ", '']")
    cur = conn.cursor()
    cur.execute(sql, settings={"max_block_size": block})
    rows = cur.fetchall()
    want = [r[0] for r in rows]
    assert len(want) == 23 and "a\x00b" in want and "" in want and (None in want) == nullable
    cur.execute(sql, settings={"max_block_size": block})
    a = cur.fetchnumpy()["s"]
    assert np.ma.getdata(a).dtype == (SD(na_object=None) if nullable else SD())
    assert isinstance(a, np.ma.MaskedArray) == nullable
    assert as_list(a) == want
    if nullable:  # NULL is masked and NA (None) in the data too
        assert np.ma.getmaskarray(a).tolist() == [v is None for v in want]
        assert [v for v, w in zip(np.ma.getdata(a).tolist(), want) if w is None] == [None] * want.count(None)
    cur.execute(sql, settings={"max_block_size": block})
    objs = cur.fetchnumpy(strings="object")["s"]
    assert np.ma.getdata(objs).dtype == object and as_list(objs) == want
    cur.execute(sql, settings={"max_block_size": block})
    blocks = list(cur.numpy_blocks())
    assert all(np.ma.getdata(b["s"]).dtype.kind == "T" for b in blocks)
    assert [v for b in blocks for v in as_list(b["s"])] == want
    if block == 4:
        assert len(blocks) == 6


def test_rows_read_before_the_fetch_join_as_string_dtype(conn):
    """Rows buffered by fetchmany() across a block end come as Python values: they are
    made StringDType too, so the column has one dtype."""
    cur = conn.cursor()
    sql = strings_sql("Nullable(String)")
    cur.execute(sql, settings={"max_block_size": 4})
    rows = cur.fetchmany(6)
    a = cur.fetchnumpy()["s"]
    cur.execute(sql)
    want = [r[0] for r in cur.fetchall()]
    assert [r[0] for r in rows] == want[:6]
    assert np.ma.getdata(a).dtype == SD(na_object=None) and as_list(a) == want[6:]


def test_not_utf8_in_rows_read_before_is_refused_too(conn):
    cur = conn.cursor()
    sql = "SELECT arrayJoin(['a', 'b', unhex('c3'), 'c']) AS s"
    cur.execute(sql, settings={"max_block_size": 2})
    cur.fetchmany(1)  # a block's rows buffered, the not-UTF-8 one among those not fetched yet
    with pytest.raises(chd.InterfaceError, match="not UTF-8"):
        cur.fetchnumpy()
    cur.execute(sql, settings={"max_block_size": 2})
    cur.fetchmany(1)
    assert cur.fetchnumpy(strings="object")["s"].tolist() == ["b", "\udcc3", "c"]


def test_not_utf8_already_fetched_is_not_in_the_arrays(conn):
    cur = conn.cursor()
    cur.execute("SELECT arrayJoin(['a', unhex('c3'), 'b', 'c']) AS s", settings={"max_block_size": 2})
    assert [r[0] for r in cur.fetchmany(3)] == ["a", "\udcc3", "b"]  # the row path's surrogateescape
    a = cur.fetchnumpy()["s"]
    assert a.dtype == SD() and a.tolist() == ["c"]


def test_bad_strings_argument(conn):
    cur = conn.cursor()
    cur.execute("SELECT 'a' AS s")
    with pytest.raises(chd.ProgrammingError, match="strings must be one of"):
        cur.fetchnumpy(strings="bytes")


# -- the C decoder alone -----------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def block(ctype, payload, n):
    return varint(1) + varint(n) + varint(1) + b"s" + varint(len(ctype)) + ctype.encode() + payload


def utf8_or_none(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


def mode4_parts(raw):
    """decode_block(columnar=4)'s String column as np_strings_pack's part (start 0):
    the wire bytes of its values and their count."""
    col = _engine.decode_block(raw, columnar=4)[2][0]
    if col[0] == "n":
        assert col[2][0] == "S"
        return col[2][1], col[2][2], col[1], 0
    assert col[0] == "S"
    return col[1], col[2], None, 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.text(max_size=30).map(lambda t: t.encode("utf-8",
                                                                                                "surrogatepass"))),
                max_size=20),
       st.data())
def test_decoder_against_the_row_decoder(values, data):
    """Mode 4 + np_strings_pack give the row decoder's str for UTF-8 values (strict:
    surrogates, overlong forms and cut sequences are not), and refuse the column otherwise."""
    nulls = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    payload = b"".join(varint(len(v)) + v for v in values)
    rows = _engine.decode_block(block("String", payload, len(values)))[2]
    texts = [utf8_or_none(v) for v in values]
    if all(t is not None for t in texts):
        assert [r[0] for r in rows] == texts
    for ctype, body, null in (("String", payload, [False] * len(values)),
                              ("Nullable(String)", bytes(nulls) + payload, nulls)):
        raw = block(ctype, body, len(values))
        bad = [t is None and not m for t, m in zip(texts, null)]  # a NULL's bytes are not read
        if not values:
            assert _engine.decode_block(raw, columnar=4)[2] == [("o", [])]
            continue
        part = mode4_parts(raw)
        na = ctype.startswith("Nullable")
        if not any(bad):
            arr = _engine.np_strings_pack([part], na, "s")
            assert arr.dtype == (SD(na_object=None) if na else SD())
            assert arr.tolist() == [None if m else t for t, m in zip(texts, null)]
        else:
            with pytest.raises(chd.InterfaceError, match=f"column 's', row {bad.index(True)}: "):
                _engine.np_strings_pack([part], na, "s")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=30), max_size=8), min_size=1, max_size=5), st.data())
def test_parts_packed_once_from_their_start_rows(blocks, data):
    """Several blocks' parts, each from a start row, make one array of exactly the rows
    after each start, in order."""
    parts, want = [], []
    for texts in blocks:
        enc = [t.encode("utf-8", "surrogatepass") for t in texts]
        if any(utf8_or_none(e) is None for e in enc) or not enc:
            continue
        start = data.draw(st.integers(0, len(enc)))
        parts.append(mode4_parts(block("String", b"".join(varint(len(e)) + e for e in enc), len(enc)))[:3]
                     + (start,))
        want += texts[start:]
    arr = _engine.np_strings_pack(parts, False, "s")
    assert arr.dtype == SD() and arr.tolist() == want


@pytest.mark.parametrize("part", [
    (b"abc", struct.pack("<2q", 0, 2), None, 0),                 # offsets end before the data does
    (b"abc", struct.pack("<2q", 0, 3), None, 2),                 # start past the rows
    (b"abc", struct.pack("<3q", 0, 2, 1), None, 0),              # offsets going back
    (b"abc", struct.pack("<2q", 1, 3), None, 0),                 # not from 0
    (b"abc", struct.pack("<2q", 0, 3), b"\0\0", 0),              # null map of another length
    (b"abc", b"\0" * 12, None, 0),                               # not whole int64s
])
def test_pack_refuses_inconsistent_buffers(part):
    with pytest.raises(ValueError, match="inconsistent string buffers"):
        _engine.np_strings_pack([part], part[2] is not None, "s")


@pytest.mark.parametrize("part", [
    (varint(1) + b"a", 2, None, 0),                              # fewer values than n
    (varint(1) + b"a" + varint(1) + b"b", 1, None, 0),           # bytes after the n values
    (varint(5) + b"ab", 1, None, 0),                             # a value cut short
    (b"\xff" * 11, 1, None, 0),                                  # a length that is not a varint
    (varint(1) + b"a" + varint(1) + b"b", 1, None, 1),           # the skipped rows are checked too
    (varint(1) + b"a", 1, b"\0\0", 0),                           # null map of another length
    (varint(1) + b"a", 1, None, 2),                              # start past the rows
    (varint(0), 5, None, 0),                                     # more rows than bytes
])
def test_pack_refuses_inconsistent_wire_bytes(part):
    with pytest.raises(ValueError, match="inconsistent string buffers"):
        _engine.np_strings_pack([part], part[2] is not None, "s")


# Both ways of packing a short string or a NULL: written by np_strings_pack itself (on
# when its probe of the installed NumPy passed) and through NpyString_pack.
needs_direct = pytest.mark.skipif(not _engine.np_strings_direct(),
                                  reason="the installed NumPy lays out short strings differently")


def pack_both_ways(parts, na):
    out = []
    try:
        for direct in (True, False):
            assert _engine.np_strings_direct(direct) == direct
            try:
                out.append(("ok", _engine.np_strings_pack(parts, na, "s")))
            except chd.InterfaceError as e:
                out.append(("error", str(e)))
    finally:
        _engine.np_strings_direct(True)
    return out


@needs_direct
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=20).map(lambda t: t.encode("utf-8"))),
                min_size=1, max_size=40),
       st.data())
def test_direct_packing_as_npystring_pack(values, data):
    """Short strings (0-15 bytes, at the end of the buffer too), NULLs, longer values
    and bytes that are not UTF-8: the same array, or the same error, both ways."""
    nulls = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    start = data.draw(st.integers(0, len(values)))
    payload = b"".join(varint(len(v)) + v for v in values)
    for na in (False, True):
        part = (payload, len(values), bytes(nulls) if na else None, start)
        direct, packed = pack_both_ways([part], na)
        assert direct[0] == packed[0]
        if direct[0] == "error":
            assert direct[1] == packed[1]
            continue
        a, b = direct[1], packed[1]
        assert a.dtype == b.dtype and a.tolist() == b.tolist()
        want = [None if na and m else v.decode() for v, m in zip(values[start:], nulls[start:])]
        assert a.tolist() == want
        if not na:  # NumPy's own operations read the slots written here as theirs
            assert np.strings.str_len(a).tolist() == np.strings.str_len(b).tolist()
            assert (a == b).all()


@needs_direct
def test_direct_slots_are_numpy_strings():
    """Slots written here behave as NumPy's: compared, measured, replaced by longer and
    shorter values (the allocator takes over), sorted, and freed."""
    values = [b"", b"a", b"abc", b"x" * 15, b"y" * 16, "é日".encode() * 2, b"q" * 300]
    payload = b"".join(varint(len(v)) + v for v in values)
    a = _engine.np_strings_pack([(payload, len(values), None, 0)], False, "s")
    texts = [v.decode() for v in values]
    assert a.tolist() == texts
    assert np.strings.str_len(a).tolist() == [len(t) for t in texts]
    assert (a == np.array(texts, dtype=SD())).all()
    a[0], a[1], a[3] = "now a value longer than fifteen bytes", "", "z"
    assert a.tolist() == ["now a value longer than fifteen bytes", "", "abc", "z"] + texts[4:]
    assert sorted(a.tolist()) == np.sort(a).tolist()
    n = _engine.np_strings_pack([(payload, len(values), bytes([1, 0] * 3 + [1]), 0)], True, "s")
    assert n.tolist() == [None, "a", None, "x" * 15, None, "é日é日", None]
    n[0] = "back"
    assert n[0] == "back" and n.tolist()[2] is None
    del a, n


@pytest.mark.parametrize("payload,n", [(varint(5) + b"ab", 1), (b"\xff" * 11, 1), (b"", 2), (varint(1), 1)])
def test_decoder_refuses_cut_data(payload, n):
    with pytest.raises(chd.InterfaceError, match="malformed Native block"):
        _engine.decode_block(block("String", payload, n), columnar=4)


def test_numpy_api_slots_match_the_installed_header():
    """ext/columnar_strings.c calls NumPy's C API by slot number (no build dependency on
    NumPy): the slots and signatures must be those of the installed NumPy's header."""
    src = open(os.path.join(os.path.dirname(__file__), "..", "ext", "columnar_strings.c")).read()
    header = open(os.path.join(np.get_include(), "numpy", "__multiarray_api.h")).read()
    slots = dict(re.findall(r"#define SLOT_(\w+) (\d+)", src))
    assert set(slots) >= {"NpyString_pack", "NpyString_pack_null", "NpyString_acquire_allocator",
                          "NpyString_release_allocator", "GetNDArrayCFeatureVersion"}
    sigs = {"NpyString_pack": r"int \(\*\)\(npy_string_allocator \*, npy_packed_static_string \*, const char \*, size_t\)",
            "NpyString_pack_null": r"int \(\*\)\(npy_string_allocator \*, npy_packed_static_string \*\)",
            "NpyString_acquire_allocator": r"npy_string_allocator \* \(\*\)\(const PyArray_StringDTypeObject \*\)",
            "NpyString_release_allocator": r"void \(\*\)\(npy_string_allocator \*\)",
            "GetNDArrayCVersion": r"unsigned int \(\*\)\(void\)",
            "GetNDArrayCFeatureVersion": r"unsigned int \(\*\)\(void\)"}
    for name, slot in slots.items():
        full = name if name.startswith("Npy") else "PyArray_" + name
        m = re.search(rf"#define {full} \\\n\s+\(\*\((.*?)\) \\\n\s+PyArray_API\[(\d+)\]\)", header)
        assert m, name
        assert m.group(2) == slot, name
        assert re.fullmatch(sigs[name], m.group(1)), (name, m.group(1))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=30), st.integers(0, 30), st.sampled_from(["<i4", "<i8"]))
def test_encode_string_buffers_as_encode_strings(values, start, width):
    """The insert path's String encoder from Arrow's buffers (one exact-size allocation)
    gives the bytes of the per-value encoder, sliced offsets (not from 0) included."""
    data = b"".join(values)
    offsets = np.cumsum([0] + [len(v) for v in values]).astype(width)
    start = min(start, len(values))
    assert _engine.encode_string_buffers(data, offsets[start:]) == _engine.encode_strings(values[start:])


@pytest.mark.parametrize("offsets,match", [([0, 5, 3], "backwards"), ([0, 99], "past the data"),
                                           ([], "n \\+ 1"), ([-1, 0], "past the data")])
def test_encode_string_buffers_refuses_bad_offsets(offsets, match):
    with pytest.raises(ValueError, match=match):
        _engine.encode_string_buffers(b"abcdefgh", np.array(offsets, dtype="<i8"))
