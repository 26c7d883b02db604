"""The netns cluster (tests/cluster/cluster.sh): started for the session unless one is
already up (CHB_CLUSTER_STATE_DIR/env), stopped afterwards if this session started it.
These tests run only when asked for (bash tests/cluster/run.sh, or CHB_CLUSTER_TESTS=1):
they need root, network namespaces and iptables, and take minutes."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "cluster.sh")
STATE = os.environ.get("CHB_CLUSTER_STATE_DIR", "/tmp/chb-netns-cluster")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CHB_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="the netns cluster suite runs with CHB_CLUSTER_TESTS=1 (tests/cluster/run.sh)")
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(skip)


def _env():
    with open(os.path.join(STATE, "env")) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


@pytest.fixture(scope="session")
def cluster():
    started = False
    if not os.path.exists(os.path.join(STATE, "env")):
        subprocess.run(["bash", SCRIPT, "start"], check=True, env={**os.environ, "PYTHON": sys.executable,
                                                                   "CHB_CLUSTER_STATE_DIR": STATE})
        started = True
    try:
        env = _env()
        yield {"hosts": env["CHB_CLUSTER_HOSTS"].split(","), "name": env["CHB_CLUSTER_NAME"],
               "net": env["CHB_CLUSTER_NET"]}
    finally:
        if started:
            subprocess.run(["bash", SCRIPT, "stop"], env={**os.environ, "CHB_CLUSTER_STATE_DIR": STATE})


def fault(what, node, *args):
    subprocess.run(["bash", SCRIPT, "fault", what, node, *args], check=True,
                   env={**os.environ, "PYTHON": sys.executable, "CHB_CLUSTER_STATE_DIR": STATE})
