"""Tests of the I/O-free HTTP/1.1 response parser (ext/httpparse.c) through its
test binding clickhouse_backend._engine_testing.HTTPResponseParser."""
import base64
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine_testing import testing

Parser = testing.HTTPResponseParser


def norm(events):
    """Merge adjacent body events: how the body is sliced depends on the feeds."""
    out = []
    for ev in events:
        if ev[0] == "body" and out and out[-1][0] == "body":
            out[-1] = ("body", out[-1][1] + ev[1])
        else:
            out.append(ev)
    return out


def feed_all(data, eof=False, **kw):
    p = Parser(**kw)
    ev = p.feed(data)
    if eof:
        ev += p.eof()
    return norm(ev)


def feed_bytewise(data, eof=False, **kw):
    p = Parser(**kw)
    ev = []
    for i in range(len(data)):
        ev += p.feed(data[i : i + 1])
    if eof:
        ev += p.eof()
    return norm(ev)


def error_of(fn, *args, **kw):
    with pytest.raises(ValueError) as ei:
        fn(*args, **kw)
    return str(ei.value)


def assert_all_splits(data, expected, eof=False, **kw):
    """Every split point (and byte-by-byte) gives the same events as one feed."""
    assert feed_all(data, eof, **kw) == expected
    assert feed_bytewise(data, eof, **kw) == expected
    for i in range(len(data) + 1):
        p = Parser(**kw)
        ev = p.feed(data[:i]) + p.feed(data[i:])
        if eof:
            ev += p.eof()
        assert norm(ev) == expected, i


