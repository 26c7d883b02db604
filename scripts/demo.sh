#!/usr/bin/env bash
# README command (1): the main job. On a fresh Debian machine: installs the build
# dependencies, builds the driver into a venv, loads demo data into the example
# Django project on the embedded engine (chDB: ClickHouse in-process, no server),
# and serves its async dashboard with uvicorn on http://127.0.0.1:${PORT:-8000}/.
#
#   bash scripts/demo.sh                 # Ctrl-C stops it
#   DEMO_ROWS=1000000 bash scripts/demo.sh
#   CLICKHOUSE_HTTP_URL=http://user:pw@host:8123/dashboard bash scripts/demo.sh   # a server instead
#
# Uses the same setup as scripts/test.sh (CHB_VENV, CHB_SKIP_INSTALL apply).
set -euo pipefail
# shellcheck source=scripts/test.sh
source "$(dirname "${BASH_SOURCE[0]}")/test.sh"

# Only what building and running the example needs: no server, no nginx, no browser.
SYSTEM_PACKAGES=(
    build-essential pkg-config libevent-dev libssl-dev libnghttp2-dev zlib1g-dev
    libzstd-dev ca-certificates
)

# pandas: the "Events per day" panel is read with QuerySet.ato_dataframe()
setup_environment "uvicorn" "chdb-core" "pandas"
cd "$REPO/examples/dashboard"
say "loading demo data (${DEMO_ROWS:-200000} events)"
"$VENV_PY" manage.py load_demo --rows "${DEMO_ROWS:-200000}"
say "dashboard: http://127.0.0.1:${PORT:-8000}/  (sync version: /sync/)  -- Ctrl-C to stop"
exec "$VENV_PY" -m uvicorn dashboard.asgi:application --host 127.0.0.1 --port "${PORT:-8000}"
