"""The benchmark run: every workload, every client, one server, one process per case.

    bash benchmarks/run.sh [--quick] [options]      # sets up benchmarks/.venv first
    benchmarks/.venv/bin/python benchmarks/run.py [--quick] [options]

Starts a private ClickHouse with tests/server/ctl.sh (never the dev server on
18123), loads the data, runs the workloads of docs/performance.md against this
driver and its peers, measures the server's raw limit with h2load, writes
benchmarks/results/results.json (quick: benchmarks/results/quick/) and hands over
to report.py for the tables, the PNG charts and docs/performance.md.
"""
import argparse
import base64
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# The 5 columns of workloads 3, 4 and 7: UInt64, String, Float64, DateTime, Nullable(Int32).
CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS {table} (id UInt64, s String, f Float64, dt DateTime, "
                "n Nullable(Int32)) ENGINE = MergeTree ORDER BY id")
SELECT_ROWS = ("SELECT number, concat('row-', toString(number)), number / 3, "
               "toDateTime(1577836800 + number), if(number % 5 = 0, NULL, toInt32(number % 100000)) "
               "FROM numbers({n})")
SMALL_SQL = "SELECT number, toString(number) FROM numbers(10)"
SMALL_ROWS = 10  # rows of SMALL_SQL: every client's count is checked (worker.py)
EVENTS_ROWS = 10_000  # the Django workloads' table: small, so that the ORM cost shows

# Workload 4 through Django with USE_TZ=True (Django's project default): aware
# datetimes, which both backends send as plain UTC literals in the VALUES body.
DJANGO_BULK_USE_TZ = True

SIZES = {
    #            full          quick
    "seq_n": (2000, 200),
    "conc_n": (1000, 200),
    "fetch_rows": (1_000_000, 100_000),
    "insert_rows": (1_000_000, 100_000),
    "dj_insert_rows": (1_000_000, 20_000),
    "orm_n": (500, 50),
    "dash_seconds": (8, 2),
    "stream_rows": (10_000_000, 1_000_000),
    "runs": (5, 1),          # cheap cases: seq, conc, orm
    "heavy_runs": (3, 1),    # fetch, insert, Django bulk_create
    "dash_runs": (3, 1),
    "page_rows": (200_000, 20_000),  # README command (1)'s demo data
    "page_loads": (20, 4),           # loads of each page, alternating
}

DRIVER_CLIENTS = {
    # workload -> clients, in table order (ours first)
    "seq": ["ours-sync", "ours-sync-facts", "ours-async", "ours-h2", "ours-h2-async", "ours-embedded", "cc-sync", "cc-async",
            "clickhouse-driver", "asynch", "aiochclient"],
    "conc": ["ours-async", "ours-h2-async", "cc-async", "asynch", "aiochclient"],
    "fetch": ["ours-sync", "ours-async", "ours-h2", "ours-h2-async", "ours-embedded", "cc-sync", "cc-async",
              "clickhouse-driver", "asynch", "aiochclient"],
    "insert": ["ours-sync", "ours-sync-native", "ours-async", "ours-h2", "ours-h2-async", "cc-sync", "cc-async", "clickhouse-driver",
               "asynch", "aiochclient"],
    "stream": ["ours-sync", "ours-async", "cc-sync", "cc-async", "clickhouse-driver", "asynch",
               "aiochclient"],
}
DJ_BACKENDS = ["ours", "dcb"]
DASH_MODES = {"ours": ["orm-async", "orm-threads", "driver-async"], "dcb": ["orm-async", "orm-threads"]}
WORKLOADS = ["seq", "conc", "fetch", "insert", "orm", "dash", "pages", "stream", "columnar"]
EXAMPLE = os.path.join(REPO, "examples", "dashboard")
# Workload 8 (docs/columnar.md): (client, kind) -- kind is the worker's col_<kind> or insert_df.
COLUMNAR_CASES = [
    ("ours-sync", "tuples"), ("ours-sync", "numpy"), ("ours-sync", "df"), ("ours-sync", "arrow"),
    ("ours-sync", "batches"), ("ours-embedded", "numpy"), ("ours-embedded", "arrow"),
    ("cc-sync", "numpy"), ("cc-sync", "df"), ("cc-sync", "arrow"), ("clickhouse-driver", "numpy"),
    ("clickhouse-driver", "df"),
    ("ours-sync", "insert_df"), ("cc-sync", "insert_df"), ("clickhouse-driver", "insert_df"),
]
CASE_TIMEOUT = 600


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- server

