"""A DiscoverRunner that also writes every test's outcome to a JSON-lines
file ($DJANGO_CH_RESULTS), so scripts/django-tests.sh can count them per
module without parsing unittest's console output, and at the end of the run
<module>.run.json beside it: the Django version, the target, the server
version and each test's outcome with its failure message, so that
triage.py judges the run by the versions it ran with, not by the current
environment's."""
import json
import os
import unittest

from django.test.runner import DiscoverRunner


def _name(test):
    # "module.tests.Class.test_method" (subtests and class-level errors too).
    test_id = getattr(test, "id", None)
    return test_id() if callable(test_id) else str(test)


def _run_json(results_path):
    """<module>.run.json beside <module>.jsonl."""
    base = results_path[:-len(".jsonl")] if results_path.endswith(".jsonl") else results_path
    return base + ".run.json"


def _clip(text, keep=3000):
    # The assertion's first lines and the traceback's last ones matter most.
    return text if len(text) <= 2 * keep else text[:keep] + "\n[...]\n" + text[-keep:]


def _message(err):
    """The exception's type and message ("DataError: ..."): what a listing's
    FAILS_WITH is matched against (the traceback's code lines are not)."""
    exc_type, exc, _ = err
    return _clip("%s: %s" % (exc_type.__name__, exc), 2000)


# The target and server version of the run, for run.json (set once the test
# databases are set up).
_RUN_INFO = {}

# Worst first: a test's outcome in run.json is its worst one (subtests).
_ORDER = ["error", "fail", "xpass", "xfail", "skip", "pass"]


class RecordingResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get("DJANGO_CH_RESULTS")
        self._out = open(path, "a") if path else None
        self._failed_subtests = set()
        self.outcomes = {}  # test name: {"outcome", "message"}, for run.json

    def _record(self, test, outcome, detail="", message=""):
        name = _name(test)
        old = self.outcomes.get(name)
        if old is None or _ORDER.index(outcome) < _ORDER.index(old["outcome"]):
            lines = message.splitlines()
            self.outcomes[name] = {"outcome": outcome, "first_line": lines[0] if lines else "",
                                   "message": message}
        if self._out is not None:
            self._out.write(json.dumps({"test": name, "outcome": outcome,
                                        "detail": _clip(detail)}) + "\n")
            self._out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        if _name(test) not in self._failed_subtests:
            self._record(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "fail", self._exc_info_to_string(err, test), _message(err))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test), _message(err))

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._failed_subtests.add(_name(test))
            failed = issubclass(err[0], test.failureException)
            self._record(test, "fail" if failed else "error",
                         self._exc_info_to_string(err, test), _message(err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skip", reason, str(reason))

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "xpass")

    def stopTestRun(self):
        super().stopTestRun()
        if self._out is not None:
            self._out.close()
            self._out = None
        # Before unittest prints the errors: printing one can raise (a subtest's
        # description holding a lazy QuerySet that the server refuses).
        path = os.environ.get("DJANGO_CH_RESULTS")
        if path:
            import django

            info = dict(_RUN_INFO, django_version=list(django.VERSION[:3]),
                        listed_only=bool(os.environ.get("DJANGO_CH_LISTED_ONLY")),
                        tests=self.outcomes)
            with open(_run_json(path), "w") as f:
                json.dump(info, f, indent=1, sort_keys=True)


class RecordingRunner(DiscoverRunner):
    def get_resultclass(self):
        return RecordingResult

    def setup_databases(self, **kwargs):
        old = super().setup_databases(**kwargs)
        # The versions this run is judged by (the server's, once connected).
        from django.db import connection

        from tests.django_settings.skips import on_embedded

        _RUN_INFO.update(target="embedded" if on_embedded(connection) else "server",
                         server_version=list(connection.server_version))
        return old

    def build_suite(self, *args, **kwargs):
        suite = super().build_suite(*args, **kwargs)
        if not os.environ.get("DJANGO_CH_LISTED_ONLY"):
            return suite
        # Only the tests skips.py lists for this server version, run
        # (DJANGO_CH_NO_SKIPS) to find listings that no longer fail.
        from django.db import connection
        from django.test.utils import iter_test_cases

        from tests.django_settings.skips import listed, on_embedded

        names = listed(connection.server_version, embedded=on_embedded(connection))
        keep = [t for t in iter_test_cases(suite)
                if _name(t) in names or _name(t).rsplit(".", 1)[0] in names]
        # DJANGO_CH_REPEAT=N: each test N times in a row (triage.py --check re-runs
        # a listing that passed by chance; its worst outcome counts).
        repeat = int(os.environ.get("DJANGO_CH_REPEAT") or 1)
        return unittest.TestSuite([t for t in keep for _ in range(repeat)])
