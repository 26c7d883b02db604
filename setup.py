"""Build the extension module clickhouse_backend._engine from ext/*.c, and with
CHB_TEST_EXT=1 the test-only clickhouse_backend._engine_testing from ext/testing/*.c
(bindings of the parsers only the tests drive; scripts/test.sh sets it).

System libraries are found with pkg-config; a missing -dev package stops the build
with the apt command that installs it.
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup

# pkg-config module -> Debian package that provides its .pc file
PKG_CONFIG_DEPS = {
    "libevent": "libevent-dev",
    "libevent_pthreads": "libevent-dev",
    "libevent_openssl": "libevent-dev",
    "openssl": "libssl-dev",
    "libnghttp2": "libnghttp2-dev",
    "zlib": "zlib1g-dev",
    "libzstd": "libzstd-dev",
}


def _fail(msg):
    sys.stderr.write("\nclickhouse_backend build error: %s\n\n" % msg)
    raise SystemExit(1)


def pkg_config():
    if not shutil.which("pkg-config"):
        _fail("pkg-config not found. Install it with:\n    sudo apt-get install -y pkg-config")
    missing = [m for m in PKG_CONFIG_DEPS
               if subprocess.call(["pkg-config", "--exists", m]) != 0]
    if missing:
        pkgs = sorted({PKG_CONFIG_DEPS[m] for m in missing})
        _fail("missing system libraries (%s). Install them with:\n    sudo apt-get install -y %s"
              % (", ".join(missing), " ".join(pkgs)))
    mods = list(PKG_CONFIG_DEPS)
    cflags = subprocess.check_output(["pkg-config", "--cflags"] + mods, text=True).split()
    libs = subprocess.check_output(["pkg-config", "--libs"] + mods, text=True).split()
    return cflags, libs


def _compile_flags():
    """(compile args, link args, macros) shared by both extensions."""
    if any(a in sys.argv for a in ("egg_info", "sdist", "--name", "--version")):
        cflags, libs = [], []
    else:
        cflags, libs = pkg_config()
    extra = ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
             "-Wno-missing-field-initializers", "-fvisibility=hidden"]
    macros = []
    # CHB_DEBUG=1: no optimisation, assertions and invariant checks on (see ext/debug.h).
    if os.environ.get("CHB_DEBUG"):
        extra += ["-O0", "-g3", "-UNDEBUG"]
        macros.append(("CHB_DEBUG", "1"))
    else:
        extra += ["-O2"]
    # CHB_SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer build.
    if os.environ.get("CHB_SANITIZE"):
        extra += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        libs = libs + ["-fsanitize=address,undefined"]
    return cflags + extra, libs, macros


# The pure-C components _engine_testing binds (each linked again into it: the two
# modules share no symbols).
TESTING_COMPONENTS = ["ext/httpparse.c", "ext/decompress.c", "ext/native_scan.c", "ext/native_type.c"]


def extensions():
    cflags, libs, macros = _compile_flags()
    common = dict(include_dirs=["ext"], define_macros=macros, extra_compile_args=cflags, extra_link_args=libs)
    exts = [Extension("clickhouse_backend._engine", sources=sorted(glob.glob("ext/*.c")),
                      depends=sorted(glob.glob("ext/*.h")), **common)]
    if os.environ.get("CHB_TEST_EXT") == "1":
        exts.append(Extension("clickhouse_backend._engine_testing",
                              sources=sorted(glob.glob("ext/testing/*.c")) + TESTING_COMPONENTS,
                              depends=sorted(glob.glob("ext/*.h")), **common))
    return exts

setup(
    name="clickhouse-backend",
    version="0.1.0",
    description="Django backend and async DB-API driver for ClickHouse on a libevent C engine",
    packages=find_packages(include=["clickhouse_backend", "clickhouse_backend.*"]),
    package_data={"clickhouse_backend": ["*.pyi", "py.typed"]},
    ext_modules=extensions(),
    # Tested: Django 5.2 LTS on Python 3.11 and Django 6.1 on Python 3.12
    # (scripts/test.sh runs both); Django 6.x needs Python 3.12+ itself.
    python_requires=">=3.11",
    install_requires=["django>=5.2,<6.2", "greenlet>=3.0"],
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Framework :: Django :: 6.1",
        "Programming Language :: C",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Database",
    ],
    extras_require={
        "embedded": ["chdb-core>=26.1"],
        # columnar results and inserts (docs/columnar.md); the row API needs none of them
        "numpy": ["numpy>=1.24"],
        "pandas": ["numpy>=1.24", "pandas>=2.0"],
        "arrow": ["numpy>=1.24", "pyarrow>=14"],
        "test": ["pytest", "pytest-asyncio", "hypothesis", "psutil", "chdb-core>=26.1", "greenlet>=3.0",
                 "numpy", "pandas", "pyarrow"],
    },
)
