"""A scripted HTTP peer on loopback for tests that need answers no real server gives
on demand: a proxy's HTML page, a connection dropped at a chosen moment, a reused
keep-alive connection that turns out dead.

Each accepted connection is handled by ``script(conn, request_bytes, n)`` where n
counts requests on that connection; the script writes what it likes and returns
"keep" or "close". It listens on a loopback TCP port, or on a Unix socket
(``unix_path``) for a proxy in front of it (the nginx h2 front's fake.sock).
"""
import os
import socket
import threading

# Native body of `SELECT 1` as ClickHouse 18.16 sends it (curl -s
# 'http://127.0.0.1:8123/?default_format=Native' --data-binary 'SELECT 1' | xxd):
# 1 column, 1 row, name "1", type "UInt8", value 0x01.
NATIVE_SELECT_1 = bytes.fromhex("0101" "0131" "0555496e7438" "01")


def http_response(body, status="200 OK", headers=(), chunked=False):
    head = [f"HTTP/1.1 {status}", "Connection: Keep-Alive"]
    head += list(headers)
    if chunked:
        head.append("Transfer-Encoding: chunked")
        payload = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def read_request(sock):
    """Read one request (headers + Content-Length body); None at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


class FakeServer:
    def __init__(self, script, unix_path=None, host="127.0.0.1", port=0):
        self.script = script
        self.unix_path = unix_path
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX)
            if os.path.exists(unix_path):
                os.unlink(unix_path)
            self.sock.bind(unix_path)
            self.port = None
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
        self.sock.listen(64)
        if not unix_path:
            self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        n = 0
        try:
            while True:
                req = read_request(conn)
                if req is None:
                    return
                self.requests.append(req)
                if self.script(conn, req, n) != "keep":
                    return
                n += 1
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
