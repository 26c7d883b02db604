"""Sorts the failures of a Django test-suite run (scripts/django-tests.sh) by
ClickHouse limitation, to maintain tests/django_settings/skips.py:

    python tests/django_settings/triage.py [--write|--replace] /tmp/django-tests-server [...]
    python tests/django_settings/triage.py --stale DIR [...]   # after DJANGO_CH_LISTED_ONLY=1 runs
    python tests/django_settings/triage.py --check DIR [...]   # the same runs: exit 1 on a bad listing

prints (--write: merges into skips.GENERATED; --replace: replaces it,
for result directories of runs with DJANGO_CH_NO_SKIPS=1) the failing tests that
match a limitation's pattern, per (server version gate, reason), and then the
failures no pattern explains: backend bugs to fix, or limitations to add to
RULES or to skips.MANUAL by hand. A pattern is matched against the
whole traceback of the failure. Run the suite with DJANGO_CH_NO_SKIPS=1 to see
every failure again."""
import collections
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Run as a script (the documented way): the repository root must be importable for tests.*.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.django_settings import skips as S  # noqa: E402

# (regex on the traceback, gate: skip before this server version or None for
# every version, reason)
RULES = [
    (r"more than one JOIN in query is not implemented", (20, 1), "ONE_JOIN"),
    (r"union\(\) without all=True is UNION DISTINCT", (19, 18), "UNION_DISTINCT"),
    (r"Syntax error: failed at position \d+[^\n]*(EXISTS|\(SELECT|AS \"?a\"? FROM)", (25, 0), "CORRELATED"),
    (r"(?i)Cannot decorrelate query|Correlated subqueries (are|in [a-z ]+ are) not supported|"
     r"Scalar subquery returned more than one row|can't find correlated column",
     None, "CORRELATED"),
    (r"JSON key lookups need ClickHouse 19\.4", (19, 4), "NO_JSON_FUNCTIONS"),
    (r"Unknown identifier: \w+\.\w+", (25, 0), "CORRELATED"),
    (r"Type mismatch of columns to JOIN by", (20, 1), "JOIN_TYPES"),
    (r"Unknown function|Unknown identifier: CURRENT", (20, 1), "OLD_FUNCTIONS"),
    (r"AssertionError: datetime\.datetime\([^)]*\) != datetime\.datetime\([^)]*\d, \d+\)|"
     r"DateTimePK object \([^)]*\d\)> != <DateTimePK", (20, 1), "SECONDS"),
    (r"IntegrityError not raised|IntegrityError'>[^\n]*\) not raised", None, "NO_CONSTRAINTS"),
    (r"not found in '[^']*INSERT INTO[^']*'|RETURNING", None, "NO_RETURNING"),
    (r"(?m)(queries executed, \d+ expected|^\d+\. )[\s\S]*(system\.mutations|ALTER TABLE [^\n]* "
     r"(UPDATE|DELETE)|SELECT count\(\) FROM)|unexpectedly found in 'SELECT count\(\) FROM",
     None, "MUTATIONS"),
    (r"'SELECT' unexpectedly found in 'SELECT \"\w+\"\.\"id\"", (20, 1), "MUTATIONS"),
    (r"Expression returns value NULL, that is out of range of type", (20, 1), "NULL_DATA_ERROR"),
    (r"Cannot change the type of key column", None, "KEY_COLUMNS"),
    (r"Cannot convert column '\w+' from nullable type", None, "NOT_NULL_ALTER"),
    # An expected value with microseconds against one without (list diffs).
    (r"(?m)^\+ [^\n]*datetime\.(datetime\((\d+, ){6}|time\((\d+, ){3})\d+[,)]", (20, 1),
     "SECONDS"),
    (r"datetime\.(datetime|date)\(1970, 1, 1[,)][^\n]*!= [^\n]*datetime\.(datetime|date)\(1[89]\d\d,",
     (20, 1), "DATE_RANGE"),
]


def failures(out):
    for path in sorted(glob.glob(os.path.join(out, "*.jsonl"))):
        worst = {}
        for line in open(path):
            rec = json.loads(line)
            if rec["outcome"] in ("fail", "error"):
                worst.setdefault(rec["test"], rec["detail"])
        yield from worst.items()


def classify(dirs):
    found = collections.defaultdict(set)
    unexplained = {}
    for out in dirs:
        for test, detail in failures(out):
            for pattern, gate, reason in RULES:
                if re.search(pattern, detail):
                    found[(gate, reason)].add(test)
                    break
            else:
                lines = [ln for ln in detail.strip().splitlines() if ln.strip()]
                unexplained[test] = lines[-1][:200] if lines else "?"
    return found, unexplained


