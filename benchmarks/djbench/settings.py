"""Django settings shared by both backends under test.

BENCH_DJ_BACKEND=ours -> this repository's clickhouse_backend (HTTP port);
BENCH_DJ_BACKEND=dcb  -> django-clickhouse-backend from PyPI (native TCP port).
Both packages are called ``clickhouse_backend``: the runner picks one by putting the
repository on PYTHONPATH (ours) or not (dcb, installed in the benchmark venv), so
the ENGINE string and the models are literally the same for both.
"""
import os

BACKEND = os.environ.get("BENCH_DJ_BACKEND", "ours")
HOST = os.environ.get("BENCH_CH_HOST", "127.0.0.1")

SECRET_KEY = "benchmarks"
DEBUG = False
ALLOWED_HOSTS = ["*"]
# BENCH_USE_TZ=0 for the bulk insert (see run.py: DJANGO_BULK_USE_TZ)
USE_TZ = os.environ.get("BENCH_USE_TZ", "1") == "1"
TIME_ZONE = "UTC"
INSTALLED_APPS = ["djbench"]
ROOT_URLCONF = "djbench.urls"
MIDDLEWARE = []
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if BACKEND == "ours":
    _port, _options = int(os.environ["BENCH_CH_HTTP_PORT"]), {"pool_size": 16}
else:
    _port, _options = int(os.environ["BENCH_CH_TCP_PORT"]), {"connections_min": 16, "connections_max": 16}

DATABASES = {
    "default": {
        "ENGINE": "clickhouse_backend.backend",
        "NAME": os.environ.get("BENCH_CH_DATABASE", "bench"),
        "HOST": HOST,
        "PORT": _port,
        "USER": "default",
        "PASSWORD": "",
        "OPTIONS": _options,
        # persistent connections for both: nothing is re-opened per request
        "CONN_MAX_AGE": None,
    }
}
