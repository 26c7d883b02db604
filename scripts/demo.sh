#!/usr/bin/env bash
# README command (1): the main job -- install what is needed, build the driver,
# start a throwaway local ClickHouse server, run examples/demo.py against it,
# stop the server.
#
#   bash scripts/demo.sh
#
# Uses the same setup as scripts/test.sh (CHB_VENV, CHB_SKIP_INSTALL apply).
set -euo pipefail
# shellcheck source=scripts/test.sh
source "$(dirname "${BASH_SOURCE[0]}")/test.sh"

demo_cleanup() {
    local rc=$?
    stop_test_server
    exit "$rc"
}

trap demo_cleanup EXIT
trap 'exit 130' INT TERM
setup_environment
start_test_server
say "running examples/demo.py"
"$VENV_PY" "$REPO/examples/demo.py"
say "demo finished"