def render(found):
    out = ["GENERATED = ["]
    for (gate, reason), tests in sorted(found.items(), key=lambda kv: (kv[0][0] or (999,), kv[0][1])):
        out.append("    (%r, %s, [" % (gate, reason))
        out.extend("        %r," % t for t in sorted(tests))
        out.append("    ]),")
    out.append("]")
    return "\n".join(out)


def stale(dirs):
    """Listed tests that passed in runs made with DJANGO_CH_LISTED_ONLY=1."""
    passed = set()
    for out in dirs:
        for path in glob.glob(os.path.join(out, "*.jsonl")):
            worst = {}
            for line in open(path):
                rec = json.loads(line)
                if rec["outcome"] in ("fail", "error") or rec["test"] not in worst:
                    worst[rec["test"]] = rec["outcome"]
            passed.update(t for t, o in worst.items() if o == "pass")
    return passed


# A listing whose reason is by_chance (tied rows in no particular order) may pass
# by chance: it is called stale only if it passes this many runs in a row.
BY_CHANCE_RUNS = 20
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _covers(listed_name, test):
    """Whether a listed name (a test or a class) covers a test of a run: its
    own name, or "setUpClass (module.Class)" for an error of its class."""
    m = re.match(r"^\w+ \((.+)\)$", test)
    if m:  # a class-level error covers every listed test of the class
        inner = m.group(1)
        return listed_name == inner or listed_name.startswith(inner + ".") or \
            inner.startswith(listed_name + ".")
    return test == listed_name or test.startswith(listed_name + ".")


def load_runs(dirs):
    """(module, run.json contents) of every run in the result directories."""
    for out in dirs:
        for path in sorted(glob.glob(os.path.join(out, "*.run.json"))):
            with open(path) as f:
                yield os.path.basename(path)[:-len(".run.json")], json.load(f)


def judge(module, run):
    """Problems of one listed-only run, by the versions it ran with: a listed
    test that passes, is skipped by Django itself, fails with a message none of
    its reasons' FAILS_WITH matches, or is not in the run at all. Returns
    (problems, by_chance, judged): problems as (test, text); by_chance the passing
    tests whose reasons are all by_chance, to re-run before calling them stale;
    judged {test: outcome} of the run's tests that the listing covers."""
    django_version = tuple(run["django_version"][:2])
    server_version = tuple(run["server_version"])
    embedded = run["target"] == "embedded"
    problems, by_chance = [], []
    if not run.get("listed_only"):
        return [(module, "not a DJANGO_CH_LISTED_ONLY=1 run")], [], {}
    reasons = collections.defaultdict(list)  # listed name: reasons
    for reason, tests in S._applying(server_version, embedded, django_version):
        for name in tests:
            if name.split(".", 1)[0] == module:
                reasons[name].append(reason)
    tests = run["tests"]
    # Each test of the run with the reasons of every listed name covering it
    # (a test and its class may both be listed).
    why = collections.defaultdict(list)
    covered_by = collections.defaultdict(list)
    for name, listed_reasons in sorted(reasons.items()):
        hits = [t for t in tests if _covers(name, t)]
        if not hits:
            problems.append((name, "listed but not run (no such test in Django %s?)"
                             % ".".join(map(str, run["django_version"]))))
        for test in hits:
            why[test] += [r for r in listed_reasons if r not in why[test]]
            covered_by[test].append(name)
    for test, reasons_of_test in sorted(why.items()):
        rec = tests[test]
        outcome, message = rec["outcome"], rec.get("message", "")
        if outcome == "pass":
            if all(r in S.BY_CHANCE for r in reasons_of_test):
                by_chance.append(test)
            else:
                problems.append((test, "passes: not a failure to list"))
        elif outcome == "skip":
            # A listed class may hold a test Django skips; not all of them.
            names = covered_by[test]
            if test in names or all(tests[t]["outcome"] == "skip" for t in tests
                                    if any(_covers(n, t) for n in names)):
                problems.append((test, "skipped by Django itself (%s): the listing is dead"
                                 % rec.get("first_line", "")))
        elif outcome in ("fail", "error"):
            missing = [S.reason_name(r) for r in reasons_of_test if r not in S.FAILS_WITH]
            if missing:
                problems.append((test, "no FAILS_WITH for %s" % ", ".join(missing)))
            elif not any(re.search(S.FAILS_WITH[r], message) for r in reasons_of_test):
                problems.append((test, "fails with %r, which its reason (%s) does not "
                                 "describe (FAILS_WITH %s)" % (
                                     rec.get("first_line", "")[:300],
                                     "/".join(S.reason_name(r) for r in reasons_of_test),
                                     " | ".join(S.FAILS_WITH[r] for r in reasons_of_test))))
        else:  # xfail/xpass: listings are skips, never expected failures
            problems.append((test, "outcome %s" % outcome))
    return problems, by_chance, {t: tests[t]["outcome"] for t in why}


