import os

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.backend.settings")

import django  # noqa: E402

django.setup()


def _test_db(alias):
    from django.db import connections
    conn = connections[alias]
    old_name = conn.settings_dict["NAME"]
    conn.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield conn
    finally:
        conn.creation.destroy_test_db(old_name, verbosity=0)


@pytest.fixture(scope="session")
def db(clickhouse_url):
    """The server's test database (test_<NAME>), migrated once per session."""
    yield from _test_db("default")


@pytest.fixture(scope="session")
def edb():
    """The embedded engine's test database, migrated once per session."""
    from tests.embedded_support import HAVE_CHDB
    if not HAVE_CHDB:
        pytest.skip("chDB is not installed (pip install .[embedded])")
    yield from _test_db("embedded")
