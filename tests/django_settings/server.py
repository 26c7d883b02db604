"""Django test suite against the ClickHouse server in CLICKHOUSE_HTTP_URL."""
from .common import *  # noqa: F401,F403
from .common import server_database

DATABASES = {"default": server_database("default"), "other": server_database("other")}
