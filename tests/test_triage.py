"""triage.py --check on synthetic listed-only runs (<module>.run.json as
tests/django_settings/runner.py writes them): a listed test must fail, with a
message its reason's FAILS_WITH matches, judged by the Django and server
versions of the run, not of the current environment."""
import json

import pytest

from tests.django_settings import skips as S
from tests.django_settings import triage

JOIN_TEST = "fake.tests.JoinTests.test_two_joins"
CHANCE_TEST = "fake.tests.OrderTests.test_ties"
NEW_TEST = "fake.tests.NewTests.test_added_in_61"
TWO_JOINS = ("NotSupportedError: Code: 48, e.displayText() = DB::Exception: Support for more "
             "than one JOIN in query is not implemented, e.what() = DB::Exception")


@pytest.fixture(autouse=True)
def listing(monkeypatch):
    """A listing of three tests of a module "fake", with real reasons."""
    monkeypatch.setattr(S, "MANUAL", [((20, 1), S.ONE_JOIN, [JOIN_TEST]),
                                      (None, S.UNORDERED_BY_CHANCE, [CHANCE_TEST])])
    monkeypatch.setattr(S, "GENERATED", [])
    monkeypatch.setattr(S, "DJANGO_RELEASE_LISTED", [((6, 1), None, S.NO_RETURNING, [NEW_TEST])])
    monkeypatch.setattr(S, "EMBEDDED_LISTED", [])
    monkeypatch.setattr(S, "GONE_IN_DJANGO", {})
    monkeypatch.setattr(S, "PASSING_FROM_DJANGO", {})


def outcome(kind, message=""):
    return {"outcome": kind, "first_line": message.splitlines()[0] if message else "",
            "message": message}


def write_run(directory, tests, server=(18, 16, 1), django=(5, 2, 19), target="server",
              listed_only=True):
    chance = {CHANCE_TEST: outcome("fail", "AssertionError: Lists differ: ['b', 'a'] != ['a', 'b']")}
    run = {"django_version": list(django), "server_version": list(server), "target": target,
           "listed_only": listed_only, "tests": dict(chance, **tests)}
    directory.mkdir(exist_ok=True)
    (directory / "fake.run.json").write_text(json.dumps(run))
    return str(directory)


def check(tmp_path, capsys, tests, **run):
    rc = triage.main(["--check", write_run(tmp_path / "run", tests, **run)])
    return rc, capsys.readouterr().out


def test_matching_failure_is_ok(tmp_path, capsys):
    rc, out = check(tmp_path, capsys, {JOIN_TEST: outcome("error", TWO_JOINS)})
    assert rc == 0, out
    assert "2 listed tests: 2 fail, 0 pass, 0 skipped by Django; 0 problems" in out


def test_listed_test_that_passes_fails_the_check(tmp_path, capsys):
    rc, out = check(tmp_path, capsys, {JOIN_TEST: outcome("pass")})
    assert rc == 1
    assert "BAD %s" % JOIN_TEST in out and "passes" in out


def test_failure_the_reason_does_not_describe_fails_the_check(tmp_path, capsys):
    rc, out = check(tmp_path, capsys, {
        JOIN_TEST: outcome("error", "MultipleObjectsReturned: get() returned more than one Tag")})
    assert rc == 1
    assert "MultipleObjectsReturned" in out and "ONE_JOIN" in out


def test_test_django_skips_itself_is_a_dead_listing(tmp_path, capsys):
    rc, out = check(tmp_path, capsys, {
        JOIN_TEST: outcome("skip", "Database doesn't support feature(s): supports_foo")})
    assert rc == 1
    assert "skipped by Django itself" in out


def test_listed_test_missing_from_the_run_fails_the_check(tmp_path, capsys):
    rc, out = check(tmp_path, capsys, {})
    assert rc == 1
    assert "listed but not run" in out


def test_gate_uses_the_runs_server_version(tmp_path, capsys):
    # ONE_JOIN is listed before 20.1 only: a 20.1 run need not have the test,
    # and its passing there is no problem, whatever server the environment has.
    rc, out = check(tmp_path, capsys, {JOIN_TEST: outcome("pass")}, server=(20, 1, 2))
    assert rc == 0, out


def test_range_gate_applies_from_its_first_version(tmp_path, capsys, monkeypatch):
    # Listed from 21.9 on (Django skips the test before): not asked of 18.16.
    monkeypatch.setattr(S, "MANUAL", S.MANUAL + [(((21, 9), None), S.ONE_JOIN, [NEW_TEST])])
    ok = {JOIN_TEST: outcome("error", TWO_JOINS)}
    assert check(tmp_path, capsys, ok)[0] == 0
    rc, out = check(tmp_path, capsys, ok, server=(21, 9, 1))
    assert rc == 1 and "listed but not run" in out and NEW_TEST in out
    assert S.gate_applies(((21, 9), (22, 1)), (21, 12)) and not S.gate_applies(((21, 9), (22, 1)), (22, 1))


