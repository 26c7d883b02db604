"""Table engines, set in a model's ``Meta.engine`` (django-clickhouse-backend's
import path; defined in clickhouse_backend.tables.engines)."""
from clickhouse_backend.tables.engines import *  # noqa: F401,F403
from clickhouse_backend.tables.engines import (  # noqa: F401
    COLUMN, LITERAL, Deconstructed, __all__, is_expression)
