"""Django for the async ORM tests: a test database on the server ("default")
and on the embedded engine ("embedded"), created once per session.

Sync-path results for comparison are computed in a worker thread (Django's
sync ORM refuses to run on the loop); the no-thread-hop guard is only active
around the async calls under test."""
import asyncio
import contextlib
import os
import threading

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "async_tests.orm.settings")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()
READY = "async_tests.orm.aioapp" in settings.INSTALLED_APPS
NOT_READY = ("Django is already set up with %s (tests/backend?): run async_tests separately, "
             "as scripts/test.sh does" % os.environ.get("DJANGO_SETTINGS_MODULE"))

from tests.embedded_support import HAVE_CHDB  # noqa: E402

ALIASES = ["default", "embedded"]
# Slow views: every block sleeps (max_block_size=1 makes one row a block).
SLOW_VIEW = ("CREATE VIEW {db}.aio_slow AS SELECT number AS id FROM numbers({rows}) "
             "WHERE sleepEachRow({sleep}) = 0")


def pytest_runtest_setup(item):
    # A skip would read as a pass: these tests did not run, so they fail.
    if not READY and str(item.fspath).startswith(os.path.dirname(__file__)):
        pytest.fail(NOT_READY, pytrace=False)


@pytest.fixture(scope="session")
def orm_databases(clickhouse_url):
    from django.db import connections

    made = []
    for alias in ALIASES:
        if alias == "embedded" and not HAVE_CHDB:
            continue
        c = connections[alias]
        old = c.settings_dict["NAME"]
        c.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        made.append((c, old))
        with c.cursor() as cur:
            cur.execute(SLOW_VIEW.format(db=c.settings_dict["NAME"], rows=8, sleep=0.25))
    connections["short"].settings_dict["NAME"] = connections["default"].settings_dict["NAME"]
    yield {c.alias for c, _ in made}
    for c, old in made:
        c.creation.destroy_test_db(old, verbosity=0)
        c.close()


@pytest.fixture(params=ALIASES)
def alias(request, orm_databases):
    if request.param not in orm_databases:
        pytest.skip("chDB is not installed (pip install .[embedded])")
    return request.param


@pytest.fixture
def clean(orm_databases):
    """Empties the test tables before a test (on both engines)."""
    from django.db import connections

    from async_tests.orm.aioapp import models as m

    for a in orm_databases:
        with connections[a].cursor() as cur:
            for model in (m.Event, m.Author, m.Book, m.Note):
                cur.execute("TRUNCATE TABLE %s" % connections[a].ops.quote_name(model._meta.db_table))


async def sync(fn, *args, **kwargs):
    """The sync path, in a worker thread (outside any no-hop guard)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class ThreadHop(AssertionError):
    pass


@contextlib.contextmanager
def no_thread_hop(alias="default"):
    """Fails the test if asgiref's sync_to_async, a loop executor or a new thread is used.
    The embedded engine (no socket) runs chDB in an executor by design: no
    guard there."""
    if alias != "default":
        yield
        return
    from asgiref.sync import SyncToAsync

    loop = asyncio.get_running_loop()
    original_call = SyncToAsync.__call__

    async def hop_call(self, *a, **k):
        raise ThreadHop("sync_to_async(%s) called" % getattr(self.func, "__qualname__", "?"))

    def hop_executor(*a, **k):
        raise ThreadHop("loop.run_in_executor() called")

    def hop_thread(self, *a, **k):
        raise ThreadHop("threading.Thread.start() called")

    original_start = threading.Thread.start
    SyncToAsync.__call__ = hop_call
    loop.run_in_executor = hop_executor
    threading.Thread.start = hop_thread
    try:
        yield
    finally:
        SyncToAsync.__call__ = original_call
        threading.Thread.start = original_start
        del loop.run_in_executor


async def running(marker):
    """How many queries containing ``marker`` the test server is running now."""
    from django.db import connections

    from clickhouse_backend.backend import bridge

    def count():
        with connections["default"].cursor() as cur:
            cur.execute("SELECT count() FROM system.processes WHERE query LIKE %s "
                        "AND query NOT LIKE '%%system.processes%%'", ["%" + marker + "%"])
            return cur.fetchone()[0]

    return await bridge.run(count)


async def cancel_when_running(task, marker):
    """Cancels ``task`` once its query (containing ``marker``) runs on the server,
    then fails the test unless the query is gone from the server within 3 s."""
    for _ in range(300):
        if await running(marker):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the query never showed up in system.processes")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(150):
        if not await running(marker):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the cancelled query is still running on the server")
