"""Django settings for the backend tests (ClickHouse at CH_HOST:CH_PORT,
default 127.0.0.1:18123)."""
import os

SECRET_KEY = "tests"
USE_TZ = os.environ.get("CH_USE_TZ", "1") == "1"
TIME_ZONE = "UTC"
DATABASES = {
    "default": {
        "ENGINE": "clickhouse_backend.backend",
        "NAME": os.environ.get("CH_DATABASE", "django_tests"),
        "HOST": os.environ.get("CH_HOST", "127.0.0.1"),
        "PORT": int(os.environ.get("CH_PORT", "18123")),
        "USER": os.environ.get("CH_USER", "default"),
        "PASSWORD": os.environ.get("CH_PASSWORD", ""),
        "OPTIONS": {"settings": {"mutations_sync": 1}},
        "TEST": {"NAME": os.environ.get("CH_TEST_DATABASE", "test_django_tests")},
    }
}
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "tests.backend.testapp",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django.db.backends": {"handlers": ["null"], "level": "DEBUG"}},
}