class Server:
    """A ClickHouse from tests/server/ctl.sh, or an existing one (--server-env)."""

    def __init__(self, env_file=None):
        self.state_dir = None
        if env_file:
            self.env = _read_env(env_file)
            return
        self.state_dir = tempfile.mkdtemp(prefix="chb-bench-state-")
        out = subprocess.run(["bash", os.path.join(REPO, "tests/server/ctl.sh"), "start"],
                             # no ZooKeeper: an idle JVM is noise in a benchmark
                             env={**os.environ, "CHB_STATE_DIR": self.state_dir, "CHB_ZOOKEEPER": "0"},
                             stdout=subprocess.PIPE, text=True)
        if out.returncode:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            raise SystemExit("could not start the benchmark server (tests/server/ctl.sh start)")
        self.env = _read_env(os.path.join(self.state_dir, "env"))

    @property
    def host(self):
        return "127.0.0.1"

    @property
    def http_port(self):
        return int(self.env["CLICKHOUSE_HTTP_PORT"])

    @property
    def tcp_port(self):
        return int(self.env["CLICKHOUSE_TCP_PORT"])

    def query(self, sql, timeout=600):
        req = urllib.request.Request(f"http://{self.host}:{self.http_port}/", data=sql.encode())
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read().decode()

    def stop(self):
        if self.state_dir:
            subprocess.run(["bash", os.path.join(REPO, "tests/server/ctl.sh"), "stop"],
                           env={**os.environ, "CHB_STATE_DIR": self.state_dir})
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None


def _read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def load_data(server, table_rows):
    log(f"loading data ({table_rows} rows)")
    server.query("CREATE DATABASE IF NOT EXISTS bench")
    for t in ("bench.rows", "bench.ins", "bench.events", "bench.ins_django"):
        server.query(f"DROP TABLE IF EXISTS {t}")
        server.query(CREATE_TABLE.format(table=t))
    server.query("INSERT INTO bench.rows " + SELECT_ROWS.format(n=table_rows))
    server.query("INSERT INTO bench.events " + SELECT_ROWS.format(n=EVENTS_ROWS))
    server.query("OPTIMIZE TABLE bench.rows FINAL")
    assert int(server.query("SELECT count() FROM bench.rows")) == table_rows


# --------------------------------------------------------------------------- machine

def machine_info(server, py, ours_path=REPO):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, timeout=30).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""

    cpu = sh("lscpu | sed -n 's/^Model name:[ \\t]*//p'") or platform.processor()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    versions = json.loads(sh(
        f"{py} -c \"import json, importlib.metadata as m; print(json.dumps({{p: m.version(p) for p in "
        f"['clickhouse-connect', 'aiochclient', 'asynch', 'clickhouse-driver', 'django-clickhouse-backend', "
        f"'Django', 'uvicorn', 'aiohttp', 'matplotlib'] + (['chdb-core'] if __import__('importlib.util').util.find_spec('chdb') else [])}}))\"")
        or "{}")
    ours = sh(f"cd {REPO} && git describe --always --dirty 2>/dev/null") or "unknown"
    if ours_path != REPO:  # --ours-path: say which tree was measured
        ours = f"{ours} checkout, package measured from {ours_path}"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "python": sh(f"{py} -c 'import sys; print(sys.version.split()[0])'"),
        "clickhouse": server.query("SELECT version()").strip(),
        "h2load": sh("h2load --version | head -1"),
        "wrk": sh("wrk -v 2>&1 | head -1"),
        "ours": ours,
        "versions": versions,
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }


# --------------------------------------------------------------------------- cases