def test_django_release_listing_uses_the_runs_django_version(tmp_path, capsys):
    ok = {JOIN_TEST: outcome("error", TWO_JOINS)}
    # Listed from Django 6.1 on: a 5.2 run is not asked for it ...
    assert check(tmp_path, capsys, ok, django=(5, 2, 19))[0] == 0
    # ... a 6.1 run is.
    rc, out = check(tmp_path, capsys, ok, django=(6, 1, 3))
    assert rc == 1 and NEW_TEST in out


def test_run_without_listed_only_is_refused(tmp_path, capsys):
    rc, out = check(tmp_path, capsys, {JOIN_TEST: outcome("error", TWO_JOINS)},
                    listed_only=False)
    assert rc == 1 and "not a DJANGO_CH_LISTED_ONLY=1 run" in out


def test_no_runs_fails_the_check(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert triage.main(["--check", str(tmp_path / "empty")]) == 1


def test_class_level_error_covers_the_listed_tests_of_the_class(tmp_path, capsys):
    rc, out = check(tmp_path, capsys, {
        "setUpClass (fake.tests.JoinTests)": outcome("error", TWO_JOINS)})
    assert rc == 0, out


def test_django_skip_inside_a_listed_class_is_not_a_dead_listing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(S, "MANUAL", S.MANUAL + [((20, 1), S.ONE_JOIN, ["fake.tests.ClassTests"])])
    tests = {JOIN_TEST: outcome("error", TWO_JOINS),
             "fake.tests.ClassTests.test_a": outcome("error", TWO_JOINS),
             "fake.tests.ClassTests.test_b": outcome("skip", "Database doesn't support feature")}
    rc, out = check(tmp_path, capsys, tests)
    assert rc == 0, out
    # Every test of the class skipped by Django: the listing is dead.
    tests["fake.tests.ClassTests.test_a"] = outcome("skip", "Database doesn't support feature")
    rc, out = check(tmp_path, capsys, tests)
    assert rc == 1 and "skipped by Django itself" in out


def test_test_listed_twice_may_fail_with_either_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(S, "MANUAL", S.MANUAL + [((20, 1), S.UNION_DISTINCT, [JOIN_TEST])])
    union = ("NotSupportedError: union() without all=True is UNION DISTINCT, which needs "
             "ClickHouse 19.18 or later (server is 18.16.1); use union(..., all=True).")
    rc, out = check(tmp_path, capsys, {JOIN_TEST: outcome("error", union)})
    assert rc == 0, out


class Rerun:
    """Stands in for the subprocess re-run: what the re-run's run.json holds."""

    def __init__(self, outcome, django=(5, 2, 19)):
        self.outcome, self.django, self.calls = outcome, django, []

    def __call__(self, target, tests, runs):
        self.calls.append((target, sorted(tests), runs))
        return {"fake": {"django_version": list(self.django), "server_version": [18, 16, 1],
                         "target": target, "listed_only": True,
                         "tests": {t: outcome(self.outcome) for t in tests}}}


def by_chance_problems(tmp_path, rerun):
    ok = {JOIN_TEST: outcome("error", TWO_JOINS), CHANCE_TEST: outcome("pass")}
    return triage.check([write_run(tmp_path / "run", ok)], runs=5, rerun=rerun)


def test_by_chance_listing_that_fails_on_a_rerun_is_kept(tmp_path):
    rerun = Rerun("fail")
    assert by_chance_problems(tmp_path, rerun) == []
    assert rerun.calls == [("server", [CHANCE_TEST], 5)]


def test_by_chance_listing_that_passes_every_rerun_is_stale(tmp_path):
    problems = by_chance_problems(tmp_path, Rerun("pass"))
    assert [t for t, _ in problems] == [CHANCE_TEST]
    assert "stale" in problems[0][1]


def test_by_chance_rerun_with_other_versions_is_not_trusted(tmp_path):
    problems = by_chance_problems(tmp_path, Rerun("fail", django=(6, 1, 3)))
    assert [t for t, _ in problems] == [CHANCE_TEST]
    assert "could not re-run" in problems[0][1]


@pytest.mark.parametrize("django_version", [(5, 2), (6, 1)])
def test_every_real_reason_has_a_failure_pattern(monkeypatch, django_version):
    monkeypatch.undo()  # the real listing
    entries = S._entries(django_version) + S._embedded_entries(django_version)
    missing = {S.reason_name(reason) for _, reason, tests in entries
               if tests and reason not in S.FAILS_WITH}
    assert not missing
