"""Django settings for async_tests/orm: "default" is the test server
(CLICKHOUSE_HTTP_URL), "embedded" the in-process engine (chDB), "short" the
server with a 0.5 s query_timeout. Test databases get a unique name per run."""
import os
import uuid

from tests.conftest import parse_server_url
from tests.embedded_support import EMBEDDED

_server = parse_server_url(os.environ.get("CLICKHOUSE_HTTP_URL") or "http://127.0.0.1:18123/")
_run = uuid.uuid4().hex[:8]


def _db(test_name, **options):
    return {
        "ENGINE": "clickhouse_backend.backend",
        "NAME": "default",
        "HOST": _server["host"],
        "PORT": _server["port"],
        "USER": _server.get("user", "default"),
        "PASSWORD": _server.get("password", ""),
        # max_threads: checked to reach async queries; mutations_sync: emulated on 18.16.
        "OPTIONS": {"settings": {"max_threads": 3, "mutations_sync": 1}, **options},
        "TEST": {"NAME": test_name},
    }


SECRET_KEY = "tests"
USE_TZ = True
TIME_ZONE = "UTC"
DATABASES = {
    # 100 concurrent queries must not wait for a pool slot.
    "default": _db("test_chb_aio_%s" % _run, connections_max=128),
    "embedded": _db("test_chb_aio_%s" % _run, embedded=EMBEDDED),
    "short": _db("test_chb_aio_%s" % _run, query_timeout=0.5),
}
DATABASES["short"]["TEST"]["MIRROR"] = "default"
INSTALLED_APPS = ["async_tests.orm.aioapp"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django.db.backends": {"handlers": ["null"], "level": "DEBUG"}},
}
