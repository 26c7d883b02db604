"""Django test suite against the embedded engine (chDB): one data directory
per process (chDB allows only one), removed at exit."""
import atexit
import shutil
import tempfile

from .common import *  # noqa: F401,F403
from .common import embedded_database

_PATH = tempfile.mkdtemp(prefix="chb-djt-")
atexit.register(shutil.rmtree, _PATH, True)

DATABASES = {"default": embedded_database("default", _PATH),
             "other": embedded_database("other", _PATH)}
