#!/usr/bin/env bash
# README command (2): run the whole test suite on a fresh Debian bookworm machine.
#
#   bash scripts/test.sh [extra pytest args]
#
# Installs the system packages (apt, only what is missing), starts a private
# ClickHouse server (tests/server/ctl.sh) and runs, for each supported Django
# line, in its own venv with the project editable plus requirements-test.txt:
# pytest over tests/, then async_tests/ (with PYTHONASYNCIODEBUG=1), then a
# subset of Django's own suite. The legs:
#   Django 5.2 LTS  venv $CHB_VENV (default .venv), interpreter $PYTHON (python3, 3.11+)
#   Django 6.1      venv $CHB_VENV_DJANGO6 (default .venv-dj6), Python 3.12+: the
#                   newest python3.12/python3.13 on PATH or installed by pyenv, or
#                   $CHB_PYTHON_DJANGO6; none found is a failure (Django 6 needs
#                   Python 3.12, which Debian bookworm does not ship).
# Always stops the server. Fails if any suite of any leg fails, collects no
# tests or passes none.
#
# Environment knobs:
#   CHB_VENV=path            Django 5.2 venv to create/use (default: <repo>/.venv)
#   CHB_VENV_DJANGO6=path    Django 6.1 venv (default: <repo>/.venv-dj6)
#   CHB_PYTHON_DJANGO6=path  interpreter (3.12+) for the Django 6.1 venv
#   CHB_DJANGO_LEGS="5.2 6.1"  the legs to run (default both)
#   CHB_SKIP_INSTALL=1       skip apt and pip (use the venvs as they are)
#   CHB_SUITE_TIMEOUT=s      hard limit per pytest run (default: 1200)
#   PYTHON=python3           interpreter used to create the Django 5.2 venv
# Extra arguments are passed to every pytest run.
#
# This file is also sourced by scripts/demo.sh for its setup functions; main()
# only runs when it is executed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHB_VENV:-$REPO/.venv}"
VENV_PY="$VENV/bin/python"
SYSTEM_PACKAGES=(
    build-essential pkg-config libevent-dev libssl-dev libnghttp2-dev zlib1g-dev
    libzstd-dev zstd clickhouse-server clickhouse-client nginx curl openssl gzip
    ca-certificates chromium zookeeper iproute2 iptables
)

say() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

ensure_system_packages() {
    local missing=() p
    for p in "${SYSTEM_PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say "system packages: all present"
        return 0
    fi
    say "system packages: installing ${missing[*]}"
    # Package postinst scripts would start clickhouse-server/nginx on their
    # default ports; we only want our own loopback instances. policy-rc.d
    # exit 101 = "do not start services" (left alone if one already exists).
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        own_policy=1
    fi
    local rc=0
    as_root apt-get update -q || rc=$?
    if ((rc == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    fi
    if ((own_policy)); then as_root rm -f /usr/sbin/policy-rc.d; fi
    return "$rc"
}

# Creates the venv if needed and installs the project editable (this compiles
# the C extension) plus any extra pip arguments. The venv's interpreter:
# $VENV_PYTHON, else $PYTHON, else python3.
ensure_venv() {
    if [[ ! -x "$VENV_PY" ]]; then
        local py="${VENV_PYTHON:-${PYTHON:-$(command -v python3 || command -v python3.11)}}"
        say "creating venv $VENV with $py"
        if ! "$py" -m venv "$VENV"; then
            # Debian's own python3 ships venv/ensurepip separately.
            rm -rf -- "$VENV"
            say "installing python3-venv and retrying"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
            "$py" -m venv "$VENV"
        fi
    fi
    say "pip install -e . $*"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
        "$VENV_PY" -m pip install -q -e "$REPO" "$@"
}

setup_environment() {  # extra args go to pip
    if [[ "${CHB_SKIP_INSTALL:-0}" == 1 ]]; then
        say "CHB_SKIP_INSTALL=1: using $VENV as it is"
        [[ -x "$VENV_PY" ]] || { echo "no venv at $VENV" >&2; return 1; }
        return 0
    fi
    ensure_system_packages
    ensure_venv "$@"
}

# The Django release each leg tests, and its pip requirement (the newest patch
# release; setup.py's install_requires admits both lines).
declare -A LEG_DJANGO=([5.2]="django~=5.2.0" [6.1]="django~=6.1.0")

# A Python 3.12+ for the Django 6 venv: $CHB_PYTHON_DJANGO6, else python3.12 /
# python3.13 on PATH, else the newest such pyenv install (its shims answer only
# for the selected version, so the install's own binary is used).
find_python_django6() {
    if [[ -n "${CHB_PYTHON_DJANGO6:-}" ]]; then
        echo "$CHB_PYTHON_DJANGO6"; return 0
    fi
    local v p root
    for v in 3.12 3.13; do
        p="$(command -v "python$v" 2>/dev/null)" || continue
        if "$p" -c 'import venv' >/dev/null 2>&1; then echo "$p"; return 0; fi
    done
    if command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null)"; then
        for v in 3.12 3.13; do
            p="$(compgen -G "$root/versions/$v.*/bin/python$v" | sort -V | tail -n 1 || true)"
            if [[ -n "$p" ]] && "$p" -c 'import venv' >/dev/null 2>&1; then echo "$p"; return 0; fi
        done
    fi
    return 1
}

# Points VENV/VENV_PY/VENV_PYTHON at a leg's venv.
select_leg() {  # leg
    case "$1" in
        5.2) VENV="${CHB_VENV:-$REPO/.venv}"; VENV_PYTHON="" ;;
        6.1)
            VENV="${CHB_VENV_DJANGO6:-$REPO/.venv-dj6}"
            VENV_PYTHON=""
            if [[ ! -x "$VENV/bin/python" ]] && ! VENV_PYTHON="$(find_python_django6)"; then
                echo "Django 6.1 needs Python 3.12 or later: no python3.12/python3.13 on PATH" \
                     "or in pyenv. Install one (e.g. pyenv install 3.12) or set" \
                     "CHB_PYTHON_DJANGO6=/path/to/python3.12 (CHB_DJANGO_LEGS=5.2 runs" \
                     "only the Django 5.2 leg)." >&2
                return 1
            fi ;;
        *) echo "unknown Django leg: $1 (known: ${!LEG_DJANGO[*]})" >&2; return 2 ;;
    esac
    VENV_PY="$VENV/bin/python"
}

