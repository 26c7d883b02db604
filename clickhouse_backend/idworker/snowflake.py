"""SnowflakeIDWorker(datacenter_id, worker_id) as django-clickhouse-backend has it:
its 5-bit datacenter id and 5-bit worker id are the 10-bit worker id of
clickhouse_backend.utils.snowflake (the same bit layout, so ids from both
packages do not collide for the same pair)."""
from clickhouse_backend.utils import snowflake as _snowflake

from .base import BaseIDWorker

__all__ = ["SnowflakeIDWorker", "snowflake_worker", "MAX_WORKER_ID", "MAX_DATACENTER_ID"]

MAX_WORKER_ID = MAX_DATACENTER_ID = (1 << 5) - 1


class SnowflakeIDWorker(BaseIDWorker):
    def __init__(self, datacenter_id, worker_id, sequence=0):
        # sequence: accepted for the predecessor's signature; a new generator
        # starts its sequence at each millisecond anyway.
        for name, value in (("datacenter_id", datacenter_id), ("worker_id", worker_id)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 31:
                raise ValueError("%s must be an integer in 0..31, got %r" % (name, value))
        self.datacenter_id = datacenter_id
        self.worker_id = worker_id
        self._generator = _snowflake.SnowflakeGenerator(worker_id=(datacenter_id << 5) | worker_id)

    def get_id(self):
        return self._generator.next_id()


class _ProcessWorker(BaseIDWorker):
    """The process's generator (CLICKHOUSE_DATACENTER_ID/CLICKHOUSE_WORKER_ID or
    the pid; renewed in a forked child)."""

    def get_id(self):
        return _snowflake.next_id()


snowflake_worker = _ProcessWorker()
