"""``from clickhouse_backend import models``: ClickhouseModel, ClickHouse
fields, table engines, data skipping indexes, functions and aggregates."""
from .aggregates import *  # noqa: F401,F403
from .aggregates import __all__ as _aggregates
from .base import ClickhouseManager, ClickhouseModel
from .engines import *  # noqa: F401,F403
from .engines import __all__ as _engines
from .fields import *  # noqa: F401,F403
from .fields import __all__ as _fields
from .functions import *  # noqa: F401,F403
from .functions import __all__ as _functions
from .indexes import *  # noqa: F401,F403
from .indexes import __all__ as _indexes
from .query import Query, QuerySet
from .ttl import TTL, Projection
from .views import Dictionary, MaterializedView, View, dictGet

__all__ = ["ClickhouseModel", "ClickhouseManager", "QuerySet", "Query", "View",
           "MaterializedView", "Dictionary", "dictGet", "TTL", "Projection",
           *_fields, *_engines, *_indexes, *_functions, *_aggregates]
