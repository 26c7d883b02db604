"""A fault-injecting TCP proxy between the driver and a real ClickHouse server.

Every request the driver sends is forwarded to the server, and the server's
answer is read whole (status line, headers, de-chunked body); then the fault
chosen for that request decides what the driver gets: the answer as it was, or
cut by a reset at a given phase, truncated, replaced by garbage, trickled one
byte at a time, or with a ClickHouse 25.11+ mid-stream exception spliced in.

    with FaultProxy(port_of_server) as px:
        px.push("reset_in_body")          # next request gets this fault
        conn = chd.connect(host="127.0.0.1", port=px.port)

Faults are taken per request from a FIFO (`push`); when it is empty, `default`
applies ("pass"). `px.log` records (connection number, fault, request bytes).
"""
import collections
import socket
import struct
import threading
import time

from tests.fake_http import read_request

# A 25.11+ exception tag: 16 random lowercase letters, sent in X-ClickHouse-Exception-Tag.
EXCEPTION_TAG = "qzjxwkvbnmlpfhdg"
THROW_IF_TEXT = ("Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero: "
                 "while executing 'FUNCTION throwIf(equals(number, 3000)) UInt8'. "
                 "(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 25.11.1.1 (official build))")


def tagged_exception_block(text=THROW_IF_TEXT, tag=EXCEPTION_TAG):
    """The block a 25.11+ server writes into a 200 body when the query fails after
    the answer started (ClickHouse docs, HTTP interface, "HTTP response codes caveats"):
    \\r\\n__exception__\\r\\n<TAG>\\r\\n<message>\\n<message_length> <TAG>\\r\\n__exception__\\r\\n"""
    msg = text.encode()
    return (b"\r\n__exception__\r\n" + tag.encode() + b"\r\n" + msg + b"\n"
            + str(len(msg)).encode() + b" " + tag.encode() + b"\r\n__exception__\r\n")


class Response:
    def __init__(self, head, body, chunked):
        self.head = head        # status line + header lines, without the blank line
        self.body = body        # de-chunked
        self.chunked = chunked

    def head_with(self, *extra):
        lines = self.head.split(b"\r\n") + [h.encode() for h in extra]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def wire(self, chunk=65536, extra_headers=()):
        if not self.chunked:
            return self.head_with(*extra_headers) + self.body
        out = [self.head_with(*extra_headers)]
        for i in range(0, len(self.body), chunk):
            piece = self.body[i:i + chunk]
            out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
        out.append(b"0\r\n\r\n")
        return b"".join(out)


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        b = sock.recv(65536)
        if not b:
            raise ConnectionError("server closed before the headers ended")
        data += b
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower()] = v.strip()

    def need(n):
        nonlocal rest
        while len(rest) < n:
            b = sock.recv(65536)
            if not b:
                raise ConnectionError("server closed in the middle of the body")
            rest += b

    if b"chunked" in hdrs.get(b"transfer-encoding", b"").lower():
        # re-framed by us: drop the server's own Transfer-Encoding line and add it back on write
        body = []
        while True:
            while b"\r\n" not in rest:
                need(len(rest) + 1)
            line, _, rest = rest.partition(b"\r\n")
            n = int(line.split(b";")[0], 16)
            if n == 0:
                while not rest.startswith(b"\r\n") and b"\r\n\r\n" not in rest:
                    need(len(rest) + 1)
                break
            need(n + 2)
            body.append(rest[:n])
            rest = rest[n + 2:]
        return Response(head, b"".join(body), True)
    n = int(hdrs.get(b"content-length", b"0"))
    need(n)
    return Response(head, rest[:n], False)


