"""pytest-django on this backend: test databases created and dropped for the
server and the embedded engine, flushed between tests. Runs pytest in a
subprocess (pytest-django must not be active in this suite's own process,
which sets Django up itself); skipped when pytest-django is not installed."""
import importlib.util
import os
import subprocess
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TESTS = '''
import pytest
from django.db import connections

from tests.backend.testapp.models import Plain


@pytest.mark.django_db(databases=["default", "embedded"])
def test_a_writes_to_the_test_databases():
    for alias in ("default", "embedded"):
        assert connections[alias].settings_dict["NAME"].startswith("test_chb_dj")
        Plain.objects.using(alias).create(name="pd")
        assert Plain.objects.using(alias).count() == 1


@pytest.mark.django_db(databases=["default", "embedded"])
def test_b_finds_them_flushed():
    assert Plain.objects.count() == 0
    assert Plain.objects.using("embedded").count() == 0
'''


def _chdb_importable():
    # without importing it (that starts chDB's engine); the ASan run hides it with
    # sys.modules["chdb"] = None, as chDB crashes under the ASan preload
    if "chdb" in sys.modules:
        return sys.modules["chdb"] is not None
    return importlib.util.find_spec("chdb") is not None


@pytest.mark.skipif(importlib.util.find_spec("pytest_django") is None,
                    reason="pytest-django is not installed")
@pytest.mark.skipif(not _chdb_importable(),
                    reason="the settings use the embedded engine too, and chDB is not importable here")
def test_pytest_django_creates_flushes_and_drops_test_databases(clickhouse_url, tmp_path):
    (tmp_path / "test_pd.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p pytest_django\n")
    run_id = "pd" + uuid.uuid4().hex[:8]
    env = dict(os.environ, CLICKHOUSE_HTTP_URL=clickhouse_url, CHB_DJANGO_RUN_ID=run_id,
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
               DJANGO_SETTINGS_MODULE="tests.backend.settings")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_pd.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout
    # pytest-django dropped the server's test database at the end.
    from django.db import connections
    with connections["default"]._nodb_cursor() as cur:
        cur.execute("SELECT name FROM system.databases WHERE name LIKE %s", ["%" + run_id])
        assert cur.fetchall() == []
