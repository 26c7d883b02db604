import contextlib
import os

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.backend.settings")

import django  # noqa: E402

django.setup()


@pytest.fixture(scope="session", autouse=True)
def _database_access(request):
    """These tests create their own test databases (db/edb below). When
    pytest-django is active in the same run it blocks database access
    outside its django_db mark: lift that block for this directory."""
    blocker = None
    if request.config.pluginmanager.hasplugin("django"):
        blocker = request.getfixturevalue("django_db_blocker")
    if blocker is None:
        yield
        return
    with blocker.unblock():
        yield


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
def db(clickhouse_url, _database_access):
    """The server's test database (test_<NAME>), migrated once per session."""
    yield from _test_db("default")


@pytest.fixture(scope="session")
def edb(_database_access):
    """The embedded engine's test database, migrated once per session."""
    from tests.embedded_support import HAVE_CHDB
    if not HAVE_CHDB:
        pytest.skip("chDB is not installed (pip install .[embedded])")
    yield from _test_db("embedded")


def use_db(alias, request):
    """The connection of `alias` ("default": the server, "embedded": chDB) with
    its session test database set up (the db/edb fixtures)."""
    from django.db import connections
    request.getfixturevalue("db" if alias == "default" else "edb")
    return connections[alias]


def temp_model(prefix, base, **fields):
    """A model class of `fields` on a fresh table name, in an app registry of
    its own (nothing global to clean up); create its table with the schema
    editor."""
    import uuid

    from django.apps.registry import Apps

    meta = type("Meta", (), {"app_label": "testapp", "apps": Apps(),
                             "db_table": "%s_%s" % (prefix, uuid.uuid4().hex[:8])})
    return type(prefix.title().replace("_", ""), (base,),
                {"__module__": __name__, "Meta": meta, **fields})


@contextlib.contextmanager
def created_tables(conn, *models):
    """The models' tables on conn for the duration of the block."""
    with conn.schema_editor() as editor:
        for model in models:
            editor.create_model(model)
    try:
        yield
    finally:
        with conn.schema_editor() as editor:
            for model in models:
                editor.delete_model(model)
