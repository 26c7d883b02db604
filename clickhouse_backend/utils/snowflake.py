"""Snowflake-style 63-bit ids generated client-side (ClickHouse has no
auto-increment).

Layout (most significant first): 41 bits milliseconds since EPOCH_MS,
10 bits worker id, 12 bits sequence.  Ids from one generator strictly
increase.  Safe across threads (a lock) and processes: the worker id comes
from CLICKHOUSE_WORKER_ID (0..1023) or, by default, from the process id,
and is recomputed in a forked child.  Processes on different hosts, or more
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


def _default_worker_id():
    env = os.environ.get("CLICKHOUSE_WORKER_ID")
    if env is not None and env != "":
        value = int(env)
        if not 0 <= value <= MAX_WORKER:
            raise ValueError("CLICKHOUSE_WORKER_ID must be in 0..%d" % MAX_WORKER)
        return value
    return os.getpid() & MAX_WORKER


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