CL_RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-ClickHouse-Summary:  {\"read_rows\":\"1\"} \t\r\n\r\nhello"
CL_EVENTS = [
    ("status", 200, "OK"),
    ("header", b"Content-Length", b"5"),
    ("header", b"X-ClickHouse-Summary", b'{"read_rows":"1"}'),
    ("headers_done",),
    ("body", b"hello"),
    ("done",),
]

CHUNKED_RESP = (
    b"HTTP/1.1 200 OK\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Keep-Alive: timeout=10\r\n"
    b"\r\n"
    b"5;name=value;x=\"q\"\r\nhello\r\n"
    b"A  \r\n0123456789\r\n"
    b"1b\r\n" + b"z" * 27 + b"\r\n"
    b"0\r\n"
    b"X-Trailer: yes\r\n"
    b"\r\n"
)
CHUNKED_EVENTS = [
    ("status", 200, "OK"),
    ("header", b"Transfer-Encoding", b"chunked"),
    ("header", b"Keep-Alive", b"timeout=10"),
    ("headers_done",),
    ("body", b"hello0123456789" + b"z" * 27),
    ("done",),
]


def test_content_length_all_splits():
    assert_all_splits(CL_RESP, CL_EVENTS)


def test_chunked_all_splits():
    assert_all_splits(CHUNKED_RESP, CHUNKED_EVENTS)


def test_chunked_bare_lf_and_uppercase_hex():
    data = b"HTTP/1.1 200 OK\nTransfer-Encoding: Chunked\n\nA\nabcdefghij\n0\n\n"
    expected = [
        ("status", 200, "OK"),
        ("header", b"Transfer-Encoding", b"Chunked"),
        ("headers_done",),
        ("body", b"abcdefghij"),
        ("done",),
    ]
    assert_all_splits(data, expected)


def test_read_until_close_all_splits():
    data = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body\r\n\r\nHTTP/1.1 more"
    expected = [
        ("status", 200, "OK"),
        ("header", b"Content-Type", b"text/plain"),
        ("headers_done",),
        ("body", b"some body\r\n\r\nHTTP/1.1 more"),
        ("done",),
    ]
    assert_all_splits(data, expected, eof=True)
    p = Parser()
    p.feed(data)
    assert p.keep_alive is False
    assert p.eof() == [("done",)]
    # the connection is over: more data or a second eof is an error
    assert "after the end" in error_of(p.feed, b"x")


def test_interim_1xx_skipped():
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 102 Processing\r\nX-Progress: 1\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    expected = [
        ("status", 201, "Created"),
        ("header", b"Content-Length", b"2"),
        ("headers_done",),
        ("body", b"ok"),
        ("done",),
    ]
    assert_all_splits(data, expected)


def test_101_is_an_error():
    assert "101" in error_of(feed_all, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(code):
    # Content-Length on a 304 describes the representation, not this message
    data = b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % code + CL_RESP
    expected = [
        ("status", code, "X"),
        ("header", b"Content-Length", b"10"),
        ("headers_done",),
        ("done",),
    ] + CL_EVENTS
    assert_all_splits(data, expected)


def test_head_response_has_no_body():
    p = Parser()
    p.expect_no_body()
    ev = p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + CL_RESP)
    assert norm(ev) == [
        ("status", 200, "OK"),
        ("header", b"Content-Length", b"100"),
        ("headers_done",),
        ("done",),
    ] + CL_EVENTS  # the flag applies to one response only


def test_zero_content_length():
    assert feed_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == [
        ("status", 200, "OK"),
        ("header", b"Content-Length", b"0"),
        ("headers_done",),
        ("done",),
    ]


def test_status_line_variants():
    assert feed_all(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")[0] == ("status", 200, "")
    assert feed_all(b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n")[0] == ("status", 200, "")
    assert feed_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")[0] == (
        "status",
        500,
        "Internal Server Error",
    )
    # obs-text in the reason is allowed (latin-1 in the binding)
    assert feed_all(b"HTTP/1.1 404 Nicht gef\xfcnden\r\nContent-Length: 0\r\n\r\n")[0] == (
        "status",
        404,
        "Nicht gef\xfcnden",
    )


@pytest.mark.parametrize(
    "head,keep",
    [
        (b"HTTP/1.1 200 OK\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n", True),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n", False),
    ],
)
def test_keep_alive(head, keep):
    p = Parser()
    ev = p.feed(head + b"Content-Length: 1\r\n\r\nx")
    assert ev[-1] == ("done",)
    assert p.keep_alive is keep


def test_chunked_with_content_length_is_not_reused():
    p = Parser()
    ev = p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
    assert norm(ev)[-2:] == [("body", b"x"), ("done",)]
    assert p.keep_alive is False


def test_pipelined_responses_stop_after_done():
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    data = CL_RESP + second + CHUNKED_RESP
    p = Parser()
    consumed, events = p.feed_once(data)
    assert consumed == len(CL_RESP)
    assert norm(events) == CL_EVENTS
    consumed2, events2 = p.feed_once(data[consumed:])
    assert consumed2 == len(second)
    assert norm(events2)[-2:] == [("body", b"abc"), ("done",)]
    # feed() drives every message; all split points agree
    assert_all_splits(data, CL_EVENTS + norm(events2) + CHUNKED_EVENTS)


def test_pause_and_resume():
    p = Parser(pause_on=("body",))
    data = CL_RESP[:-2]
    consumed, ev = p.feed_once(data)
    assert consumed == len(data)
    assert ev[-1] == ("body", b"hel")
    consumed, ev = p.feed_once(b"lo" + b"HTTP/1.1")
    assert (consumed, ev) == (2, [("body", b"lo")])
    # message complete but on_done not yet called: an empty feed delivers it
    consumed, ev = p.feed_once(b"")
    assert (consumed, ev) == (0, [("done",)])

    p = Parser(pause_on=("headers_done",))
    consumed, ev = p.feed_once(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert consumed == len(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert ev[-1] == ("headers_done",)
    assert p.feed_once(b"")[1] == [("done",)]


def test_pause_on_every_event_gives_same_result():
    kinds = ("status", "header", "headers_done", "body", "done")
    data = CL_RESP + CHUNKED_RESP
    assert norm(Parser(pause_on=kinds).feed(data)) == CL_EVENTS + CHUNKED_EVENTS


def test_large_body_in_pieces():
    body = bytes(range(256)) * 4096  # 1 MiB
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    p = Parser()
    got = []
    for i in range(0, len(data), 4093):
        for ev in p.feed(data[i : i + 4093]):
            if ev[0] == "body":
                got.append(ev[1])
    assert b"".join(got) == body

    chunked = b"".join(b"%x\r\n" % len(body[i : i + 5000]) + body[i : i + 5000] + b"\r\n" for i in range(0, len(body), 5000))
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"
    p = Parser()
    ev = []
    for i in range(0, len(data), 777):
        ev += p.feed(data[i : i + 777])
    ev = norm(ev)
    assert ev[-2:] == [("body", body), ("done",)]


# --- limits ---------------------------------------------------------------


def test_status_line_limit():
    ok = b"HTTP/1.1 200 " + b"R" * (8192 - 13) + b"\r\nContent-Length: 0\r\n\r\n"
    assert feed_all(ok)[-1] == ("done",)
    bad = b"HTTP/1.1 200 " + b"R" * (8192 - 12) + b"\r\n\r\n"
    assert error_of(feed_all, bad) == "HTTP status line too long"
    assert error_of(feed_bytewise, bad) == "HTTP status line too long"
    # no newline at all: fails once the limit is passed, without waiting for more
    p = Parser()
    assert "too long" in error_of(p.feed, b"HTTP/1.1 200 " + b"R" * 9000)
    assert "too long" in error_of(feed_all, b"HTTP/1.1 200 RRRR\r\n\r\n", max_status_line=16)


def test_header_line_limit():
    ok = b"HTTP/1.1 200 OK\r\nX: " + b"v" * (16384 - 3) + b"\r\nContent-Length: 0\r\n\r\n"
    assert feed_all(ok)[1] == ("header", b"X", b"v" * (16384 - 3))
    bad = b"HTTP/1.1 200 OK\r\nX: " + b"v" * (16384 - 2) + b"\r\n\r\n"
    assert error_of(feed_all, bad) == "HTTP header line too long"
    assert error_of(feed_bytewise, bad) == "HTTP header line too long"


def test_total_headers_limit():
    line = b"X-H: " + b"v" * 8000 + b"\r\n"
    data = b"HTTP/1.1 200 OK\r\n" + line * 9 + b"\r\n"  # > 64 KiB, each line < 16 KiB
    assert error_of(feed_all, data) == "HTTP response headers too large"
    assert error_of(feed_all, b"HTTP/1.1 200 OK\r\n" + line * 2 + b"\r\n", max_headers_size=10000) == (
        "HTTP response headers too large"
    )


def test_header_count_limit():
    ok = b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 127 + b"Content-Length: 0\r\n\r\n"
    ev = feed_all(ok)
    assert len([e for e in ev if e[0] == "header"]) == 128 and ev[-1] == ("done",)
    bad = b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 129 + b"\r\n"
    assert error_of(feed_all, bad) == "too many HTTP response headers"
    assert error_of(feed_all, b"HTTP/1.1 200 OK\r\nA: b\r\nA: b\r\n\r\n", max_headers=1) == (
        "too many HTTP response headers"
    )


def test_chunk_size_line_limit():
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 20000 + b"\r\nx\r\n0\r\n\r\n"
    assert "too long" in error_of(feed_all, data)


# --- garbage and malformed input -------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>hello</body></html>",
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00",
        b"\x15\x03\x03\x00\x02\x02\x46",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.x 200 OK\r\n\r\n",
        b"HTTP/1.1 200OK\r\n\r\n",
        b"HTTP/1.1 200 O\x00K\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
    ],
)
def test_garbage_status(data):
    assert error_of(feed_all, data).startswith("invalid HTTP status line")
    assert error_of(feed_bytewise, data).startswith("invalid HTTP status line")


@pytest.mark.parametrize("first", [b"<", b"S", b"\x16", b"H\x03", b"HTTP/2"])
def test_garbage_detected_from_first_bytes(first):
    p = Parser()
    assert error_of(p.feed, first).startswith("invalid HTTP status line")


def test_prefix_of_status_line_waits():
    p = Parser()
    assert p.feed(b"HTTP/1") == []
    assert p.feed(b".1 200 O") == []
    assert p.feed(b"K\r\n") == [("status", 200, "OK")]


@pytest.mark.parametrize(
    "header",
    [
        b"Name : value",
        b"Name",
        b": value",
        b" folded: value",
        b"Na me: value",
        b"Name: val\x00ue",
        b"Name: val\x7fue",
        b"Name: a\rb",
        b"N\xe9: v",
    ],
)
def test_bad_header(header):
    data = b"HTTP/1.1 200 OK\r\n" + header + b"\r\nContent-Length: 0\r\n\r\n"
    assert error_of(feed_all, data) == "invalid HTTP header line"


@pytest.mark.parametrize(
    "value", [b"abc", b"-1", b"+1", b"1 2", b"1, 1", b"", b"0x10", b"99999999999999999999999"]
)
def test_bad_content_length(value):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\n"
    assert error_of(feed_all, data) == "invalid Content-Length"


def test_duplicate_content_length():
    assert feed_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab")[-2:] == [
        ("body", b"ab"),
        ("done",),
    ]
    assert error_of(feed_all, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab") == (
        "invalid Content-Length"
    )
    # the largest 64-bit length parses; the body is then just truncated
    p = Parser()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nab")
    assert "closed in the middle" in error_of(p.eof)


@pytest.mark.parametrize("te", [b"gzip", b"chunked, gzip", b"gzip, chunked", b"chunked, chunked", b"br"])
def test_unsupported_transfer_encoding(te):
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + b"\r\n\r\n"
    assert error_of(feed_all, data) == "unsupported Transfer-Encoding"


@pytest.mark.parametrize(
    "body,msg",
    [
        (b"zz\r\n", "invalid chunked encoding"),
        (b";ext\r\n", "invalid chunked encoding"),
        (b"\r\n", "invalid chunked encoding"),
        (b"5\r\nhelloX\r\n", "invalid chunked encoding"),
        (b"5\r\nhello\rX", "invalid chunked encoding"),
        (b"5 5\r\n", "invalid chunked encoding"),
        (b"5\rX", "invalid chunked encoding"),
        (b"1;a\x00b\r\n", "invalid chunked encoding"),
        (b"10000000000000000\r\n", "chunk size too large"),
        (b"0\r\nbad trailer\r\n\r\n", "invalid HTTP header line"),
    ],
)
def test_bad_chunks(body, msg):
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    assert error_of(feed_all, data) == msg
    assert error_of(feed_bytewise, data) == msg


def test_max_chunk_size_accepted():
    p = Parser()
    ev = p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc")
    assert ev[-1] == ("body", b"abc")
    assert "closed in the middle" in error_of(p.eof)


def test_errors_are_sticky_until_reset():
    p = Parser()
    msg = error_of(p.feed, b"garbage")
    assert error_of(p.feed, CL_RESP) == msg
    p.reset()
    assert norm(p.feed(CL_RESP)) == CL_EVENTS


# --- eof ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "partial",
    [
        b"H",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTrailer: x\r\n",
    ],
)
def test_eof_truncated(partial):
    p = Parser()
    p.feed(partial)
    assert error_of(p.eof) == "connection closed in the middle of an HTTP response"


