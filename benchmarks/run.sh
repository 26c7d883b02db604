#!/usr/bin/env bash
# One command for the whole benchmark (docs/performance.md):
#
#   bash benchmarks/run.sh            # full run (~15 min on 2 cores), rewrites docs/performance.md
#   bash benchmarks/run.sh --quick    # small sizes, one run, results in benchmarks/results/quick/
#   bash benchmarks/run.sh --help     # every option of benchmarks/run.py
#
# Installs what is missing (apt: ClickHouse, build deps, wrk, h2load; pip: the peers
# into benchmarks/.venv), builds the driver in place if it is not built, starts a
# private ClickHouse with tests/server/ctl.sh, runs, stops it.
#   CHB_BENCH_VENV=path   venv to use (default benchmarks/.venv)
#   CHB_SKIP_INSTALL=1    no apt, no pip
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="${CHB_BENCH_VENV:-$HERE/.venv}"
PYTHON="${PYTHON:-python3}"

if [[ "${CHB_SKIP_INSTALL:-0}" != 1 ]]; then
    pkgs=(build-essential pkg-config libevent-dev libssl-dev libnghttp2-dev zlib1g-dev libzstd-dev
          clickhouse-server clickhouse-client nginx python3-venv wrk nghttp2-client git)
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "[bench] apt-get install ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        # package scripts must not start services on their default ports
        own_policy=0
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
            own_policy=1
        fi
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
        ((own_policy)) && rm -f /usr/sbin/policy-rc.d
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" setuptools
fi

# The driver is measured from this checkout (PYTHONPATH), not installed into the
# venv: django-clickhouse-backend's package is also called clickhouse_backend.
if ! (cd "$REPO" && "$VENV/bin/python" -c "import clickhouse_backend._engine") 2>/dev/null; then
    echo "[bench] building the driver in place (python setup.py build_ext --inplace)" >&2
    (cd "$REPO" && "$VENV/bin/python" setup.py -q build_ext --inplace)
fi

exec "$VENV/bin/python" "$HERE/run.py" "$@"
