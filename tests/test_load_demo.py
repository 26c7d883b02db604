"""The example's load_demo --in-database (issue 19): one INSERT ... SELECT run by
the embedded engine, its progress stream drawing the bar; then the example's
manage.py chquery reads the rows back as CSV."""
import os
import re
import subprocess
import sys

import pytest

from tests.embedded_support import ROOT, requires_chdb

EXAMPLE = os.path.join(ROOT, "examples", "dashboard")
ROWS = 50000


def manage(*args, env):
    p = subprocess.run([sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, p.stderr


@requires_chdb
def test_load_demo_in_database_with_progress(tmp_path):
    env = dict(os.environ, DASHBOARD_DATA=str(tmp_path / "data"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CLICKHOUSE_HTTP_URL", None)  # the example's default: the embedded engine
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out, err = manage("load_demo", "--rows", str(ROWS), "--in-database", env=env)
    assert f"100% {ROWS}/{ROWS} rows written" in err
    assert f"loaded {ROWS} events" in out
    # written_rows counts the events and what the materialized view wrote into its
    # rollup (EventDailyMV -> EventDaily) for them: more than the events alone.
    written = int(re.search(r"the server wrote (\d+) rows, the materialized view's rollup rows included", out)[1])
    assert written > ROWS
    out, err = manage("chquery", "--csv", "SELECT count(), uniqExact(id), countIf(kind = 'purchase' AND revenue = 0), "
                      "countIf(kind != 'purchase' AND revenue != 0), uniqExact(country), max(user_id) < 5000 "
                      "FROM events_event", env=env)
    header, values = out.splitlines()
    assert values.split(",") == [str(ROWS), str(ROWS), "0", "0", "10", "1"]
    assert "rows read" in err