def test_eof_without_response():
    p = Parser()
    assert error_of(p.eof) == "connection closed before any response"
    # idle keep-alive connection closed after a complete response
    p = Parser()
    assert norm(p.feed(CL_RESP)) == CL_EVENTS
    assert error_of(p.eof) == "connection closed before any response"


# --- property tests ----------------------------------------------------------


def build_response(code, headers, body, mode, chunk_sizes):
    head = b"HTTP/1.1 %d R\r\n" % code + b"".join(b"%s: %s\r\n" % h for h in headers)
    if mode == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    out = [head, b"Transfer-Encoding: chunked\r\n\r\n"]
    i = 0
    for n in chunk_sizes:
        piece = body[i : i + n]
        if piece:
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        i += n
    if i < len(body):
        out.append(b"%x\r\n%s\r\n" % (len(body) - i, body[i:]))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123456789", min_size=1, max_size=12)
value = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c >= 0x21 and c != 0x7F))
responses = st.lists(
    st.tuples(
        st.sampled_from([200, 201, 404, 500]),
        st.lists(
            st.tuples(token.map(lambda s: b"X-" + s.encode()), value).filter(
                lambda h: h[0].lower() not in (b"x-content-length",)
            ),
            max_size=5,
        ),
        st.binary(max_size=300),
        st.sampled_from(["length", "chunked"]),
        st.lists(st.integers(1, 64), max_size=8),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(responses, st.lists(st.integers(0, 2000), max_size=10))
def test_random_pipelines_and_splits(resps, cuts):
    data = b"".join(build_response(*r) for r in resps)
    expected = []
    for code, headers, body, mode, _ in resps:
        expected.append(("status", code, "R"))
        expected += [("header", k, v) for k, v in headers]
        expected.append(("header", b"Content-Length", b"%d" % len(body)) if mode == "length" else ("header", b"Transfer-Encoding", b"chunked"))
        expected.append(("headers_done",))
        if body:
            expected.append(("body", body))
        expected.append(("done",))
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    p = Parser()
    ev = []
    for a, b in zip(points, points[1:]):
        ev += p.feed(data[a:b])
    assert norm(ev) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50))
