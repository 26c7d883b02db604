"""A DiscoverRunner that also writes every test's outcome to a JSON-lines
file ($DJANGO_CH_RESULTS), so scripts/django-tests.sh can count them per
module without parsing unittest's console output."""
import json
import os
import unittest

from django.test.runner import DiscoverRunner


def _name(test):
    # "module.tests.Class.test_method" (subtests and class-level errors too).
    test_id = getattr(test, "id", None)
    return test_id() if callable(test_id) else str(test)


def _clip(text, keep=3000):
    # The assertion's first lines and the traceback's last ones matter most.
    return text if len(text) <= 2 * keep else text[:keep] + "\n[...]\n" + text[-keep:]


class RecordingResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get("DJANGO_CH_RESULTS")
        self._out = open(path, "a") if path else None
        self._failed_subtests = set()

    def _record(self, test, outcome, detail=""):
        if self._out is not None:
            self._out.write(json.dumps({"test": _name(test), "outcome": outcome,
                                        "detail": _clip(detail)}) + "\n")
            self._out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        if _name(test) not in self._failed_subtests:
            self._record(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._failed_subtests.add(_name(test))
            failed = issubclass(err[0], test.failureException)
            self._record(test, "fail" if failed else "error",
                         self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skip", reason)

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


class RecordingRunner(DiscoverRunner):
    def get_resultclass(self):
        return RecordingResult

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
        return unittest.TestSuite(keep)
