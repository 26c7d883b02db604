"""asyncio test base for async_tests/, in the spirit of asyncpg's TestCase.

* Every test runs on a loop in debug mode (pytest.ini: asyncio_debug = true;
  scripts/test.sh also sets PYTHONASYNCIODEBUG=1 for this suite).
* The loop's exception handler is replaced for the duration of each test. If it
  is called -- an exception in a callback, a Future/Task exception that was
  never retrieved, an error inside the Notifier's add_reader callback -- the
  test FAILS, even if its own assertions passed.
* pytest-asyncio runs in auto mode: a plain `async def test_...` is enough.

Server fixtures (clickhouse_url, server_params, server_version, scratch_db) are
shared with tests/conftest.py.
"""
import asyncio
import gc

import pytest

from tests.conftest import (  # noqa: F401  (re-exported as fixtures)
    _admin_conn,
    clickhouse_url,
    scratch_db,
    server_params,
    server_version,
)

_ERRORS_ATTR = "_chb_loop_errors"


def _format_context(ctx):
    parts = [str(ctx.get("message", "unhandled exception in event loop"))]
    for key in ("exception", "future", "task", "handle"):
        if ctx.get(key) is not None:
            parts.append(f"  {key}: {ctx[key]!r}")
    src = ctx.get("source_traceback")
    if src:
        parts.append("  created at: " + "".join(f"\n    {f}" for f in src.format()[-3:]))
    return "\n".join(parts)


def _failure_text(errors):
    return (f"the event loop's exception handler was called {len(errors)} time(s):\n"
            + "\n".join(_format_context(c) for c in errors))


@pytest.fixture(autouse=True)
async def _loop_exception_guard(request):
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    errors = []

    def handler(lp, context):
        errors.append(context)
        lp.default_exception_handler(context)  # keep the usual log output too

    previous = loop.get_exception_handler()
    loop.set_exception_handler(handler)
    setattr(request.node, _ERRORS_ATTR, errors)
    try:
        yield loop
        # Errors that surface only after the test body (during fixture teardown
        # or when an abandoned task is garbage collected).
        gc.collect()
        await asyncio.sleep(0)
        if errors:
            pytest.fail(_failure_text(errors), pytrace=False)
    finally:
        loop.set_exception_handler(previous)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    # Turn handler calls during the test body into a failure of the test itself
    # (not only a teardown error). If the test already failed, its own error wins.
    errors = getattr(pyfuncitem, _ERRORS_ATTR, None)
    try:
        result = yield
    except BaseException:
        if errors:
            errors.clear()  # already shown in the captured log; one report is enough
        raise
    if errors is not None:
        gc.collect()  # "Task exception was never retrieved" is reported by __del__
        if errors:
            text = _failure_text(errors)
            errors.clear()  # reported here; do not repeat it at teardown
            pytest.fail(text, pytrace=False)
    return result


@pytest.fixture
async def make_aconn(server_params):
    """Factory: await make_aconn(**overrides) -> AsyncConnection, closed after the test."""
    import clickhouse_backend.driver as chd

    opened = []

    async def _connect(**overrides):
        kwargs = dict(server_params)
        kwargs.update(overrides)
        c = await chd.connect_async(**kwargs)
        opened.append(c)
        return c

    yield _connect
    for c in opened:
        try:
            await c.close()
        except chd.Error:
            pass  # closed by the test


@pytest.fixture
async def aconn(make_aconn):
    return await make_aconn()


@pytest.fixture
async def acursor(aconn):
    return aconn.cursor()