# Starts the test server with a private state dir and exports its CLICKHOUSE_* vars.
start_test_server() {
    CHB_STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chb-state.XXXXXX")"
    export CHB_STATE_DIR
    say "starting test ClickHouse server"
    # CHB_ZOOKEEPER=1: ON CLUSTER DDL and Replicated tables are tested for real
    CHB_ZOOKEEPER=1 PYTHON="$VENV_PY" bash "$REPO/tests/server/ctl.sh" start >/dev/null
    set -a
    # shellcheck disable=SC1091
    source "$CHB_STATE_DIR/env"
    set +a
    echo "ClickHouse $CLICKHOUSE_VERSION at $CLICKHOUSE_HTTP_URL (data $CLICKHOUSE_DATA_DIR)" >&2
}

stop_test_server() {
    if [[ -n "${CHB_STATE_DIR:-}" && -d "$CHB_STATE_DIR" ]]; then
        PYTHON="$VENV_PY" bash "$REPO/tests/server/ctl.sh" stop || true
        rm -rf -- "$CHB_STATE_DIR"
    fi
}

# --- test run ---------------------------------------------------------------

RESULTS=()      # "name|rc|passed|failed|errors|skipped"
OVERALL_OK=1

# Counts from the JUnit XML: a robust way to see "0 passed" without parsing
# pytest's terminal output.
junit_counts() {
    "$VENV_PY" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0 0"); sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = s = 0
for su in suites:
    t += int(su.get("tests", 0)); f += int(su.get("failures", 0))
    e += int(su.get("errors", 0)); s += int(su.get("skipped", 0))
print(t - f - e - s, f, e, s)
EOF
}

run_suite() {  # name dir [env assignments...] -- [pytest args]
    local name="$1${LEG:+/$LEG}" dir="$2"; shift 2
    local envs=()
    while (($#)) && [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
    [[ "${1:-}" == "--" ]] && shift
    local xml="$WORK_DIR/${name//\//-}.xml" rc=0
    say "pytest $dir ${envs[*]}"
    (cd "$REPO" && env "${envs[@]}" timeout --kill-after=30 "${CHB_SUITE_TIMEOUT:-1200}" \
        "$VENV_PY" -m pytest "$dir" -ra --junitxml="$xml" "$@") || rc=$?
    local passed failed errors skipped
    read -r passed failed errors skipped < <(junit_counts "$xml")
    RESULTS+=("$name|$rc|$passed|$failed|$errors|$skipped")
    if ((rc != 0 || passed == 0)); then OVERALL_OK=0; fi
}

DJANGO_SUBSET=(basic lookup update bulk_create async)
# A small part of Django's own test suite (the whole run is scripts/django-tests.sh,
# results in docs/django-test-results.md): modules that pass completely on 18.16.
# Any non-zero exit of a module (a timeout or a segfault after some passes) fails
# the step: report.py counts it as crashed and exits non-zero.
run_django_subset() {
    local log="$WORK_DIR/django-$LEG.log" rc=0 passed=0 failed=0 skipped=0 crashed=0
    say "Django $LEG's own tests: ${DJANGO_SUBSET[*]}"
    # a private outcome directory: the report counts every module in it, and the
    # default one (/tmp/django-tests-server) keeps other runs' modules
    DJANGO_TESTS_OUT="$WORK_DIR/django-$LEG" PYTHON="$VENV_PY" timeout --kill-after=30 "${CHB_SUITE_TIMEOUT:-1200}" \
        bash "$REPO/scripts/django-tests.sh" --no-report "${DJANGO_SUBSET[@]}" \
        2>&1 | tee "$log" || rc=$?
    local line
    line="$(grep -E '^django: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped, [0-9]+ crashed' "$log" | tail -n 1 || true)"
    if [[ -n "$line" ]]; then
        read -r passed failed skipped crashed < <(sed -E 's/^django: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped, ([0-9]+) crashed.*/\1 \2 \3 \4/' <<<"$line")
    elif ((rc == 0)); then
        rc=1  # no closing line: the report never ran
    fi
    ((failed == 0 && crashed == 0)) || ((rc)) || rc=1
    RESULTS+=("django/$LEG|$rc|$passed|$failed|$crashed|$skipped")
    if ((rc != 0 || passed == 0)); then OVERALL_OK=0; fi
}

explain_rc() {
    case "$1" in
        0) echo "ok" ;; 1) echo "tests failed" ;; 2) echo "interrupted" ;;
        3) echo "internal error" ;; 4) echo "usage error" ;; 5) echo "NO TESTS COLLECTED" ;;
        124|137) echo "TIMED OUT" ;; *) echo "exit $1" ;;
    esac
}

