import os
import urllib.parse

import django

# runtests.py creates test_<NAME> for each alias; the pid keeps concurrent
# runs on one server apart.
_SUFFIX = os.environ.get("DJANGO_CH_DB_SUFFIX") or str(os.getpid())

SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# As Django's own test settings (tests/test_sqlite.py) of each release: 5.2
# sets AutoField, 6.0 made BigAutoField the default and sets nothing.
if django.VERSION < (6, 0):
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = os.environ.get("DJANGO_CH_USE_TZ", "0") == "1"
TEST_RUNNER = "tests.django_settings.runner.RecordingRunner"
# The tests of Django's suite that fail for ClickHouse reasons (skipped, with
# the reason): DatabaseFeatures.django_test_skips reads them from here.
_LISTING = "tests.django_settings.skips"


def server_database(alias):
    url = os.environ.get("CLICKHOUSE_HTTP_URL", "").strip()
    if not url:
        raise RuntimeError("CLICKHOUSE_HTTP_URL is not set (e.g. http://127.0.0.1:18123/)")
    u = urllib.parse.urlsplit(url)
    return {
        "ENGINE": "clickhouse_backend.backend",
        "NAME": "djt_%s_%s" % (alias, _SUFFIX),
        "HOST": u.hostname,
        "PORT": u.port or 8123,
        "USER": urllib.parse.unquote(u.username or "default"),
        "PASSWORD": urllib.parse.unquote(u.password or ""),
        "OPTIONS": {"settings": {"mutations_sync": 1}},
        "TEST": {"django_suite_listing": _LISTING},
    }


def embedded_database(alias, path):
    return {
        "ENGINE": "clickhouse_backend.backend",
        "NAME": "djt_%s_%s" % (alias, _SUFFIX),
        "OPTIONS": {"embedded": path, "settings": {"mutations_sync": 1}},
        "TEST": {"django_suite_listing": _LISTING},
    }