def reset(sock):
    """Close with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    FAULTS = ("pass", "reset_on_connect", "reset_after_request", "forward_then_reset", "reset_in_headers",
              "reset_in_body", "truncate_chunked", "garbage", "html", "garbage_body", "trickle", "stall",
              "tag_exception_end", "tag_exception_close", "tag_exception_mid_block",
              "tag_exception_block_tail", "tag_header_only")

    def __init__(self, upstream_port, upstream_host="127.0.0.1", default="pass"):
        self.upstream = (upstream_host, upstream_port)
        self.default = default
        self.faults = collections.deque()
        self.log = []
        self.connections = 0
        self.trickle_delay = 0.001
        self.cut_at = 0.5          # fraction of the body sent before a body fault
        self._lock = threading.Lock()
        self._socks = set()
        self._stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def push(self, *faults):
        for f in faults:
            if f not in self.FAULTS:
                raise ValueError(f"unknown fault {f!r}")
            self.faults.append(f)

    def _next_fault(self):
        with self._lock:
            return self.faults.popleft() if self.faults else self.default

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(c, self.connections), daemon=True).start()

    def _serve(self, c, n):
        u = None
        self._socks.add(c)
        try:
            while not self._stop.is_set():
                req = read_request(c)
                if req is None:
                    return
                fault = self._next_fault()
                self.log.append((n, fault, req))
                if fault == "reset_on_connect" or fault == "reset_after_request":
                    # the server never sees this request
                    return reset(c)
                if fault == "stall":
                    self._stop.wait()
                    return
                if fault == "garbage":
                    c.sendall(bytes(range(256)) * 4)
                    return c.close()
                if fault == "html":
                    page = b"<!DOCTYPE html><html><body><h1>Captive portal</h1>Please log in.</body></html>"
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
                              % len(page) + page)
                    continue
                if u is None:
                    u = socket.create_connection(self.upstream)
                    self._socks.add(u)
                u.sendall(req)
                resp = read_response(u)
                if not self._emit(c, resp, fault):
                    return
        except OSError:
            pass
        finally:
            for s in (c, u):
                if s is not None:
                    self._socks.discard(s)
                    try:
                        s.close()
                    except OSError:
                        pass

    def _emit(self, c, resp, fault):
        """Send resp to the client with the fault applied; False: connection is done."""
        if fault == "pass":
            c.sendall(resp.wire())
            return True
        if fault == "forward_then_reset":  # the server ran it; the client gets nothing
            reset(c)
            return False
        if fault == "reset_in_headers":
            head = resp.head_with()
            c.sendall(head[: len(head) // 2])
            time.sleep(0.05)
            reset(c)
            return False
        if fault in ("reset_in_body", "truncate_chunked"):
            wire = resp.wire(chunk=4096)
            head_len = len(resp.head_with())
            if fault == "reset_in_body":
                c.sendall(wire[: head_len + int((len(wire) - head_len) * self.cut_at)])
                time.sleep(0.05)
                reset(c)
            else:  # every chunk, but no terminating 0-chunk; a clean FIN
                c.sendall(wire[: -len(b"0\r\n\r\n")])
                time.sleep(0.05)
                c.shutdown(socket.SHUT_WR)
                time.sleep(0.05)
            return False
        if fault == "garbage_body":
            junk = bytes((i * 97 + 13) % 256 for i in range(len(resp.body) or 64))
            c.sendall(Response(resp.head, junk, resp.chunked).wire())
            return True
        if fault == "trickle":
            for b in resp.wire(chunk=512):
                c.sendall(bytes([b]))
                time.sleep(self.trickle_delay)
            return True
        if fault.startswith("tag_"):
            return self._emit_tagged(c, resp, fault)
        raise AssertionError(fault)

    def _emit_tagged(self, c, resp, fault):
        tag_header = f"X-ClickHouse-Exception-Tag: {EXCEPTION_TAG}"
        head = resp.head_with(tag_header)
        assert resp.chunked, "tagged exceptions are only spliced into chunked answers"
        if fault == "tag_header_only":  # 25.11+ sends the tag on every answer, failing or not
            c.sendall(resp.wire(chunk=4096, extra_headers=[tag_header]))
            return True
        # the exception comes after part of the rows: at a block boundary-agnostic cut
        # (mid_block: in the middle of whatever Native block was being written)
        cut = int(len(resp.body) * self.cut_at)
        if fault == "tag_exception_block_tail":
            # 100 bytes short of a block's end: the exception's own bytes complete
            # the block, which then scans as a whole block of wrong values
            cut = _native_block_boundary(resp.body, cut) - 100
        elif fault != "tag_exception_mid_block":
            cut = _native_block_boundary(resp.body, cut)
        body = resp.body[:cut]
        out = [head]
        for i in range(0, len(body), 4096):
            piece = body[i:i + 4096]
            out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
        block = tagged_exception_block()
        # The message arrives in two reads (as it can from a real server): the
        # client must not take the first half for the whole text.
        half = len(block) // 2
        out.append(b"%x\r\n" % len(block) + block[:half])
        c.sendall(b"".join(out))
        time.sleep(0.05)
        out = [block[half:] + b"\r\n"]
        if fault == "tag_exception_close":  # the server drops the connection after the block
            c.sendall(b"".join(out))
            time.sleep(0.05)
            c.shutdown(socket.SHUT_WR)
            time.sleep(0.05)
            return False
        out.append(b"0\r\n\r\n")
        c.sendall(b"".join(out))
        return True

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for s in list(self._socks):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def _native_block_boundary(body, near):
    """Offset of the first Native block boundary at or after `near`, for bodies of
    one-UInt64-column blocks (`SELECT number FROM numbers(N)`); walks the block headers."""
    pos = 0
    while pos < len(body):
        start = pos
        ncols, pos = _varint(body, pos)
        nrows, pos = _varint(body, pos)
        for _ in range(ncols):
            ln, pos = _varint(body, pos)
            pos += ln
            ln, pos = _varint(body, pos)
            tname = body[pos:pos + ln]
            pos += ln
            if tname != b"UInt64":
                raise ValueError(f"only UInt64 columns are walked, got {tname!r}")
            pos += 8 * nrows
        if start >= near:
            return start
    return len(body)


def _varint(b, pos):
    shift = value = 0
    while True:
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
