"""Fixtures for the fault suite: a private ClickHouse server that the tests may
SIGKILL / SIGSTOP (never the shared dev or CI server), and a fault proxy."""
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest

from tests.faults.proxy import FaultProxy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTL = os.path.join(REPO, "tests", "server", "ctl.sh")
SERVER_BIN = os.environ.get("CLICKHOUSE_SERVER_BIN", "/usr/sbin/clickhouse-server")


class PrivateServer:
    """A tests/server/ctl.sh server in its own state dir. `restart()` brings it
    back on the *same* port (same config), which is what a pool has to heal from."""

    def __init__(self):
        self.state_dir = tempfile.mkdtemp(prefix="chb-faults-state.")
        self.env = dict(os.environ, CHB_STATE_DIR=self.state_dir)
        subprocess.run(["bash", CTL, "start"], env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.state = self._read_state()
        self.port = int(self.state["CLICKHOUSE_HTTP_PORT"])
        self.pid = int(self.state["CLICKHOUSE_PID"])
        self.data_dir = self.state["CLICKHOUSE_DATA_DIR"]

    def _read_state(self):
        with open(os.path.join(self.state_dir, "env")) as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)

    def _write_pid(self):
        path = os.path.join(self.state_dir, "env")
        with open(path) as f:
            lines = [f"CLICKHOUSE_PID={self.pid}\n" if line.startswith("CLICKHOUSE_PID=") else line for line in f]
        with open(path, "w") as f:
            f.writelines(lines)

    def params(self, **kw):
        return dict(host="127.0.0.1", port=self.port, **kw)

    def ping(self, timeout=0.5):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=timeout) as r:
                return r.read().startswith(b"Ok.")
        except OSError:
            return False

    def signal(self, sig):
        os.kill(self.pid, sig)

    def freeze(self):
        """SIGSTOP, and wait until every thread is really stopped: delivery is
        asynchronous, and a query sent in between would still be answered."""
        self.signal(signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                states = {_proc_state(f"/proc/{self.pid}/task/{t}/stat") for t in os.listdir(f"/proc/{self.pid}/task")}
            except OSError:
                states = set()
            if states == {"T"}:
                return
            time.sleep(0.01)
        raise RuntimeError(f"server threads not stopped: {states}")

    def thaw(self):
        self.signal(signal.SIGCONT)

    def kill(self):
        self.signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            proc = getattr(self, "_proc", None)
            if proc is not None and proc.pid == self.pid:
                proc.poll()  # reaps it: a restarted server is our child
            if not os.path.exists(f"/proc/{self.pid}") or _is_zombie(self.pid):
                return
            time.sleep(0.02)
        raise RuntimeError("server survived SIGKILL")

    def restart(self, timeout=60):
        """Start the server again with the same config, hence the same ports."""
        log = open(os.path.join(self.data_dir, "log", "restart.log"), "ab")
        p = subprocess.Popen([SERVER_BIN, f"--config-file={self.data_dir}/config.xml"], cwd=self.data_dir,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self._proc = p
        self.pid = p.pid
        self._write_pid()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            if p.poll() is not None:
                raise RuntimeError(f"restarted server exited with {p.returncode}")
            time.sleep(0.1)
        raise RuntimeError("restarted server did not answer /ping")

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGCONT)  # a test may have left it stopped
        except ProcessLookupError:
            pass
        proc = getattr(self, "_proc", None)
        if proc is not None:
            # A restarted server is our child: stop and reap it here, or ctl.sh would
            # wait for a zombie that only we can collect.
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["bash", CTL, "stop"], env=self.env, check=False, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            os.rmdir(self.state_dir)
        except OSError:
            pass


def _proc_state(path):
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _is_zombie(pid):
    try:
        return _proc_state(f"/proc/{pid}/stat") == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def private_server():
    srv = PrivateServer()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def proxy(server_params):
    """A FaultProxy in front of the shared test server (no signals are sent to it)."""
    px = FaultProxy(server_params["port"], server_params["host"])
    yield px
    px.close()


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def unique_pool(prefix="faults", **kw):
    """Options for a pool of the test's own (counters start at zero)."""
    return dict(pool_name=f"{prefix}-{uuid.uuid4().hex[:10]}", **kw)


def wait_for(pred, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
