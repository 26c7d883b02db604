"""UPDATE/DELETE statements as a step generator (MutationMixin._mutation_steps),
driven by run_steps() on the sync path and in the async ORM's bridge: one copy of
the logic, so both get the stall detection for servers that do not
report mutation failures (before 20.1)."""
import asyncio

import pytest
from django.db import DatabaseError, OperationalError, connection
from django.db.models.sql import UpdateQuery

from clickhouse_backend.backend import bridge
from clickhouse_backend.backend import compiler as chc
from tests.backend.testapp.models import Event


class _Clock:
    def __init__(self, step):
        self.now, self.step = 1000.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def _update_compiler():
    q = UpdateQuery(Event)
    q.add_update_values({"content": "x"})
    comp = q.get_compiler(connection=connection)
    comp.as_sql()
    return comp


class _FakeCursor:
    """Answers each statement with ``answers(sql)``."""

    def __init__(self, answers):
        self.answers, self.sql = answers, []

    def execute(self, sql, params=None):
        self.sql.append(sql)

    def fetchone(self):
        return self.answers(self.sql[-1])

    def fetchall(self):
        return [self.fetchone()]


def _stuck(sql):
    if "system.mutations" in sql:
        return (1, 3, "")
    return (5,)  # SELECT count() of the matching rows


def test_steps_in_order_and_stall_detected_sync(db, monkeypatch):
    if connection.server_version >= (20, 1):
        pytest.skip("servers from 20.1 report mutation failures")
    monkeypatch.setattr(chc.time, "monotonic", _Clock(7.0))
    monkeypatch.setattr(chc.time, "sleep", lambda s: None)
    comp = _update_compiler()
    cur = _FakeCursor(_stuck)
    with pytest.raises(OperationalError, match="made no progress"):
        chc.run_steps(comp._mutation_steps("ALTER TABLE t UPDATE c = 1 WHERE x", [], "x", []), cur)
    assert cur.sql[0].startswith("SELECT count() FROM")
    assert cur.sql[1] == "ALTER TABLE t UPDATE c = 1 WHERE x"
    assert all("system.mutations" in s for s in cur.sql[2:]) and len(cur.sql) > 3


def test_stall_detected_in_the_bridge(db, monkeypatch):
    """The async ORM runs the same run_steps() in its greenlet: the waits are
    awaited on the loop (asyncio.sleep), not time.sleep() blocking it."""
    if connection.server_version >= (20, 1):
        pytest.skip("servers from 20.1 report mutation failures")
    monkeypatch.setattr(chc.time, "monotonic", _Clock(7.0))
    monkeypatch.setattr(chc.time, "sleep", _no_blocking_sleep)
    slept = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds):
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    comp = _update_compiler()
    cur = _FakeCursor(_stuck)
    with pytest.raises(OperationalError, match="made no progress"):
        asyncio.run(bridge.run(chc.run_steps, comp._mutation_steps(
            "ALTER TABLE t UPDATE c = 1 WHERE x", [], "x", []), cur))
    assert cur.sql[1] == "ALTER TABLE t UPDATE c = 1 WHERE x" and "system.mutations" in cur.sql[-1]
    assert slept and slept == sorted(slept)


def _no_blocking_sleep(seconds):
    raise AssertionError("time.sleep() on the event loop")


def test_progress_resets_the_stall_timer_and_done_returns_count(db, monkeypatch):
    monkeypatch.setattr(chc.time, "monotonic", _Clock(7.0))
    monkeypatch.setattr(chc.time, "sleep", lambda s: None)
    parts = iter([9, 8, 7, 6, 5, 4, 3, 2, 1])

    def answers(sql):
        if "system.mutations" in sql:
            left = next(parts, 0)
            return (1 if left else 0, left, "")
        return (4,)

    comp = _update_compiler()
    cur = _FakeCursor(answers)
    assert chc.run_steps(comp._mutation_steps("ALTER TABLE t UPDATE c = 1 WHERE x", [], "x", []),
                         cur) == 4
    assert sum("system.mutations" in s for s in cur.sql) == 10


def test_nothing_to_do_sends_no_mutation(db):
    comp = _update_compiler()
    cur = _FakeCursor(lambda sql: (0,))
    assert chc.run_steps(comp._mutation_steps("ALTER TABLE t UPDATE c = 1 WHERE x", [], "x", []),
                         cur) == 0
    assert len(cur.sql) == 1


def test_reported_failure_raises(db, monkeypatch):
    comp = _update_compiler()
    steps = comp._mutation_wait_steps('"t"')
    kind, sql, params = next(steps)
    assert kind == chc.FETCHONE and params == ["t"]
    with pytest.raises(DatabaseError, match="boom"):
        steps.send((1, 2, "boom"))
