"""examples/dashboard end to end: load demo data, serve it with uvicorn on the
embedded engine, open both pages in headless Chromium and check that the
charts were laid out with data and that async and sync pages agree; and the
slow-query panel: progress streamed to the page, and its cancel button."""
import asyncio
import contextlib
import html
import importlib.util
import json
import os
import re
import shutil
import socket
import sys

import pytest

from tests.embedded_support import HAVE_CHDB

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "dashboard")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROWS = 3000

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium; "
                                                "scripts/test.sh should install it)"),
    pytest.mark.skipif(importlib.util.find_spec("uvicorn") is None,
                       reason="uvicorn is not installed (requirements-test.txt)"),
    pytest.mark.skipif(not HAVE_CHDB, reason="chDB is not installed (pip install .[embedded])"),
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _run(*cmd, env, timeout):
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=EXAMPLE, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, (cmd, err.decode()[-2000:])
    return out.decode(), err.decode()


async def _dump(url, env, budget_ms=10000):
    # --dump-dom prints the DOM once the page is idle: loaded, no request pending and
    # the virtual-time budget spent (timers run ahead in virtual time).
    out, _ = await _run(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        f"--virtual-time-budget={budget_ms}", "--dump-dom", url, env=env, timeout=120)
    body = re.search(r"<body([^>]*)>", out)
    assert body, out[:2000]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1))), out


async def _browse(url, env):
    attrs, out = await _dump(url, env)
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', out, re.S)
    assert data, out[:2000]
    return attrs, json.loads(html.unescape(data.group(1))), out


def _example_env(tmp_path):
    env = dict(os.environ, DASHBOARD_DATA=str(tmp_path / "data"), HOME=str(tmp_path),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CLICKHOUSE_HTTP_URL", None)  # the example's default: the embedded engine
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


@contextlib.asynccontextmanager
async def _uvicorn(env):
    """The example served by uvicorn on a free port; yields its base URL."""
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "dashboard.asgi:application", "--port", str(port),
        cwd=EXAMPLE, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                await w.wait_closed()
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("uvicorn did not start")
        yield "http://127.0.0.1:%d" % port
    finally:
        server.terminate()
        await asyncio.wait_for(server.communicate(), 30)


async def test_dashboard_in_headless_chromium(tmp_path):
    env = _example_env(tmp_path)
    out, err = await _run(sys.executable, "manage.py", "load_demo", "--rows", str(ROWS), "--batch", "1000",
                          env=env, timeout=300)
    assert "100%% %d/%d" % (ROWS, ROWS) in err  # the progress bar reached the end
    async with _uvicorn(env) as url:
        attrs, data, page = await _browse(url + "/", env)
        sync_attrs, sync_data, _ = await _browse(url + "/sync/", env)
    assert "async (concurrent)" in page
    assert attrs["charts-rendered"] == "4", attrs
    assert int(attrs["bars-rendered"]) > 20, attrs
    assert data["total"] == ROWS
    assert sum(r["n"] for r in data["by_kind"]) == ROWS
    assert sum(r["n"] for r in data["by_day"]) == ROWS  # the panel read with to_dataframe()
    assert sum(data["kind:" + k] for k in ("view", "click", "signup", "purchase")) == ROWS
    # The materialized view's rollup counted every inserted event.
    assert sum(r["n"] for r in data["by_day"]) == ROWS
    assert "materialized-view rollup" in page
    # The same numbers through the sync ORM.
    assert sync_data == data
    assert sync_attrs["charts-rendered"] == "4"


async def test_slow_query_panel_progress_and_cancel(tmp_path):
    # ?selftest=1: the page runs the slow query, waits for three progress events
    # and presses Cancel; the cancel request answers once the engine no longer
    # lists the query (system.processes), and the page asks again afterwards.
    env = _example_env(tmp_path)
    async with _uvicorn(env) as url:
        attrs, page = await _dump(url + "/slow/?selftest=1", env, budget_ms=60000)
    assert attrs.get("state") == "cancelled", page[-3000:]
    reads = [int(x) for x in attrs["reads"].split(",")]
    assert len(reads) >= 3 and all(a < b for a, b in zip(reads, reads[1:])), reads  # rising
    assert attrs["gone"] == "true" and int(attrs["gone-after-ms"]) < 1000, attrs
    assert attrs["running-after-cancel"] == "false"
