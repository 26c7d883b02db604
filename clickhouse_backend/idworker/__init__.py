"""django-clickhouse-backend's id worker API at its import paths: ``BaseIDWorker``,
``SnowflakeIDWorker`` and ``id_worker``, the worker ``settings.CLICKHOUSE_ID_WORKER``
names (default ``clickhouse_backend.idworker.snowflake.snowflake_worker``).

The ids come from clickhouse_backend.utils.snowflake: this package only gives
them the predecessor's names."""
from clickhouse_backend.utils.snowflake import generate_id

from .base import BaseIDWorker
from .snowflake import SnowflakeIDWorker

__all__ = ["BaseIDWorker", "SnowflakeIDWorker", "id_worker"]


class _ConfiguredWorker(BaseIDWorker):
    """The worker auto fields use: settings.CLICKHOUSE_ID_WORKER when set (read
    on each call, as the compiler does, so override_settings applies), else the
    process's snowflake generator."""

    def get_id(self):
        return generate_id()

    def __repr__(self):
        return "<id_worker: settings.CLICKHOUSE_ID_WORKER or the snowflake generator>"


id_worker = _ConfiguredWorker()
