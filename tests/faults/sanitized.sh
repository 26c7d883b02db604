#!/usr/bin/env bash
# Run the test suite against an ASan+UBSan build of the extension, or a smoke
# script under valgrind (make asan-test / make valgrind-smoke; docs/reliability.md).
#
#   bash tests/faults/sanitized.sh asan [pytest args]
#   CHB_SANITIZE_TESTS="tests/faults tests/test_pool.py" bash tests/faults/sanitized.sh asan   # targeted
#   bash tests/faults/sanitized.sh valgrind
#
# The extension (and the test-only _engine_testing, CHB_TEST_EXT=1) is built in a
# private copy of the tree (build/sanitize/<kind>/), never over the developer's own build. Uses CLICKHOUSE_HTTP_URL when set, else
# starts a private server with tests/server/ctl.sh and stops it afterwards.
# PYTHON: the interpreter whose site-packages has the test requirements
# (default: .venv/bin/python, else python3).
set -euo pipefail
KIND="${1:?usage: sanitized.sh asan|valgrind [pytest args]}"
shift
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$( [[ -x "$REPO/.venv/bin/python" ]] && echo "$REPO/.venv/bin/python" || echo python3)}"
WS="$REPO/build/sanitize/$KIND"

rm -rf "$WS" && mkdir -p "$WS"
(cd "$REPO" && tar --exclude=.git --exclude=./build --exclude=./.venv --exclude=./fuzz/build -cf - .) | tar -C "$WS" -xf -
find "$WS" -name '_engine*.so' -delete
if [[ "$KIND" == asan ]]; then
    (cd "$WS" && CHB_TEST_EXT=1 CHB_SANITIZE=1 CHB_DEBUG=1 "$PYTHON" setup.py -q build_ext --inplace) >"$WS/build.log" 2>&1 \
        || { tail -30 "$WS/build.log"; exit 1; }
else
    (cd "$WS" && CHB_TEST_EXT=1 CHB_DEBUG=1 "$PYTHON" setup.py -q build_ext --inplace) >"$WS/build.log" 2>&1 \
        || { tail -30 "$WS/build.log"; exit 1; }
fi

STATE=""
cleanup() { [[ -n "$STATE" ]] && CHB_STATE_DIR="$STATE" bash "$REPO/tests/server/ctl.sh" stop >/dev/null 2>&1; [[ -z "$STATE" ]] || rm -rf "$STATE"; }
trap cleanup EXIT
if [[ -z "${CLICKHOUSE_HTTP_URL:-}" ]]; then
    STATE="$(mktemp -d)"
    CHB_STATE_DIR="$STATE" bash "$REPO/tests/server/ctl.sh" start >/dev/null
    set -a; source "$STATE/env"; set +a
fi

cd "$WS"
export PYTHONPATH="$WS" PYTHONDONTWRITEBYTECODE=1
if [[ "$KIND" == asan ]]; then
    # python itself is not instrumented: the runtimes must be loaded first.
    # Leak checking is off: CPython keeps objects alive until exit by design.
    # chDB hidden, ASan runtime for Python processes only: see asan_sitecustomize.py
    mkdir -p "$WS/.nochdb"
    cp "$REPO/tests/faults/asan_sitecustomize.py" "$WS/.nochdb/sitecustomize.py"
    export PYTHONPATH="$WS/.nochdb:$WS"
    # Two runs, like scripts/test.sh: tests/ and async_tests/ configure Django differently.
    export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0:quarantine_size_mb=16"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    rc=0
    if [[ -n "${CHB_SANITIZE_TESTS:-}" ]]; then  # a targeted run: these paths only (one pytest run)
        # shellcheck disable=SC2086
        "$PYTHON" -m pytest -q -p no:cacheprovider $CHB_SANITIZE_TESTS "$@" || rc=1
        exit $rc
    fi
    "$PYTHON" -m pytest -q -p no:cacheprovider tests "$@" || rc=1
    PYTHONASYNCIODEBUG=1 "$PYTHON" -m pytest -q -p no:cacheprovider async_tests "$@" || rc=1
    exit $rc
else
    PYTHONMALLOC=malloc valgrind -q --error-exitcode=99 --track-origins=yes \
        --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --suppressions="$REPO/tests/faults/valgrind-python.supp" \
        "$PYTHON" "$REPO/tests/faults/smoke.py"
fi
