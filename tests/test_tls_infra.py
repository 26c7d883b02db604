"""The TLS / HTTP/2 test infrastructure started by tests/server/ctl.sh, checked
with independent clients (curl, the openssl CLI, Python's ssl module) so that
driver-level TLS tests can trust it: the server's own https_port, nginx's h2
front (ALPN, multiplexing, GOAWAY), and each failure endpoint failing for the
reason it exists.
"""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import uuid

import pytest

ENV_VARS = [
    "CHB_TLS_DIR", "CLICKHOUSE_HTTPS_PORT", "CHB_NGINX_H2_PORT", "CHB_NGINX_H2_GOAWAY_PORT",
    "CHB_NGINX_H1TLS_PORT", "CHB_NGINX_PLAIN_PORT", "CHB_NGINX_MTLS_PORT",
    "CHB_NGINX_WRONG_HOST_PORT", "CHB_NGINX_EXPIRED_PORT", "CHB_NGINX_ACCESS_LOG",
]


@pytest.fixture(scope="module")
def env():
    missing = [v for v in ENV_VARS if not os.environ.get(v)]
    if missing:
        msg = ("TLS/nginx test services not configured (%s unset): start them with "
               "tests/server/ctl.sh start and load its env file" % ", ".join(missing))
        if os.environ.get("CI"):
            pytest.fail(msg)  # scripts/test.sh always starts them: a gap there is a bug
        pytest.skip(msg)
    e = {v: os.environ[v] for v in ENV_VARS}
    e["ca"] = os.path.join(e["CHB_TLS_DIR"], "ca.pem")
    return e


def port(env, name):
    return int(env[name])


def ctx(cafile, alpn=None, cert=None):
    c = ssl.create_default_context(cafile=cafile)
    if alpn:
        c.set_alpn_protocols(alpn)
    if cert:
        c.load_cert_chain(*cert)
    return c


def https_query(p, context, sql, host="127.0.0.1"):
    conn = http.client.HTTPSConnection(host, p, context=context, timeout=30)
    try:
        conn.request("POST", "/", body=sql.encode())
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def curl(*args):
    exe = shutil.which("curl")
    if exe is None:
        pytest.fail("curl not installed (scripts/test.sh installs it)")
    return subprocess.run([exe, "-sS", *args], capture_output=True, text=True, timeout=60)


def handshake(p, context, server_hostname="127.0.0.1"):
    """TLS handshake only; returns the negotiated ALPN protocol."""
    with socket.create_connection(("127.0.0.1", p), timeout=10) as s:
        with context.wrap_socket(s, server_hostname=server_hostname) as t:
            return t.selected_alpn_protocol()


