"""The CI gate for Django's own suite fails when a module run does not end
normally, even after some of its tests passed.

The real scripts run: scripts/django-tests.sh (its per-module loop and
tests/django_settings/report.py) and scripts/test.sh's run_django_subset and
print_summary. Only Django's runtests.py is a stub (a fake Django source tree in
DJANGO_SRC_CACHE): it records passing tests the way runner.RecordingResult does,
then ends as the plan for its module says: normally, with a segfault, an abort,
or by hanging past the per-module timeout."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import django
import pytest

ROOT = Path(__file__).resolve().parent.parent

STUB_RUNTESTS = textwrap.dedent('''\
    import json, os, signal, sys, time
    module = sys.argv[-1]
    how = json.loads(os.environ["CHB_STUB_PLAN"]).get(module, "ok")
    with open(os.environ["DJANGO_CH_RESULTS"], "a") as out:
        for i in range(3):
            out.write(json.dumps({"test": "%s.tests.T.test_%d" % (module, i),
                                  "outcome": "pass", "detail": ""}) + "\\n")
    print("...")
    sys.stdout.flush()
    if how == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif how == "abort":
        os.abort()
    elif how == "hang":
        time.sleep(120)
    elif how == "exit1":  # an exception after the passes, no failure recorded
        raise SystemExit(1)
    print("Ran 3 tests in 0.001s\\n\\nOK")
''')

SUBSET = ["basic", "lookup", "update", "bulk_create", "async"]


@pytest.fixture
def gate_env(tmp_path):
    tests = tmp_path / "cache" / ("django-" + django.__version__) / "tests"
    tests.mkdir(parents=True)
    (tests / "runtests.py").write_text(STUB_RUNTESTS)

    def env(plan, **extra):
        e = dict(os.environ)
        e.update(
            DJANGO_SRC_CACHE=str(tmp_path / "cache"),
            DJANGO_TESTS_OUT=str(tmp_path / "out"),
            CHB_STUB_PLAN=json.dumps(plan),
            CLICKHOUSE_HTTP_URL="http://127.0.0.1:1/",  # unused by the stub
            PYTHON=sys.executable,
            CHB_VENV=str(Path(sys.executable).parent.parent),
            TMPDIR=str(tmp_path),
        )
        e.update(extra)
        return e

    return env


def django_tests(env, *modules):
    return subprocess.run(["bash", str(ROOT / "scripts" / "django-tests.sh"), "--no-report", *modules],
                          env=env, capture_output=True, text=True, timeout=300)


def ci_subset(env):
    """scripts/test.sh's Django step and summary, as main() runs them."""
    script = ('source "$1"; WORK_DIR="$(mktemp -d)"; LEG=stub; run_django_subset; print_summary; '
              '((OVERALL_OK))')
    return subprocess.run(["bash", "-c", script, "gate", str(ROOT / "scripts" / "test.sh")],
                          env=env, capture_output=True, text=True, timeout=300)


def closing_line(stdout):
    return [ln for ln in stdout.splitlines() if ln.startswith("django: ")][-1]


def test_clean_modules_pass(gate_env):
    # The control: the same stub ending normally passes, so the failures below
    # come from the crash and not from the harness.
    r = django_tests(gate_env({}), "basic", "lookup")
    assert r.returncode == 0, r.stdout + r.stderr
    assert closing_line(r.stdout) == "django: 6 passed, 0 failed, 0 skipped, 0 crashed"
    r = ci_subset(gate_env({}))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "RESULT: PASS" in r.stdout


@pytest.mark.parametrize("how, status", [
    ("segv", "rc 139 (SIGSEGV)"),
    ("abort", "rc 134 (SIGABRT)"),
    ("exit1", "rc 1"),
])
def test_crash_after_passes_fails_the_report(gate_env, how, status):
    r = django_tests(gate_env({"lookup": how}), "basic", "lookup")
    assert r.returncode != 0, r.stdout
    assert closing_line(r.stdout) == "django: 6 passed, 0 failed, 0 skipped, 1 crashed (lookup)"
    assert "| lookup | 3 | 3 |" in r.stdout and status in r.stdout
    failures = (Path(gate_env({})["DJANGO_TESTS_OUT"]) / "failures.txt").read_text()
    assert failures.startswith("CRASH lookup: %s" % status)


def test_timeout_after_passes_fails_the_report(gate_env):
    r = django_tests(gate_env({"basic": "hang"}, DJANGO_TESTS_TIMEOUT="2"), "basic")
    assert r.returncode != 0, r.stdout
    assert closing_line(r.stdout) == "django: 3 passed, 0 failed, 0 skipped, 1 crashed (basic)"
    assert "| basic | 3 | 3 |" in r.stdout and "| timeout |" in r.stdout


@pytest.mark.parametrize("module, how", [("update", "segv"), ("async", "hang")])
def test_ci_step_and_result_fail(gate_env, module, how):
    # another run's crashed module left in the default outcome directory is not counted
    stale = Path(gate_env({})["DJANGO_TESTS_OUT"])
    stale.mkdir()
    (stale / "queries.meta").write_text("139 5\n")
    r = ci_subset(gate_env({module: how}, DJANGO_TESTS_TIMEOUT="2"))
    assert r.returncode != 0, r.stdout
    assert "RESULT: FAIL" in r.stdout
    django_row = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("django/stub ")][-1]
    # suite result passed failed errors(=crashed modules) skipped
    assert django_row[:6] == ["django/stub", "FAIL", str(3 * len(SUBSET)), "0", "1", "0"], r.stdout
    assert "crashed (%s)" % module in r.stdout and "queries" not in r.stdout
