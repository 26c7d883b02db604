"""The DB-API 2.0 suite (tests/test_dbapi20.py) again, on the embedded engine.

The server fixtures of tests/conftest.py are overridden so that every connection
the suite opens is embedded (the shared per-process path of embedded_support).
Tests about the HTTP transport itself (sockets, pools, endpoints) are left out.
"""
import pytest

from tests.conftest import _admin_conn, server_version  # noqa: F401  (module-local copies, see below)
from tests.embedded_support import EMBEDDED, HAVE_CHDB
from tests.test_dbapi20 import *  # noqa: F401,F403  (collected again here)

pytestmark = pytest.mark.skipif(not HAVE_CHDB, reason="chDB is not installed (pip install .[embedded])")


# pytest caches a session fixture by its definition, not by what it depended on:
# the conftest's _admin_conn (behind scratch_db) and server_version, once made by
# an HTTP module, would be reused here, so scratch databases would be created on
# the server and never in chDB (or, in the other order, every later module would
# get an embedded admin connection). The copies imported above are fixtures of
# this module, so they are built from the server_params below and cached apart.
@pytest.fixture(scope="session")
def server_params():
    return {"embedded": EMBEDDED}


@pytest.fixture(scope="session")
def clickhouse_url():
    return "embedded"


# About the HTTP transport (DSNs with host and port, passwords): nothing to run in-process.
for _name in ("test_connect_http_dsn", "test_connect_clickhouse_dsn_with_user_and_setting",
              "test_wrong_password_is_rejected", "test_unreachable_server_raises_operational_error"):
    globals().pop(_name, None)
