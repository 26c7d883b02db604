"""The build finds its system libraries with pkg-config and, when one is missing,
stops with the apt command that installs it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_missing_dev_package_names_the_apt_command(tmp_path):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path), PKG_CONFIG_PATH="")
    out = subprocess.run([sys.executable, "setup.py", "build_ext", "-b", str(tmp_path / "b"), "-t", str(tmp_path / "t")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "sudo apt-get install -y" in out.stderr
    for pkg in ("libevent-dev", "libssl-dev", "libnghttp2-dev", "zlib1g-dev", "libzstd-dev"):
        assert pkg in out.stderr


def test_extension_links_the_system_libraries():
    import clickhouse_backend._engine as eng

    ldd = subprocess.run(["ldd", eng.__file__], capture_output=True, text=True).stdout
    for lib in ("libevent", "libevent_pthreads", "libevent_openssl", "libssl", "libnghttp2", "libz", "libzstd"):
        assert lib in ldd, lib


@pytest.mark.parametrize("module", ["_engine", "_engine_testing"])
def test_stub_file_matches_the_module(module):
    import importlib

    eng = importlib.import_module(f"clickhouse_backend.{module}")  # _engine_testing: CHB_TEST_EXT=1 builds
    stub = (ROOT / "clickhouse_backend" / f"{module}.pyi").read_text()
    public = {n for n in dir(eng) if not n.startswith("_")}
    missing = sorted(n for n in public if f"def {n}" not in stub and f"class {n}" not in stub and f"{n}:" not in stub)
    assert not missing, f"{module}.pyi lacks {missing}"


def test_product_module_carries_no_test_bindings():
    # the parsers only tests drive live in _engine_testing (ext/testing/, CHB_TEST_EXT=1)
    from clickhouse_backend import _engine
    from tests.engine_testing import testing

    for name in ("HTTPResponseParser", "Decompressor", "NativeScanner"):
        assert not hasattr(_engine, name), name
        assert hasattr(testing, name), name
    assert not hasattr(_engine.NativeDecoder(), "scan_work")
    assert callable(_engine.compress)  # request bodies: the product keeps it


def test_engine_client_takes_its_defaults_from_the_driver_options():
    # pool size, timeouts and the HTTP/2 mode are defined once (driver/config.py): the
    # engine has no second copy to drift, so a caller that leaves one out is told so
    from clickhouse_backend import _engine
    from clickhouse_backend.driver.config import Options

    with pytest.raises(TypeError, match="driver/config.py"):
        _engine.Client("localhost", 8123)
    o = Options()
    full = dict(pool_size=o.pool_size, pool_timeout=o.pool_timeout,
                idle_timeout=o.idle_timeout, connect_timeout=o.connect_timeout,
                send_receive_timeout=o.send_receive_timeout, http2=_engine.HTTP2_AUTO,
                load_balancing=o.lb_policy, host_backoff=o.host_backoff, host_backoff_max=o.host_backoff_max,
                dns_refresh=o.dns_refresh, health_check=o.health_check_kind,
                health_check_interval=o.health_check_interval, max_replica_delay=o.max_replica_delay)
    for left_out in full:
        with pytest.raises(TypeError, match=left_out.split("_")[0]):
            _engine.Client("localhost", 8123, **{k: v for k, v in full.items() if k != left_out})
    with pytest.raises(ValueError, match="http2"):
        _engine.Client("localhost", 8123, **dict(full, http2=3))
    # the per-request limits too (Options.stream_buffer_bytes, max_decompression_ratio, max_block_bytes)
    client = _engine.Client("localhost", 8123, **full)
    limits = dict(buffer_limit=o.stream_buffer_bytes, max_ratio=o.max_decompression_ratio,
                  max_block_bytes=o.max_block_bytes)
    for left_out in limits:
        with pytest.raises(TypeError, match=left_out):
            client.request(b"SELECT 1", **{k: v for k, v in limits.items() if k != left_out})
    client.close()


def test_engine_enums_are_named_on_both_sides():
    # the driver maps its option names to the engine's constants, never to positions
    from clickhouse_backend import _engine
    from clickhouse_backend.driver import hosts

    assert len({getattr(_engine, "LB_" + n.upper()) for n in hosts.LOAD_BALANCING}) == len(hosts.LOAD_BALANCING)
    assert hosts.check_load_balancing("in_order") == _engine.LB_IN_ORDER
    assert hosts.check_health_check(None) == _engine.CHECK_NONE
    assert hosts.check_health_check("replicas_status") == _engine.CHECK_REPLICAS_STATUS
    assert len({_engine.AUTH_NONE, _engine.AUTH_BASIC, _engine.AUTH_HEADERS}) == 3

