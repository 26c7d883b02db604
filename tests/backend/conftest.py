import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.backend.settings")

import django  # noqa: E402

django.setup()


@pytest.fixture(scope="session")
def db():
    """A fresh test database (test_<NAME>) migrated once per session."""
    from django.db import connection
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    yield connection
    connection.creation.destroy_test_db(old_name, verbosity=0)
