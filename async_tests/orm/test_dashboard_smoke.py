"""examples/dashboard end to end: load demo data, serve it with uvicorn on the
embedded engine, open both pages in headless Chromium and check that the
charts were laid out with data and that async and sync pages agree."""
import asyncio
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


async def _browse(url, env):
    # --dump-dom prints the DOM after the load event (the page's check has run).
    out, _ = await _run(CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--virtual-time-budget=10000", "--dump-dom", url, env=env, timeout=120)
    body = re.search(r"<body([^>]*)>", out)
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', out, re.S)
    assert body and data, out[:2000]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    return attrs, json.loads(html.unescape(data.group(1))), out


async def test_dashboard_in_headless_chromium(tmp_path):
    env = dict(os.environ, DASHBOARD_DATA=str(tmp_path / "data"), HOME=str(tmp_path),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CLICKHOUSE_HTTP_URL", None)  # the example's default: the embedded engine
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out, err = await _run(sys.executable, "manage.py", "load_demo", "--rows", str(ROWS), "--batch", "1000",
                          env=env, timeout=300)
    assert "100%% %d/%d" % (ROWS, ROWS) in err  # the progress bar reached the end
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
        attrs, data, page = await _browse("http://127.0.0.1:%d/" % port, env)
        sync_attrs, sync_data, _ = await _browse("http://127.0.0.1:%d/sync/" % port, env)
    finally:
        server.terminate()
        _, err = await asyncio.wait_for(server.communicate(), 30)
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