class Runner:
    def __init__(self, args, server):
        self.args = args
        self.server = server
        self.py = sys.executable
        self.quick = args.quick
        self.size = {k: (v[1] if args.quick else v[0]) for k, v in SIZES.items()}
        if args.runs:
            self.size["runs"] = self.size["heavy_runs"] = args.runs
        self.ours_path = os.path.abspath(args.ours_path or REPO)
        self.results = {"cases": [], "raw": [], "dash": [], "sizes": self.size, "quick": args.quick}

    def base_spec(self):
        s = self.server
        spec = {"host": s.host, "http_port": s.http_port, "tcp_port": s.tcp_port, "database": "bench",
                "width": self.args.width, "runs": self.size["runs"], "insert_table": "bench.ins",
                "table": "bench.rows", "table_rows": self.size["fetch_rows"],
                "create_table": CREATE_TABLE, "select_rows": SELECT_ROWS}
        h2 = s.env.get("CHB_NGINX_H2_PORT")
        if h2:
            spec["h2_port"] = int(h2)
            spec["tls_dir"] = s.env.get("CHB_TLS_DIR")
        return spec

    def env(self, ours, **extra):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        # ours: the repository shadows django-clickhouse-backend's same-named package
        if ours:
            env["PYTHONPATH"] = self.ours_path
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def spawn(self, script, spec, env, sample_rss=False):
        """Run one case; returns its JSON result (plus an RSS time series if asked)."""
        cmd = [self.py, os.path.join(HERE, script), json.dumps(spec)]
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        series = []
        sampler = None
        if sample_rss:
            def sample():
                page = os.sysconf("SC_PAGE_SIZE")
                while p.poll() is None:
                    try:
                        with open(f"/proc/{p.pid}/statm") as f:
                            series.append((round(time.monotonic() - t0, 3), int(f.read().split()[1]) * page))
                    except (OSError, ValueError, IndexError):
                        break
                    if series[-1][1] == 0:  # a zombie's statm: the process has exited
                        series.pop()
                        break
                    time.sleep(0.05)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        try:
            out, err = p.communicate(timeout=self.args.case_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            return {"error": f"timeout: did not finish within {self.args.case_timeout} s"}
        if sampler:
            sampler.join()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            return {"error": f"exit {p.returncode}: {err.strip().splitlines()[-1:] or ['no output']}"}
        res = json.loads(lines[-1])
        if "error" in res and err.strip():
            res["stderr_tail"] = err.strip().splitlines()[-5:]
        if sample_rss:
            res["rss_series"] = series
        return res

    def record(self, workload, client, res, **extra):
        res.update({"workload": workload, "client": client, **extra})
        self.results["cases"].append(res)
        if "times" in res and res["times"]:
            ts = sorted(res["times"])
            log(f"  {workload:7s} {client:18s} median {ts[len(ts) // 2]:.4f}s  (n={len(ts)})")
        else:
            log(f"  {workload:7s} {client:18s} {res.get('skip') or res.get('error')}")

    # -- workloads 1-4 and 7 through the drivers ---------------------------------
    def driver_workload(self, w):
        spec = self.base_spec()
        sz = self.size
        if w == "seq":
            spec.update(n=sz["seq_n"], sql=SMALL_SQL, expect_rows=sz["seq_n"] * SMALL_ROWS)
        elif w == "conc":
            spec.update(n=sz["conc_n"], sql=SMALL_SQL, expect_rows=sz["conc_n"] * SMALL_ROWS)
        elif w == "fetch":
            spec.update(sql="SELECT id, s, f, dt, n FROM bench.rows", runs=sz["heavy_runs"],
                        expect_rows=sz["fetch_rows"])
        elif w == "insert":
            spec.update(rows=sz["insert_rows"], runs=sz["heavy_runs"], expect_rows=sz["insert_rows"])
        clients = [c for c in DRIVER_CLIENTS[w] if not self.args.clients or c in self.args.clients]
        for client in clients:
            if w == "stream":
                self.stream_case(spec, client)
                continue
            res = self.spawn("worker.py", {**spec, "workload": w, "client": client},
                             self.env(ours=client.startswith("ours")))
            self.record(w, client, res)

    def columnar(self):
        """Workload 8: workload 3's rows as NumPy / pandas / Arrow, and workload 4's
        rows inserted from a DataFrame."""
        spec = self.base_spec()
        sz = self.size
        spec.update(sql="SELECT id, s, f, dt, n FROM bench.rows", runs=sz["heavy_runs"])
        for client, kind in COLUMNAR_CASES:
            if self.args.clients and client not in self.args.clients:
                continue
            if kind == "batches":  # streaming: peak RSS at a tenth of the rows and at all of them
                for rows in (sz["stream_rows"] // 10, sz["stream_rows"]):
                    s = {**spec, "workload": "columnar", "client": client, "kind": kind, "runs": 1,
                         "expect_rows": rows, "sql": SELECT_ROWS.format(n=rows), "warm_sql": SELECT_ROWS.format(n=10)}
                    res = self.spawn("worker.py", s, self.env(ours=True), sample_rss=True)
                    self.record("columnar", f"{client}:{kind}", res, kind=kind, stream_rows=rows)
                continue
            rows = sz["insert_rows"] if kind == "insert_df" else sz["fetch_rows"]
            s = {**spec, "workload": "columnar", "client": client, "kind": kind, "rows": rows, "expect_rows": rows}
            res = self.spawn("worker.py", s, self.env(ours=client.startswith("ours")))
            self.record("columnar", f"{client}:{kind}", res, kind=kind)

    def stream_case(self, spec, client):
        """Workload 7 at the full size and at a tenth of it: flat memory means the
        peak does not grow with the row count."""
        for rows in (self.size["stream_rows"] // 10, self.size["stream_rows"]):
            s = {**spec, "workload": "stream", "client": client, "runs": 1, "expect_rows": rows,
                 "sql": SELECT_ROWS.format(n=rows), "warm_sql": SELECT_ROWS.format(n=10)}
            res = self.spawn("worker.py", s, self.env(ours=client.startswith("ours")), sample_rss=True)
            self.record("stream", client, res, stream_rows=rows)

    # -- raw limit ---------------------------------------------------------------
    def raw_limit(self):
        if not shutil.which("h2load"):
            log("h2load not found (apt-get install nghttp2-client): no raw limit")
            return
        s = self.server
        body = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        body.write(SMALL_SQL)
        body.close()
        auth = base64.b64encode(b"default:").decode()
        # exactly what this driver sends: POST, query in the body, Native output
        path = "/?database=bench&default_format=Native"
        targets = [("h1", f"http://{s.host}:{s.http_port}{path}", ["--h1"])]
        if "h2_port" in self.base_spec():
            targets.append(("h2-tls-nginx", f"https://{s.host}:{self.base_spec()['h2_port']}{path}", []))
        try:
            for proto, url, flags in targets:
                for w, n, conns, streams in (("seq", self.size["seq_n"], 1, 1),
                                             ("conc", self.size["conc_n"], self.args.width, 1)):
                    if proto.startswith("h2") and w == "conc":
                        conns, streams = 1, self.args.width  # one connection, multiplexed
                    times = []
                    for _ in range(self.size["runs"]):
                        cmd = ["h2load", *flags, "-n", str(n), "-c", str(conns), "-m", str(streams),
                               "-d", body.name, "-H", f"Authorization: Basic {auth}", url]
                        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             text=True, timeout=300).stdout
                        m = re.search(r"finished in ([\d.]+)(m?s)", out)
                        ok = re.search(r"(\d+) succeeded", out)
                        if not m or not ok or int(ok.group(1)) != n:
                            log(f"h2load failed: {out[-400:]}")
                            break
                        times.append(float(m.group(1)) / (1000 if m.group(2) == "ms" else 1))
                    entry = {"workload": w, "proto": proto, "times": times, "ops": n,
                             "connections": conns, "streams": streams,
                             "cmd": " ".join(cmd).replace(body.name, "query.sql")}
                    self.results["raw"].append(entry)
                    if times:
                        log(f"  raw     {proto:6s} {w:5s} median {sorted(times)[len(times) // 2]:.4f}s")
        finally:
            os.unlink(body.name)

    # -- workloads 4 (Django) and 5 ----------------------------------------------
    def dj_env(self, backend, **extra):
        return self.env(ours=backend == "ours", BENCH_DJ_BACKEND=backend, BENCH_CH_HOST=self.server.host,
                        BENCH_CH_HTTP_PORT=self.server.http_port, BENCH_CH_TCP_PORT=self.server.tcp_port,
                        **extra)

    def django_bulk(self):
        for backend in DJ_BACKENDS:
            spec = {**self.base_spec(), "workload": "bulk", "rows": self.size["dj_insert_rows"],
                    "insert_table": "bench.ins_django", "runs": self.size["heavy_runs"]}
            res = self.spawn("djworker.py", spec,
                             self.dj_env(backend, BENCH_USE_TZ=int(DJANGO_BULK_USE_TZ)))
            self.record("dj-bulk", backend, res, use_tz=DJANGO_BULK_USE_TZ)

    def django_orm(self):
        for backend in DJ_BACKENDS:
            spec = {**self.base_spec(), "workload": "orm", "n": self.size["orm_n"]}
            res = self.spawn("djworker.py", spec, self.dj_env(backend))
            if "error" in res or "skip" in res:
                self.record("orm", backend, res)
                continue
            for q in ("filter_values", "aggregate"):
                self.record("orm", backend, res[q], query=q, backend_path=res.get("backend_path"))

    # -- workload 6 ------------------------------------------------------------------
    def dashboard(self):
        if not shutil.which("wrk"):
            log("wrk not found (apt-get install wrk): skipping the dashboard workload")
            return
        for backend in DJ_BACKENDS:
            port = _free_port()
            env = self.dj_env(backend)
            cmd = [self.py, "-m", "uvicorn", "djbench.asgi:application", "--host", "127.0.0.1",
                   "--port", str(port), "--no-access-log", "--log-level", "warning", "--lifespan", "off"]
            p = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
            try:
                if not _wait_port(port, p, 60):
                    err = p.stderr.read() if p.poll() is not None else ""
                    for mode in DASH_MODES[backend]:
                        self.results["dash"].append({"backend": backend, "mode": mode,
                                                     "error": f"uvicorn did not start: {err[-300:]}"})
                    continue
                for mode in DASH_MODES[backend]:
                    self.results["dash"].append(self.wrk(backend, mode, port))
            finally:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()

    def wrk(self, backend, mode, port):
        url = f"http://127.0.0.1:{port}/dash/{mode}"
        entry = {"backend": backend, "mode": mode, "connections": self.args.dash_connections,
                 "rps": [], "p50_ms": [], "p99_ms": []}
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                entry["sample"] = json.loads(r.read())
            # every mode must compute the dashboard of the whole events table
            if entry["sample"].get("rows") != EVENTS_ROWS:
                raise ValueError(f"the dashboard counted {entry['sample'].get('rows')} rows, not {EVENTS_ROWS}")
        except Exception as e:  # noqa: BLE001
            entry["error"] = f"{type(e).__name__}: {e}"[:300]
            log(f"  dash    {backend:5s} {mode:13s} {entry['error']}")
            return entry
        base = ["wrk", "-t1", f"-c{self.args.dash_connections}", "--latency", url]
        subprocess.run(base[:3] + ["-d2s"] + base[3:], stdout=subprocess.DEVNULL, timeout=60)  # warm-up
        for _ in range(self.size["dash_runs"]):
            out = subprocess.run(base[:3] + [f"-d{self.size['dash_seconds']}s"] + base[3:],
                                 stdout=subprocess.PIPE, text=True, timeout=300).stdout
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            errs = re.search(r"Socket errors: (.*)", out)
            if bad or errs:
                entry["error"] = (bad.group(0) if bad else "") + " " + (errs.group(0) if errs else "")
            entry["rps"].append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))
            entry["p50_ms"].append(_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)))
            entry["p99_ms"].append(_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)))
        entry["cmd"] = " ".join(base[:3] + [f"-d{self.size['dash_seconds']}s"] + base[3:])
        log(f"  dash    {backend:5s} {mode:13s} {sorted(entry['rps'])[len(entry['rps']) // 2]:.1f} req/s")
        return entry

    # -- workload 6b: the example dashboard (README command 1) ---------------------------
    def pages(self):
        """The example project's async page (/) against its sync page (/sync/), on the
        embedded engine with the demo data, loaded one at a time, alternating: on a
        quiet machine, then beside a CPU-bound neighbour process."""
        res = {"rows": self.size["page_rows"]}
        env = self.env(ours=True, DASHBOARD_DATA=tempfile.mkdtemp(prefix="chb-pages-"))
        env.pop("CLICKHOUSE_HTTP_URL", None)
        try:
            subprocess.run([self.py, "manage.py", "load_demo", "--rows", str(res["rows"])], cwd=EXAMPLE,
                           env=env, check=True, capture_output=True, timeout=600)
        except (subprocess.SubprocessError, OSError) as e:
            res["error"] = f"load_demo failed: {getattr(e, 'stderr', '') or e}"[-300:]
            self.results["pages"] = res
            return
        port = _free_port()
        p = subprocess.Popen([self.py, "-m", "uvicorn", "dashboard.asgi:application", "--host", "127.0.0.1",
                              "--port", str(port), "--no-access-log", "--log-level", "warning"],
                             cwd=EXAMPLE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        urls = {"async": f"http://127.0.0.1:{port}/", "sync": f"http://127.0.0.1:{port}/sync/"}
        try:
            if not _wait_port(port, p, 60):
                res["error"] = "uvicorn did not start: " + (p.stderr.read()[-300:] if p.poll() is not None else "")
                return
            for page in urls.values():  # warm-up: imports, connections, chDB caches
                self.load_page(page, res["rows"])
            for where in ("quiet", "neighbour"):
                hog = None
                if where == "neighbour":
                    hog = subprocess.Popen([self.py, "-c", "while True: pass"], start_new_session=True)
                try:
                    times = {k: [] for k in urls}
                    for _ in range(self.size["page_loads"]):
                        for k, url in urls.items():
                            times[k].append(self.load_page(url, res["rows"]))
                finally:
                    if hog:
                        os.killpg(hog.pid, signal.SIGKILL)
                        hog.wait()
                res[where] = times
                log(f"  pages   {where:9s} async {sorted(times['async'])[len(times['async']) // 2] * 1e3:.0f} ms, "
                    f"sync {sorted(times['sync'])[len(times['sync']) // 2] * 1e3:.0f} ms")
        except Exception as e:  # noqa: BLE001
            res["error"] = f"{type(e).__name__}: {e}"[:300]
        finally:
            self.results["pages"] = res
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            shutil.rmtree(env["DASHBOARD_DATA"], ignore_errors=True)

    @staticmethod
    def load_page(url, rows):
        """Seconds to load one page; the page must count every demo event."""
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as r:
            html = r.read().decode()
        took = time.perf_counter() - t0
        shown = re.search(r'<b id="total">([^<]*)</b>', html)
        if not shown or int(shown.group(1).replace(",", "")) != rows:
            raise ValueError(f"{url} shows {shown and shown.group(1)!r} events, not {rows}")
        return took

    def run(self):
        todo = self.args.only or WORKLOADS
        for w in WORKLOADS:
            if w not in todo:
                continue
            log(f"workload {w}")
            if w in ("seq", "conc"):
                self.driver_workload(w)
            elif w in ("fetch", "stream"):
                self.driver_workload(w)
            elif w == "insert":
                self.driver_workload(w)
                self.django_bulk()
            elif w == "orm":
                self.django_orm()
            elif w == "dash":
                self.dashboard()
            elif w == "pages":
                self.pages()
            elif w == "columnar":
                self.columnar()
        if "seq" in todo or "conc" in todo:
            log("raw limit (h2load)")
            self.raw_limit()


def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one run: for development")
    ap.add_argument("--only", type=lambda s: s.split(","), help=f"comma-separated subset of {WORKLOADS}")
    ap.add_argument("--clients", type=lambda s: s.split(","), help="only these driver clients")
    ap.add_argument("--runs", type=int, help="timed runs per case (default 5, quick 1)")
    ap.add_argument("--width", type=int, default=16,
                    help="connections for the concurrent workload, every client and h2load (default 16)")
    ap.add_argument("--dash-connections", type=int, default=16, help="wrk connections (default 16)")
    ap.add_argument("--case-timeout", type=int, default=CASE_TIMEOUT, help="seconds per case")
    ap.add_argument("--server-env", help="use the server of this ctl.sh state file instead of starting one")
    ap.add_argument("--ours-path", help="directory holding the clickhouse_backend package to measure "
                                        "(default: this repository)")
    ap.add_argument("--out", help="results directory (default benchmarks/results, quick: results/quick)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    args = ap.parse_args()
    out_dir = args.out or os.path.join(HERE, "results", "quick" if args.quick else "")
    os.makedirs(out_dir, exist_ok=True)

    server = Server(args.server_env)
    started = time.monotonic()
    try:
        runner = Runner(args, server)
        load_data(server, runner.size["fetch_rows"])
        runner.results["machine"] = machine_info(server, sys.executable, runner.ours_path)
        runner.run()
        runner.results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        runner.results["machine"]["duration_s"] = round(time.monotonic() - started)
        runner.results["command"] = "bash benchmarks/run.sh" + (" --quick" if args.quick else "")
    finally:
        server.stop()
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(runner.results, f, indent=1, default=str)
    log(f"wrote {path} ({runner.results['machine']['duration_s']} s)")

    import report
    if args.only == ["columnar"]:  # workload 8 alone: its tables (no charts, docs untouched)
        print(report.columnar_markdown(runner.results))
        return
    report.main(path, out_dir, write_docs=not (args.no_docs or args.quick))


if __name__ == "__main__":
    main()