# The netns cluster suite (tests/cluster: 2 shards x 2 replicas + ZooKeeper in network
# namespaces, faults; about a minute): once, with the first leg's venv. Needs root.
run_cluster_suite() {
    LEG=""
    select_leg "${legs[0]}"
    if [[ "$(id -u)" != 0 ]] || ! ip netns list >/dev/null 2>&1; then
        say "cluster suite: needs root and network namespaces; not run"
        RESULTS+=("cluster|0|0|0|0|0")
        OVERALL_OK=0
        return
    fi
    CLUSTER_STARTED=1
    run_suite cluster tests/cluster CHB_CLUSTER_TESTS=1 PYTHON="$VENV_PY" -- "$@"
    bash "$REPO/tests/cluster/cluster.sh" stop >/dev/null 2>&1 || true
    CLUSTER_STARTED=""
}

print_summary() {
    local line name rc passed failed errors skipped verdict
    echo
    echo "==================== test summary ===================="
    printf '%-12s %-8s %7s %7s %7s %7s  %s\n' suite/leg result passed failed errors skipped detail
    for line in "${RESULTS[@]}"; do
        IFS='|' read -r name rc passed failed errors skipped <<<"$line"
        verdict=PASS
        if ((rc != 0 || passed == 0)); then verdict=FAIL; fi
        local detail
        detail="$(explain_rc "$rc")"
        if ((rc == 0 && passed == 0)); then detail="0 tests passed"; fi
        printf '%-12s %-8s %7s %7s %7s %7s  %s\n' "$name" "$verdict" "$passed" "$failed" "$errors" "$skipped" "$detail"
    done
    echo "======================================================"
    if ((OVERALL_OK)); then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
}

cleanup() {
    local rc=$?
    if ((rc != 0)) && [[ -z "${SUMMARY_PRINTED:-}" ]]; then
        echo "RESULT: FAIL (exit $rc before the test summary; see the output above)" >&2
    fi
    stop_test_server
    [[ -n "${CLUSTER_STARTED:-}" ]] && bash "$REPO/tests/cluster/cluster.sh" stop >/dev/null 2>&1
    [[ -n "${WORK_DIR:-}" ]] && rm -rf -- "$WORK_DIR"
    exit "$rc"
}

main() {
    local t0=$SECONDS
    # the test-only extension clickhouse_backend._engine_testing (ext/testing/) is
    # built with the product one: tests of the parsers it binds fail without it
    export CHB_TEST_EXT=1
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chb-test.XXXXXX")"
    local legs=(${CHB_DJANGO_LEGS:-5.2 6.1})
    for LEG in "${legs[@]}"; do
        select_leg "$LEG"
        if [[ "${CHB_SKIP_INSTALL:-0}" == 1 ]]; then
            setup_environment
        else
            [[ "$LEG" == "${legs[0]}" ]] && ensure_system_packages
            ensure_venv -r "$REPO/requirements-test.txt" "${LEG_DJANGO[$LEG]}"
        fi
        "$VENV_PY" -c 'import django, sys; print("Django %s on Python %s" % (django.__version__, sys.version.split()[0]))' >&2
    done
    LEG=""
    select_leg "${legs[0]}"
    start_test_server  # one server for every leg

    for LEG in "${legs[@]}"; do
        select_leg "$LEG"
        say "=== Django $LEG leg ($VENV)"
        run_suite sync tests -- "$@"
        run_suite async async_tests PYTHONASYNCIODEBUG=1 -- "$@"
        run_django_subset
    done
    run_cluster_suite "$@"

    print_summary
    SUMMARY_PRINTED=1
    echo "total time: $((SECONDS - t0))s"
    ((OVERALL_OK))
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
