"""Streaming decoders of ext/decompress.c through their test binding
(_engine_testing.Decompressor, _engine.compress).

Compressed inputs are made at test time by the real tools (the gzip and zstd
CLIs, and the ClickHouse server itself), never by the code under test, so an
encoder/decoder pair cannot agree on a private mistake.
"""
import random
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import zlib

import pytest

from clickhouse_backend import _engine
from tests.conftest import parse_server_url
from tests.engine_testing import testing

RATIO_MIN_OUTPUT = 1 << 20  # DC_RATIO_MIN_OUTPUT in ext/decompress.h
CHUNK = 64 * 1024  # DC_CHUNK


def tool(*argv, data):
    exe = shutil.which(argv[0])
    if exe is None:
        pytest.fail(f"{argv[0]} CLI not installed (scripts/test.sh installs it)")
    return subprocess.run([exe, *argv[1:]], input=data, stdout=subprocess.PIPE, check=True).stdout


def gzip_cli(data, *opts):
    return tool("gzip", "-c", "-n", *opts, data=data)  # -n: no timestamp, same bytes every run


def zstd_cli(data, *opts):
    return tool("zstd", "-q", "-c", *opts, data=data)


def sample(n, seed=1):
    """Text-like data: compressible, but not trivially (words from a seeded RNG)."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnop\t\n ") for _ in range(rng.randint(1, 12))) for _ in range(300)]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words)
    return bytes(out[:n])


def decode(kind, data, pieces=None, **limits):
    """Feeds data in the given piece sizes (cycled), returns the decoded bytes."""
    d = testing.Decompressor(kind, **limits)
    out = []
    pos, i = 0, 0
    while pos < len(data):
        n = pieces[i % len(pieces)] if pieces else len(data)
        out.append(d.feed(data[pos:pos + n]))
        pos += n
        i += 1
    d.finish()
    assert d.total_in == len(data)
    return b"".join(out)


KINDS = {
    "gzip": lambda data: gzip_cli(data),
    "gzip-9": lambda data: gzip_cli(data, "-9"),
    "gzip-1": lambda data: gzip_cli(data, "-1"),
    "zstd": lambda data: zstd_cli(data),
    "zstd-19": lambda data: zstd_cli(data, "-19"),
    "zstd-nocheck": lambda data: zstd_cli(data, "--no-check"),
}


def kind_of(name):
    return name.split("-")[0]


@pytest.mark.parametrize("name", KINDS)
def test_every_piece_size(name):
    plain = sample(6000)
    comp = KINDS[name](plain)
    assert len(comp) < len(plain) // 2
    for size in range(1, len(comp) + 1):
        assert decode(kind_of(name), comp, [size]) == plain, size


@pytest.mark.parametrize("name", KINDS)
def test_large_stream_crosses_output_chunks(name):
    plain = sample(3 * CHUNK + 123, seed=2) + bytes(random.Random(3).randbytes(CHUNK))
    comp = KINDS[name](plain)
    rng = random.Random(4)
    for pieces in ([1, 2, 3, 4095], [CHUNK - 1, CHUNK, CHUNK + 1], [rng.randint(1, 9000) for _ in range(50)], None):
        assert decode(kind_of(name), comp, pieces) == plain


def test_gzip_concatenated_members():
    a, b, c = sample(5000, 5), b"", sample(70000, 6)
    comp = gzip_cli(a) + gzip_cli(b, "-9") + gzip_cli(c, "-1")
    for pieces in ([1], [7], [len(comp)]):
        assert decode("gzip", comp, pieces) == a + b + c


def test_zstd_concatenated_and_skippable_frames():
    a, c = sample(5000, 7), sample(70000, 8)
    # skippable frame: magic 0x184D2A5? (little endian), 4-byte size, payload
    skip = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"xxxxx"
    comp = zstd_cli(a) + skip + zstd_cli(b"") + zstd_cli(c, "-19")
    for pieces in ([1], [13], [len(comp)]):
        assert decode("zstd", comp, pieces) == a + c


def test_zlib_and_raw_deflate_by_header():
    # HTTP "deflate" is zlib (RFC 1950) by the spec, raw deflate in some servers
    plain = sample(20000, 9)
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw_data = raw.compress(plain) + raw.flush()
    for comp in (zlib.compress(plain), zlib.compress(plain, 9), raw_data):
        for pieces in ([1], [3], None):
            assert decode("deflate", comp, pieces) == plain
    # the smallest raw deflate stream (an empty final fixed block) is 2 bytes
    assert decode("gzip", b"\x03\x00", [1]) == b""


@pytest.mark.parametrize("kind,comp", [("gzip", b"\x03\x00"), ("deflate", zlib.compress(b"abc"))])
def test_only_gzip_allows_a_second_member(kind, comp):
    d = testing.Decompressor(kind)
    d.feed(comp)
    with pytest.raises(ValueError, match="after the end of the compressed stream"):
        d.feed(comp)


def test_data_after_gzip_member_is_rejected():
    d = testing.Decompressor("gzip")
    assert d.feed(gzip_cli(b"hello")) == b"hello"
    with pytest.raises(ValueError, match="after the end"):
        d.feed(b"\x00\x00\x00\x00")
    with pytest.raises(ValueError):  # the error is sticky
        d.finish()


def test_empty_body_is_fine():
    # Content-Encoding with an empty body (e.g. a 204) is not a truncated stream
    for kind in ("gzip", "zstd"):
        d = testing.Decompressor(kind)
        assert d.feed(b"") == b""
        d.finish()
        assert (d.total_in, d.total_out) == (0, 0)


@pytest.mark.parametrize("name", ["gzip", "zstd", "zstd-nocheck"])
def test_every_truncation_is_an_error(name):
    plain = sample(3000, 10)
    comp = KINDS[name](plain)
    for cut in range(1, len(comp)):
        d = testing.Decompressor(kind_of(name))
        with pytest.raises(ValueError, match="truncated|corrupt"):
            d.feed(comp[:cut])
            d.finish()


def test_truncated_second_gzip_member():
    comp = gzip_cli(b"first") + gzip_cli(b"second")
    d = testing.Decompressor("gzip")
    assert d.feed(comp[:-3]) == b"firstsecond"  # the data is all there, the trailer is not
    with pytest.raises(ValueError, match="truncated gzip data: the body ended inside a compressed member"):
        d.finish()


@pytest.mark.parametrize("name", ["gzip", "zstd"])
def test_corruption_is_detected_never_returned(name):
    """Any damaged byte either fails or (when it is a field that does not affect
    the content, like the gzip mtime) gives back exactly the original."""
    plain = sample(4000, 11)
    comp = KINDS[name](plain)
    errors = 0
    for pos in range(len(comp)):
        bad = bytearray(comp)
        bad[pos] ^= 0xFF
        try:
            out = decode(kind_of(name), bytes(bad), [97])
        except ValueError as e:
            assert "corrupt" in str(e) or "truncated" in str(e) or "window" in str(e), str(e)
            errors += 1
        else:
            assert out == plain, f"byte {pos} damaged, different data returned without an error"
    assert errors > len(comp) * 0.9


def test_gzip_crc_mismatch_message():
    comp = bytearray(gzip_cli(b"some data to protect"))
    comp[-8] ^= 1  # CRC-32 in the trailer
    with pytest.raises(ValueError, match="corrupt gzip data: incorrect data check"):
        decode("gzip", bytes(comp))


def test_zstd_window_larger_than_limit_is_refused():
    data = random.Random(12).randbytes(300_000)
    # stdin has no known size, so the frame keeps the 512 MiB window it asks for
    comp = zstd_cli(data, "--zstd=wlog=29")
    with pytest.raises(ValueError, match=r"window larger than 128 MiB"):
        decode("zstd", comp)
    assert decode("zstd", zstd_cli(data, "--long=27")) == data


@pytest.mark.parametrize("kind,make,n", [
    ("gzip", gzip_cli, 64 << 20),      # deflate tops out near 1000:1
    ("zstd", zstd_cli, 512 << 20),     # zstd does far more
])
def test_bomb_stopped_by_ratio(kind, make, n):
    bomb = make(bytes(n))
    assert len(bomb) * 500 < n
    d = testing.Decompressor(kind, max_ratio=100)
    with pytest.raises(ValueError, match="compression ratio exceeds max_ratio 100"):
        for i in range(0, len(bomb), 16384):
            d.feed(bomb[i:i + 16384])
    # decoding stopped right after the ratio was passed, not after 64 MiB
    assert d.total_out <= RATIO_MIN_OUTPUT + 2 * CHUNK
    with pytest.raises(ValueError, match="max_ratio"):
        d.finish()


@pytest.mark.parametrize("kind,make", [("gzip", gzip_cli), ("zstd", zstd_cli)])
def test_bomb_stopped_by_max_output(kind, make):
    bomb = make(bytes(32 << 20))
    d = testing.Decompressor(kind, max_output=5_000_000)
    with pytest.raises(ValueError, match=r"exceeds max_output \(5000000 bytes\)"):
        d.feed(bomb)  # one feed of the whole bomb
    assert 5_000_000 < d.total_out <= 5_000_000 + CHUNK


def test_limits_allow_what_is_within_them():
    plain = b" " * 900_000  # ratio > 1000, but below the 1 MiB floor of the ratio check
    assert decode("gzip", gzip_cli(plain), max_ratio=2) == plain
    plain = sample(3_000_000, 13)
    comp = zstd_cli(plain)
    assert decode("zstd", comp, [5000], max_output=len(plain), max_ratio=len(plain) / len(comp) + 0.1) == plain
    with pytest.raises(ValueError, match="max_output"):
        decode("zstd", comp, max_output=len(plain) - 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown compression kind 'br'"):
        testing.Decompressor("br")
    with pytest.raises(ValueError, match="unknown compression kind 'identity'"):
        testing.Decompressor("identity")
    with pytest.raises(ValueError, match="max_ratio"):
        testing.Decompressor("gzip", max_ratio=-1)
    with pytest.raises(ValueError, match="level out of range"):
        _engine.compress("gzip", b"x", level=10)
    with pytest.raises(ValueError, match="level out of range"):
        _engine.compress("zstd", b"x", level=99)
    with pytest.raises(ValueError, match="unknown compression kind"):
        _engine.compress("lz4", b"x")
    assert testing.Decompressor("GZIP").feed(gzip_cli(b"ok")) == b"ok"  # tokens are case-insensitive


@pytest.mark.parametrize("data", [b"", b"x", None], ids=["empty", "one", "large"])
def test_compress_is_read_by_the_cli_tools(data):
    if data is None:
        data = sample(2_000_000, 14) + random.Random(15).randbytes(200_000)
    for level in (0, 1, 9):
        comp = _engine.compress("gzip", data, level=level)
        assert comp[:2] == b"\x1f\x8b"
        assert tool("gzip", "-d", "-c", data=comp) == data
    for level in (0, 1, 19, -5):
        comp = _engine.compress("zstd", data, level=level)
        assert tool("zstd", "-d", "-q", "-c", data=comp) == data


def test_compress_levels_matter():
    data = sample(1_000_000, 16)
    assert len(_engine.compress("gzip", data, level=9)) < len(_engine.compress("gzip", data, level=1))
    assert len(_engine.compress("zstd", data, level=19)) < len(_engine.compress("zstd", data, level=1))
    assert len(_engine.compress("gzip", data)) < len(data) // 2


# --- the real server ----------------------------------------------------------

def _post(url, body, headers=(), **params):
    """POST to the HTTP interface without any automatic decoding (urllib does none)."""
    server = parse_server_url(url)
    q = dict(params)
    if "user" in server:
        q["user"] = server["user"]
    if "password" in server:
        q["password"] = server["password"]
    full = f"http://{server['host']}:{server['port']}/"
    if q:
        full += "?" + urllib.parse.urlencode(q)
    req = urllib.request.Request(full, data=body, headers=dict(headers))
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.headers.get("Content-Encoding"), r.read()


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_server_compressed_response(clickhouse_url, coding):
    query = b"SELECT number, toString(number * 7919), concat('row-', toString(number % 50)) FROM numbers(300000) FORMAT TSV"
    _, plain = _post(clickhouse_url, query)
    enc, comp = _post(clickhouse_url, query, {"Accept-Encoding": coding}, enable_http_compression=1)
    assert enc == coding
    assert len(plain) > 4_000_000 and len(comp) < len(plain) // 3
    for pieces in ([4096], [1, 1000, 16384, 333], None):
        assert decode(coding, comp, pieces) == plain


def test_server_compressed_native_and_error_body(clickhouse_url):
    query = b"SELECT toUInt64(number) AS n, toString(n) AS s FROM numbers(100000) FORMAT Native"
    _, plain = _post(clickhouse_url, query)
    enc, comp = _post(clickhouse_url, query, {"Accept-Encoding": "gzip"},
                      enable_http_compression=1, http_zlib_compression_level=9)
    assert enc == "gzip" and decode("gzip", comp, [8192]) == plain
    # error bodies come compressed too: the exception text must be decodable
    with pytest.raises(urllib.error.HTTPError) as ei:
        _post(clickhouse_url, b"SELECT throwIf(1)", {"Accept-Encoding": "gzip"}, enable_http_compression=1)
    assert ei.value.headers.get("Content-Encoding") == "gzip"
    assert b"DB::Exception" in decode("gzip", ei.value.read())


def test_server_reads_our_gzip_insert_body(clickhouse_url, scratch_db):
    rows = "".join(f"{i}\t{'v' * (i % 30)}\n" for i in range(200_000)).encode()
    _post(clickhouse_url, f"CREATE TABLE {scratch_db}.t (n UInt64, s String) ENGINE = Memory".encode())
    body = _engine.compress("gzip", rows)
    assert len(body) < len(rows) // 4
    _post(clickhouse_url, body, {"Content-Encoding": "gzip"}, query=f"INSERT INTO {scratch_db}.t FORMAT TSV")
    _, got = _post(clickhouse_url, f"SELECT count(), sum(n), sum(length(s)) FROM {scratch_db}.t".encode())
    assert got == f"200000\t{sum(range(200_000))}\t{sum(i % 30 for i in range(200_000))}\n".encode()
