"""Sorts the failures of a Django test-suite run (scripts/django-tests.sh) by
ClickHouse limitation, to maintain tests/django_settings/skips.py:

    python tests/django_settings/triage.py [--write|--replace] /tmp/django-tests-server [...]
    python tests/django_settings/triage.py --stale DIR [...]   # after DJANGO_CH_LISTED_ONLY=1 runs

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
import sys

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


def main(argv):
    if "--stale" in argv:
        # runs with DJANGO_CH_LISTED_ONLY=1: which listings no longer fail
        # (a listing whose failure depends on the order of tied rows may pass)
        by_chance = set().union(*(tests for _, reason, tests in S._entries()
                                  if reason in (S.UNORDERED, S.UNORDERED_BY_CHANCE)))
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
    main(sys.argv[1:])
