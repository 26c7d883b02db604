"""Data skipping indexes, set in a model's ``Meta.indexes`` (django-clickhouse-backend's
import path; defined in clickhouse_backend.tables.indexes)."""
from clickhouse_backend.tables.indexes import *  # noqa: F401,F403
from clickhouse_backend.tables.indexes import IndexExpression, __all__  # noqa: F401
