#!/usr/bin/env bash
# The netns cluster suite: builds the cluster, runs tests/cluster, tears it down
# (also on failure or Ctrl-C). Needs root. Usage: bash tests/cluster/run.sh [pytest args]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
export CHB_CLUSTER_STATE_DIR="${CHB_CLUSTER_STATE_DIR:-/tmp/chb-netns-cluster}" CHB_CLUSTER_TESTS=1 PYTHON="$PY"
trap 'bash "$REPO/tests/cluster/cluster.sh" stop' EXIT
bash "$REPO/tests/cluster/cluster.sh" start
cd "$REPO" && "$PY" -m pytest tests/cluster -q -p no:cacheprovider "$@"
