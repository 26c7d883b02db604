"""Dashboard example settings.

Default: the embedded engine (chDB) with its data in DASHBOARD_DATA (default
examples/dashboard/.data). Set CLICKHOUSE_HTTP_URL=http://user:password@host:port/db
to use a ClickHouse server (20.1+: the model has a DateTime64 column)."""
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "dashboard-example-not-secret"
DEBUG = os.environ.get("DASHBOARD_DEBUG") == "1"
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["clickhouse_backend", "events"]  # clickhouse_backend: manage.py chquery
ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates",
              "DIRS": [BASE_DIR / "dashboard" / "templates"]}]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database():
    url = os.environ.get("CLICKHOUSE_HTTP_URL")
    db = {"ENGINE": "clickhouse_backend.backend", "NAME": "dashboard",
          # The same ClickHouse settings apply to sync and async queries.
          "OPTIONS": {"settings": {"max_execution_time": 30}, "connections_max": 64}}
    if not url:
        db["NAME"] = "default"
        db["OPTIONS"]["embedded"] = os.environ.get("DASHBOARD_DATA") or str(BASE_DIR / ".data")
        return db
    u = urlsplit(url)
    db.update(HOST=u.hostname, PORT=u.port or 8123, USER=unquote(u.username or "default"),
              PASSWORD=unquote(u.password or ""), NAME=u.path.strip("/") or "dashboard")
    return db


DATABASES = {"default": _database()}