def rerun(target, tests, runs):
    """{test: worst outcome} of ``runs`` more runs of ``tests`` in one listed-only
    run of scripts/django-tests.sh (DJANGO_CH_REPEAT), with the environment's
    interpreter (PYTHON) and server (CLICKHOUSE_HTTP_URL), and that run's
    run.json contents per module to check its versions against."""
    out = tempfile.mkdtemp(prefix="chb-triage-rerun-")
    env = dict(os.environ, DJANGO_CH_LISTED_ONLY="1", DJANGO_CH_REPEAT=str(runs),
               DJANGO_TESTS_OUT=out)
    labels = sorted({t.split(" ")[-1].strip("()") for t in tests})
    subprocess.run(["bash", os.path.join(REPO, "scripts", "django-tests.sh"), "--target",
                    target, "--no-report"] + labels, env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # One run per label (basic.tests.T.test_x.run.json): merged per module.
    runs = {}
    for label, run in load_runs([out]):
        merged = runs.setdefault(label.split(".", 1)[0], dict(run, tests={}))
        merged["tests"].update(run["tests"])
    shutil.rmtree(out, ignore_errors=True)
    return runs


def check(dirs, runs=BY_CHANCE_RUNS, rerun=rerun, counts=None):
    """Problems of the listed-only runs in ``dirs`` (see judge()); a by-chance
    listing that passes is re-run ``runs`` times and is stale only if it passes
    every time. ``counts`` (a Counter) gets the outcomes of the listed tests."""
    problems = []
    for module, run in load_runs(dirs):
        found, by_chance, judged = judge(module, run)
        if counts is not None:
            counts.update({"error": "fail"}.get(o, o) for o in judged.values())
        problems += [("%s (%s, Django %s, server %s)" % (
            t, run["target"], ".".join(map(str, run["django_version"][:2])),
            ".".join(map(str, run["server_version"]))), text) for t, text in found]
        if not by_chance:
            continue
        again = rerun(run["target"], by_chance, runs).get(module)
        if again is None or (again["django_version"][:2], again["server_version"]) != (
                run["django_version"][:2], run["server_version"]):
            problems += [(t, "passed by chance; could not re-run it with the run's Django and "
                          "server versions") for t in by_chance]
            continue
        for t in by_chance:
            outcome = again["tests"].get(t, {}).get("outcome")
            if outcome == "pass":
                problems.append((t, "passes %d runs more: stale, although its reason says "
                                 "it passes only by chance" % runs))
    return problems


def main(argv):
    if "--check" in argv:
        dirs = [a for a in argv if not a.startswith("--")]
        runs = list(load_runs(dirs))
        counts = collections.Counter()
        problems = check(dirs, counts=counts)
        for test, text in problems:
            print("BAD %s: %s" % (test, text))
        print("triage --check: %d runs, %d listed tests: %d fail, %d pass, %d skipped by "
              "Django; %d problems" % (len(runs), sum(counts.values()), counts["fail"],
                                       counts["pass"], counts["skip"], len(problems)))
        return 1 if problems or not runs else 0
    if "--stale" in argv:
        # runs with DJANGO_CH_LISTED_ONLY=1: which listings no longer fail
        # (a listing whose failure depends on the order of tied rows may pass)
        by_chance = set().union(*(tests for _, reason, tests in S._entries()
                                  if reason in S.BY_CHANCE))
        for t in sorted(stale([a for a in argv if not a.startswith("--")])):
            print(t + ("  (order by chance: keep)" if t in by_chance else ""))
        return
    write = "--write" in argv or "--replace" in argv
    dirs = [a for a in argv if not a.startswith("--")]
    found, unexplained = classify(dirs)
    if write and "--replace" not in argv:
        # Merge with what is listed (runs with skips applied do not show the
        # skipped tests; run with DJANGO_CH_NO_SKIPS=1 to start afresh).
        for gate, reason, tests in S.GENERATED:
            name = next(k for k, v in vars(S).items() if v is reason and k.isupper())
            found[(gate, name)].update(tests)
    if write:
        path = S.__file__
        text = open(path).read()
        begin, end = "# BEGIN GENERATED", "# END GENERATED"
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = "%s%s by tests/django_settings/triage.py\n%s\n%s%s" % (
            head, begin, render(found), end, tail)
        with open(path, "w") as f:
            f.write(text)
    else:
        print(render(found))
    print("\n# unexplained (%d)" % len(unexplained))
    for t, last in sorted(unexplained.items()):
        print("#   %s | %s" % (t, last))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
