"""Snowflake-style 63-bit ids generated client-side (ClickHouse has no
auto-increment).

Layout (most significant first): 41 bits milliseconds since EPOCH_MS,
10 bits worker id, 12 bits sequence.  Ids from one generator strictly
increase.  Safe across threads (a lock) and processes: the worker id comes
from CLICKHOUSE_WORKER_ID (0..1023; or, as in django-clickhouse-backend,
CLICKHOUSE_DATACENTER_ID and CLICKHOUSE_WORKER_ID, 0..31 each) or, by
default, from the process id, and is recomputed in a forked child.
settings.CLICKHOUSE_ID_WORKER replaces the generator (see generate_id).  Processes on different hosts, or more
than 1024 live processes on one host, should set CLICKHOUSE_WORKER_ID.
"""
import os
import threading
import time

EPOCH_MS = 1288834974657  # the classic Twitter epoch (2010-11-04)
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


def _env_int(name, maximum):
    env = os.environ.get(name)
    if env is None or env == "":
        return None
    try:
        value = int(env)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        raise ValueError("%s must be an integer in 0..%d, got %r" % (name, maximum, env))
    return value


def _default_worker_id():
    """CLICKHOUSE_WORKER_ID (0..1023); with CLICKHOUSE_DATACENTER_ID set, the
    django-clickhouse-backend layout: 5-bit datacenter id, 5-bit worker id."""
    datacenter = _env_int("CLICKHOUSE_DATACENTER_ID", 31)
    if datacenter is not None:
        worker = _env_int("CLICKHOUSE_WORKER_ID", 31) or 0
        return (datacenter << 5) | worker
    worker = _env_int("CLICKHOUSE_WORKER_ID", MAX_WORKER)
    return worker if worker is not None else os.getpid() & MAX_WORKER


class SnowflakeGenerator:
    def __init__(self, worker_id=None, clock=None):
        if worker_id is not None and not 0 <= worker_id <= MAX_WORKER:
            raise ValueError("worker_id must be in 0..%d" % MAX_WORKER)
        self._fixed_worker = worker_id
        self.worker_id = worker_id if worker_id is not None else _default_worker_id()
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def _reset_after_fork(self):
        self._lock = threading.Lock()
        if self._fixed_worker is None:
            self.worker_id = _default_worker_id()
        self._last_ms = -1
        self._sequence = 0

    def next_id(self):
        with self._lock:
            now = self._clock()
            if now < self._last_ms:
                # Clock went backwards: keep issuing from the last instant
                # rather than risk a duplicate.
                now = self._last_ms
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    # 4096 ids used in this millisecond: borrow the next one
                    # (the clock catches up; ids stay unique and increasing).
                    now = self._last_ms + 1
            else:
                self._sequence = 0
            self._last_ms = now
            return ((now - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)) | \
                (self.worker_id << SEQUENCE_BITS) | self._sequence

    @staticmethod
    def parse(value):
        """(unix milliseconds, worker id, sequence) of an id."""
        return ((value >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS,
                (value >> SEQUENCE_BITS) & MAX_WORKER, value & MAX_SEQUENCE)


_generator = SnowflakeGenerator()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_generator._reset_after_fork)


def next_id():
    return _generator.next_id()


_configured = (None, None)  # (settings value, resolved callable)


def generate_id():
    """The id for a new row's auto field: settings.CLICKHOUSE_ID_WORKER (as
    in django-clickhouse-backend: dotted path to an object with get_id(), or
    to a callable) when set, else this module's generator."""
    global _configured
    from django.conf import settings

    path = getattr(settings, "CLICKHOUSE_ID_WORKER", None)
    if not path:
        return _generator.next_id()
    if _configured[0] != path:
        from django.utils.module_loading import import_string

        worker = import_string(path) if isinstance(path, str) else path
        func = getattr(worker, "get_id", None) or getattr(worker, "next_id", None) or worker
        if not callable(func):
            raise TypeError("CLICKHOUSE_ID_WORKER %r has no get_id() and is not callable" % path)
        _configured = (path, func)
    return _configured[1]()
