"""What the embedded-engine (chDB) tests of tests/ and async_tests/ share.

chDB allows ONE data path per process and pytest runs tests/ and async_tests/
in one process, so every in-process embedded test (and any Django test that
wants the embedded engine in the same run) must open the same path: EMBEDDED.
It is $CLICKHOUSE_EMBEDDED_PATH when set, else True (the process's temporary
directory, deleted at exit). Tests that need another path run it in a subprocess.
"""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

EMBEDDED = os.environ.get("CLICKHOUSE_EMBEDDED_PATH") or True

HAVE_CHDB = importlib.util.find_spec("chdb") is not None
requires_chdb = pytest.mark.skipif(not HAVE_CHDB, reason="chDB is not installed (pip install .[embedded])")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def driver():
    import clickhouse_backend.driver as chd

    return chd


@pytest.fixture(scope="session")
def embedded_conn():
    """The session's sync embedded connection (opening the engine can take seconds)."""
    if not HAVE_CHDB:
        pytest.skip("chDB is not installed (pip install .[embedded])")
    c = driver().connect(embedded=EMBEDDED)
    yield c
    c.close()


@pytest.fixture
def ecursor(embedded_conn):
    cur = embedded_conn.cursor()
    yield cur
    cur.close()


def run_python(code, timeout=120, env=None):
    """Run code in a fresh interpreter (its own chDB engine); returns CompletedProcess."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT)
