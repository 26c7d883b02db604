"""Django settings for tests/backend.

"default" is the ClickHouse server from CLICKHOUSE_HTTP_URL (scripts/test.sh
starts one on random ports), "embedded" the in-process chDB engine (same data
path as the driver's embedded tests: one path per process). Database names
are unique per process so that concurrent runs never share one; the test
databases (test_<NAME>) are created and dropped by the fixtures in conftest.py.
Nothing connects at import time: without CLICKHOUSE_HTTP_URL only the
offline (SQL generation) tests can run.
"""
import os
import uuid

from tests.conftest import parse_server_url
from tests.embedded_support import EMBEDDED

SECRET_KEY = "tests"
USE_TZ = os.environ.get("CH_USE_TZ", "1") == "1"
TIME_ZONE = "UTC"

_RUN = os.environ.get("CHB_DJANGO_RUN_ID") or uuid.uuid4().hex[:10]
_url = os.environ.get("CLICKHOUSE_HTTP_URL", "").strip()
# An unreachable placeholder when no server is configured: the db fixture
# fails with the explanation from tests/conftest.py before anything connects.
_server = parse_server_url(_url) if _url else {"host": "127.0.0.1", "port": 9}

DATABASES = {
    "default": {
        "ENGINE": "clickhouse_backend.backend",
        "NAME": "chb_dj_" + _RUN,
        "HOST": _server["host"],
        "PORT": _server["port"],
        "USER": _server.get("user", "default"),
        "PASSWORD": _server.get("password", ""),
        "OPTIONS": {"settings": {"mutations_sync": 1}},
        "TEST": {"NAME": "test_chb_dj_" + _RUN},
    },
    "embedded": {
        "ENGINE": "clickhouse_backend.backend",
        "NAME": "chb_dje_" + _RUN,
        "OPTIONS": {"embedded": EMBEDDED, "settings": {"mutations_sync": 1}},
        "TEST": {"NAME": "test_chb_dje_" + _RUN},
    },
}
# With a ZooKeeper (tests/server/ctl.sh starts one when the Debian package is
# installed, as scripts/test.sh does), the same server again with every migration
# ON CLUSTER `chb_cluster` (a cluster of that server alone): tests/backend/test_cluster.py.
if os.environ.get("CHB_ZOOKEEPER_PORT") and _url:
    DATABASES["cluster"] = dict(
        DATABASES["default"], NAME="chb_djc_" + _RUN,
        OPTIONS={"settings": {"mutations_sync": 1},
                 "migration_cluster": os.environ.get("CHB_CLUSTER", "chb_cluster")},
        TEST={"NAME": "test_chb_djc_" + _RUN})
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tests.backend.testapp",
    "tests.backend.modernapp",
]
DATABASE_ROUTERS = ["tests.backend.routers.ModernOnEmbedded"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django.db.backends": {"handlers": ["null"], "level": "DEBUG"}},
}