def access_log(env, query_ids, timeout=5.0):
    """nginx access log entries of the given query ids (written at request end)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(env["CHB_NGINX_ACCESS_LOG"]) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        got = [r for r in rows if r["query_id"] in query_ids]
        if len(got) >= len(query_ids) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


# --- the PKI ----------------------------------------------------------------

def test_pki_made_by_openssl(env):
    d = env["CHB_TLS_DIR"]
    for name in ("ca", "other-ca", "server", "wrong-host", "expired", "client", "other-server"):
        assert os.path.getsize(os.path.join(d, name + ".pem")) > 0
        assert os.path.getsize(os.path.join(d, name + "-key.pem")) > 0

    def openssl(*a):
        return subprocess.run(["openssl", *a], capture_output=True, text=True)

    assert openssl("verify", "-CAfile", env["ca"], os.path.join(d, "server.pem")).returncode == 0
    assert openssl("verify", "-CApath", os.path.join(d, "capath"), os.path.join(d, "client.pem")).returncode == 0
    bad = openssl("verify", "-CAfile", os.path.join(d, "other-ca.pem"), os.path.join(d, "server.pem"))
    assert bad.returncode != 0 and "unable to get local issuer certificate" in bad.stdout + bad.stderr
    # -checkend 0: exit 1 when the certificate has expired
    assert openssl("x509", "-checkend", "0", "-noout", "-in", os.path.join(d, "expired.pem")).returncode == 1
    assert openssl("x509", "-checkend", "86400", "-noout", "-in", os.path.join(d, "server.pem")).returncode == 0
    san = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", os.path.join(d, "server.pem")).stdout
    assert "IP Address:127.0.0.1" in san and "DNS:localhost" in san


# --- ClickHouse's own https_port ------------------------------------------------

def test_clickhouse_https_port_serves_http1_over_tls(env):
    p = port(env, "CLICKHOUSE_HTTPS_PORT")
    assert https_query(p, ctx(env["ca"]), "SELECT 1 + 1") == (200, "2\n")
    assert https_query(p, ctx(env["ca"]), "SELECT 'by name'", host="localhost") == (200, "by name\n")
    r = curl("--cacert", env["ca"], "--http2", "-w", "\n%{http_version}", f"https://127.0.0.1:{p}/",
             "--data-binary", "SELECT version()")
    assert r.returncode == 0, r.stderr
    version, http_version = r.stdout.rsplit("\n", 1)
    assert re.fullmatch(r"\d+\.\d+[.\d]*\n", version), version
    assert http_version == "1.1"  # the server offers no h2 over ALPN
    assert handshake(p, ctx(env["ca"], alpn=["h2", "http/1.1"])) in (None, "http/1.1")


def test_clickhouse_https_rejects_wrong_ca_and_plaintext(env):
    p = port(env, "CLICKHOUSE_HTTPS_PORT")
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        https_query(p, ctx(os.path.join(env["CHB_TLS_DIR"], "other-ca.pem")), "SELECT 1")
    # a plaintext HTTP request to the TLS port never gets an HTTP response
    with socket.create_connection(("127.0.0.1", p), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nSELECT 1")
        try:
            reply = s.recv(100)
        except ConnectionResetError:
            reply = b""
    assert not reply.startswith(b"HTTP/"), reply


# --- nginx: ALPN, multiplexing, GOAWAY ------------------------------------------

def test_nginx_alpn(env):
    both = ["h2", "http/1.1"]
    assert handshake(port(env, "CHB_NGINX_H2_PORT"), ctx(env["ca"], alpn=both)) == "h2"
    assert handshake(port(env, "CHB_NGINX_H2_PORT"), ctx(env["ca"], alpn=["http/1.1"])) == "http/1.1"
    # "h2 required but not offered": the TLS block without http2
    assert handshake(port(env, "CHB_NGINX_H1TLS_PORT"), ctx(env["ca"], alpn=both)) == "http/1.1"
    r = curl("-v", "--http2", "--cacert", env["ca"], f"https://127.0.0.1:{port(env, 'CHB_NGINX_H2_PORT')}/",
             "--data-binary", "SELECT 'via h2'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "via h2\n"
    assert "ALPN: server accepted h2" in r.stderr
    assert "< HTTP/2 200" in r.stderr


def test_nginx_h2_multiplexes_concurrent_queries_on_one_connection(env):
    p = port(env, "CHB_NGINX_H2_PORT")
    n = 6
    ids = [f"chb-mux-{uuid.uuid4().hex}" for _ in range(n)]
    urls = [f"https://127.0.0.1:{p}/?query_id={q}&query=SELECT%20sleep(0.5)%2C%20{i}" for i, q in enumerate(ids)]
    r = curl("--http2", "--parallel", "--parallel-max", str(n), "--cacert", env["ca"], *urls)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(f"0\t{i}" for i in range(n))
    rows = access_log(env, set(ids))
    assert len(rows) == n
    assert {row["http2"] for row in rows} == {"h2"}
    assert {row["status"] for row in rows} == {200}
    assert len({row["connection"] for row in rows}) == 1, rows  # one TCP connection
    assert sorted(row["connection_requests"] for row in rows) == list(range(1, n + 1))
    # and they were in flight at the same time: every one started before any ended
    starts = [row["msec"] - row["request_time"] for row in rows]
    ends = [row["msec"] for row in rows]
    assert max(starts) < min(ends), rows


def test_nginx_goaway_after_keepalive_requests(env):
    p = port(env, "CHB_NGINX_H2_GOAWAY_PORT")
    ids = [f"chb-goaway-{uuid.uuid4().hex}" for _ in range(12)]
    urls = [f"https://127.0.0.1:{p}/?query_id={q}&query=SELECT%20{i}" for i, q in enumerate(ids)]
    r = curl("-v", "--http2", "--cacert", env["ca"], *urls)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(i) for i in range(12)]
    rows = sorted(access_log(env, set(ids)), key=lambda row: (row["connection"], row["connection_requests"]))
    per_conn = {}
    for row in rows:
        per_conn.setdefault(row["connection"], []).append(row["connection_requests"])
    # keepalive_requests 5: nginx sends GOAWAY after the 5th stream of a connection
    assert sorted(len(v) for v in per_conn.values()) == [2, 5, 5], per_conn
    assert all(v == list(range(1, len(v) + 1)) for v in per_conn.values())
    assert {row["http2"] for row in rows} == {"h2"}


def test_nginx_passes_compressed_responses_through(env):
    import gzip

    p = port(env, "CHB_NGINX_H2_PORT")
    r = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", env["ca"], "-H", "Accept-Encoding: gzip", "-D", "-", "-o", "-",
         f"https://127.0.0.1:{p}/?enable_http_compression=1&query=SELECT%20number%20FROM%20numbers(50000)"],
        capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert b"content-encoding: gzip" in head.lower()
    assert gzip.decompress(body) == "".join(f"{i}\n" for i in range(50000)).encode()


# --- failure endpoints fail for their reason --------------------------------------

def test_wrong_ca(env):
    other = ctx(os.path.join(env["CHB_TLS_DIR"], "other-ca.pem"))
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        handshake(port(env, "CHB_NGINX_H2_PORT"), other)


def test_hostname_mismatch(env):
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        handshake(port(env, "CHB_NGINX_WRONG_HOST_PORT"), ctx(env["ca"]))
    # the good certificate, but checked against another name
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(port(env, "CHB_NGINX_H2_PORT"), ctx(env["ca"]), server_hostname="db.example.com")
    # and the wrong-host certificate is valid for its own name
    assert handshake(port(env, "CHB_NGINX_WRONG_HOST_PORT"), ctx(env["ca"], alpn=["h2"]),
                     server_hostname="wrong-host.invalid") == "h2"


def test_expired_certificate(env):
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        handshake(port(env, "CHB_NGINX_EXPIRED_PORT"), ctx(env["ca"]))


def test_tls_client_to_plaintext_port(env):
    with pytest.raises(ssl.SSLError, match="WRONG_VERSION_NUMBER|wrong version number"):
        handshake(port(env, "CHB_NGINX_PLAIN_PORT"), ctx(env["ca"]))
    # the plain port itself works, as plain HTTP
    conn = http.client.HTTPConnection("127.0.0.1", port(env, "CHB_NGINX_PLAIN_PORT"), timeout=10)
    conn.request("POST", "/", body=b"SELECT 'plain'")
    assert conn.getresponse().read() == b"plain\n"
    conn.close()


def test_plaintext_client_to_tls_port(env):
    conn = http.client.HTTPConnection("127.0.0.1", port(env, "CHB_NGINX_H2_PORT"), timeout=10)
    conn.request("POST", "/", body=b"SELECT 1")
    r = conn.getresponse()
    assert r.status == 400 and b"plain HTTP request was sent to HTTPS port" in r.read()
    conn.close()


def test_mutual_tls(env):
    d = env["CHB_TLS_DIR"]
    p = port(env, "CHB_NGINX_MTLS_PORT")
    status, body = https_query(p, ctx(env["ca"]), "SELECT 1")
    assert status == 400 and "No required SSL certificate was sent" in body
    cert = (os.path.join(d, "client.pem"), os.path.join(d, "client-key.pem"))
    assert https_query(p, ctx(env["ca"], cert=cert), "SELECT 'mtls'") == (200, "mtls\n")
    # a client certificate from another CA is refused too
    other = (os.path.join(d, "other-server.pem"), os.path.join(d, "other-server-key.pem"))
    status, body = https_query(p, ctx(env["ca"], cert=other), "SELECT 1")
    assert status == 400 and "certificate error" in body