def test_random_bytes_never_crash(tail, step):
    for data in (tail, b"HTTP/1.1 200 OK\r\n" + tail, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + tail):
        p = Parser()
        try:
            for i in range(0, len(data), step):
                p.feed(data[i : i + step])
            p.eof()
        except ValueError:
            pass


# --- against the real server ------------------------------------------------

def test_real_server_keep_alive_responses(server_params):
    auth = b""
    if "user" in server_params:
        cred = f"{server_params['user']}:{server_params.get('password', '')}".encode()
        auth = b"Authorization: Basic " + base64.b64encode(cred) + b"\r\n"
    with socket.create_connection((server_params["host"], server_params["port"]), timeout=5) as sock:
        p = Parser()
        for q in (b"SELECT 1", b"SELECT number FROM system.numbers LIMIT 100000", b"SELECT throwIf(1)"):
            req = b"POST / HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (auth, len(q), q)
            sock.sendall(req)
            events = []
            while not events or events[-1] != ("done",):
                chunk = sock.recv(1000)
                assert chunk, "server closed"
                # odd split points inside every chunk
                events += p.feed(chunk[:7]) + p.feed(chunk[7:])
            events = norm(events)
            status = events[0]
            body = events[-2][1] if events[-2][0] == "body" else b""
            if q == b"SELECT 1":
                assert status[1] == 200 and body == b"1\n"
            elif q.startswith(b"SELECT number"):
                assert status[1] == 200
                assert body == b"".join(b"%d\n" % i for i in range(100000))
            else:
                assert status[1] == 500 and b"throwIf" in body
            assert p.keep_alive is True
