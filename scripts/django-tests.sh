#!/usr/bin/env bash
# Runs Django's own test suite (tests/ of the Django source distribution,
# the version installed in the venv) against this backend, one module at a
# time with --parallel=1, and writes per-module counts to
# docs/django-test-results.md.
#
#   bash scripts/django-tests.sh [--target server|embedded] [--no-report] [module ...]
#
#   --target server    ClickHouse server from CLICKHOUSE_HTTP_URL (default)
#   --target embedded  in-process chDB (clickhouse_backend.driver embedded=...)
#   --no-report        print the table, leave docs/ alone (for partial runs)
#   module ...         Django test labels (default: the modules listed below);
#                      a dotted label (basic.tests.ModelTest) runs just that
#
# Environment: PYTHON (default .venv/bin/python, else /work/venv/bin/python,
# else python3), DJANGO_CH_USE_TZ=1 (USE_TZ on; default off, as Django's own
# test settings), DJANGO_TESTS_TIMEOUT (seconds per module, default 1800),
# DJANGO_TESTS_VERBOSITY (default 1), DJANGO_CH_LISTED_ONLY=1 (run only the
# tests tests/django_settings/skips.py lists for the server version, without skipping them:
# `triage.py --check $DJANGO_TESTS_OUT` then fails on a listing that passes, that
# Django skips itself or whose failure its reason's FAILS_WITH does not match),
# DJANGO_SRC_CACHE (default
# ~/.cache/clickhouse-backend). Outcomes of every test go to
# $DJANGO_TESTS_OUT (default /tmp/django-tests-<target>, for Django other than
# 5.2 /tmp/django-tests-<target>-django<X.Y>), one JSON file per module, with
# the traceback of each failure, and <module>.run.json (Django and server versions,
# each test's outcome and message). The report goes to that Django version's own
# section of docs/django-test-results.md.
#
# Failures that are ClickHouse limitations are listed, with the reason, in
# tests/django_settings/skips.py, which DatabaseFeatures.django_test_skips returns
# when Django runs its own suite (the settings name it in DATABASES' TEST).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEFAULT_MODULES=(basic lookup queries aggregation aggregation_regress annotations
    expressions ordering model_fields update delete get_or_create bulk_create
    datetimes dates db_functions migrations schema introspection inspectdb async)

target=server
report=1
modules=()
while (($#)); do
    case "$1" in
        --target) target="$2"; shift 2 ;;
        --target=*) target="${1#*=}"; shift ;;
        --no-report) report=0; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0 ;;
        *) modules+=("$1"); shift ;;
    esac
done
case "$target" in server|embedded) ;; *) echo "unknown target: $target" >&2; exit 2 ;; esac
((${#modules[@]})) || modules=("${DEFAULT_MODULES[@]}")

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"
    elif [[ -x /work/venv/bin/python ]]; then PYTHON=/work/venv/bin/python
    else PYTHON=python3; fi
fi
# The tests run from Django's source tree: a relative interpreter path must not break.
[[ "$PYTHON" == */* ]] && PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"
if [[ "$target" == server && -z "${CLICKHOUSE_HTTP_URL:-}" ]]; then
    echo "CLICKHOUSE_HTTP_URL is not set (e.g. http://127.0.0.1:18123/)" >&2
    exit 2
fi

# --- Django's tests: the sdist of exactly the installed version ---------------
version="$("$PYTHON" -c 'import django; print(django.__version__)')"
cache="${DJANGO_SRC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clickhouse-backend}"
src="$cache/django-$version"
if [[ ! -f "$src/tests/runtests.py" ]]; then
    mkdir -p "$cache"
    # The sdist is django-X.tar.gz (older releases: Django-X.tar.gz).
    tarball="$(compgen -G "$cache/[Dd]jango-$version.tar.gz" | head -n 1 || true)"
    if [[ -z "$tarball" ]]; then
        echo "==> downloading the Django $version source distribution" >&2
        "$PYTHON" -m pip download -q --no-deps --no-binary :all: "django==$version" -d "$cache"
        tarball="$(compgen -G "$cache/[Dd]jango-$version.tar.gz" | head -n 1)"
    fi
    tar -xzf "$tarball" -C "$cache"
    # Extracted as Django-X by older sdists.
    [[ -d "$src" ]] || mv "$cache/Django-$version" "$src"
fi

# Django 5.2 (the oldest supported) reports in the "server"/"embedded" sections;
# a newer feature release in its own ("server-django6.1"...).
section="$target"
feature="$("$PYTHON" -c 'import django; print("%d.%d" % django.VERSION[:2])')"
[[ "$feature" == 5.2 ]] || section="$target-django$feature"
out="${DJANGO_TESTS_OUT:-/tmp/django-tests-$section}"  # kept between runs
mkdir -p "$out"
timeout_s="${DJANGO_TESTS_TIMEOUT:-1800}"
for m in "${modules[@]}"; do
    file="$out/${m}.jsonl"
    rm -f "$file" "$out/${m}.run.json"
    echo "==> $m ($target)" >&2
    t0=$SECONDS
    rc=0
    # Our repository first on the path: the settings and the backend.
    (cd "$src/tests" && DJANGO_CH_RESULTS="$file" PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" \
        timeout --kill-after=30 "$timeout_s" "$PYTHON" -W ignore runtests.py \
        --settings="tests.django_settings.$target" --parallel=1 --noinput \
        -v "${DJANGO_TESTS_VERBOSITY:-1}" "$m" >"$out/${m}.log" 2>&1) || rc=$?
    echo "$rc $((SECONDS - t0))" >"$out/${m}.meta"
    tail -n 3 "$out/${m}.log" >&2
done

# The report covers every module run into $out so far (a re-run of one module
# replaces its numbers), in the default order first.
args=(--target "$target" --out "$out" --django "$version" --order "${DEFAULT_MODULES[*]}")
((report)) && args+=(--write "$REPO/docs/django-test-results.md" --section "$section")
"$PYTHON" "$REPO/tests/django_settings/report.py" "${args[@]}"
