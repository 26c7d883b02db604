#!/usr/bin/env bash
# Test-server harness: a throwaway ClickHouse server on free loopback ports.
#
#   tests/server/ctl.sh start    make a test PKI, start a ZooKeeper (when installed), a
#                                server (HTTP + HTTPS, cluster `chb_cluster` of itself) and
#                                an nginx TLS/HTTP2 front for it, write $STATE_DIR/env
#   tests/server/ctl.sh stop     stop them, remove their dirs and the state file
#   tests/server/ctl.sh status   print the state file and ping the server
#   tests/server/ctl.sh env      print the state file (for `eval`/`source`)
#
# Environment:
#   CHB_STATE_DIR           where the state file lives (default: <repo>/.test-server)
#   CLICKHOUSE_SERVER_BIN   server binary (default: /usr/sbin/clickhouse-server)
#   CHB_NGINX_BIN           nginx binary (default: /usr/sbin/nginx)
#   CHB_START_TIMEOUT       seconds to wait for /ping (default: 60)
#   CHB_STOP_TIMEOUT        seconds between TERM and KILL (default: 20)
#   CHB_ZOOKEEPER           auto (default: start one if the Debian `zookeeper` package
#                           is installed), 1 (required), 0 (never). ZooKeeper is what
#                           ON CLUSTER DDL and Replicated*MergeTree need.
#
# Every run gets its own `mktemp -d` data dir and kernel-chosen ports, so it
# never collides with a developer's server (e.g. the one on 18123) or another run.
# One function pair per service: tls_make/tls_remove (tests/tls/make_certs.sh),
# clickhouse_start/clickhouse_stop, nginx_start/nginx_stop (tests/server/nginx.conf.in).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE_DIR="${CHB_STATE_DIR:-$REPO/.test-server}"
STATE_FILE="$STATE_DIR/env"
SERVER_BIN="${CLICKHOUSE_SERVER_BIN:-/usr/sbin/clickhouse-server}"
NGINX_BIN="${CHB_NGINX_BIN:-/usr/sbin/nginx}"
START_TIMEOUT="${CHB_START_TIMEOUT:-60}"
STOP_TIMEOUT="${CHB_STOP_TIMEOUT:-20}"
PYTHON="${PYTHON:-python3}"
ZOOKEEPER="${CHB_ZOOKEEPER:-auto}"
ZK_JAR=/usr/share/java/zookeeper.jar

log() { echo "[ctl] $*" >&2; }
die() { echo "[ctl] ERROR: $*" >&2; exit 1; }

# Ask the kernel for N distinct free loopback ports. All sockets are held open
# until every port is chosen so the same port cannot be handed out twice; the
# remaining race (someone grabs it before the server binds) is handled by
# retrying the whole start.
free_ports() {
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# GET a URL; prints the body, non-zero exit if unreachable or not 200.
# python instead of curl: curl is not guaranteed before scripts/test.sh installs it.
http_get() {
    "$PYTHON" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.stdout.write(r.read().decode("utf-8", "replace"))
except Exception:
    sys.exit(1)
EOF
}

# POST a query to the HTTP interface, print the TSV result.
http_query() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode())
with urllib.request.urlopen(req, timeout=10) as r:
    sys.stdout.write(r.read().decode())
EOF
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# Only signal a pid that is still *our* server (pids get reused): its command
# line must mention our data dir.
pid_is_ours() {
    local pid="$1" dir="$2"
    pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir"
}

render_template() {  # src dst
    sed -e "s|@DATA@|$DATA_DIR|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        -e "s|@TCP_PORT@|$TCP_PORT|g" \
        -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" \
        -e "s|@TLS_DIR@|$TLS_DIR|g" \
        -e "s|@ZK_PORT@|${ZK_PORT:-}|g" \
        -e "s|@INTERSERVER_PORT@|${INTERSERVER_PORT:-}|g" \
        "$1" >"$2"
}

print_server_logs() {
    local f
    for f in "$DATA_DIR/log/server.err.log" "$DATA_DIR/log/stdout.log"; do
        if [[ -s "$f" ]]; then
            echo "----- $f (last 60 lines) -----" >&2
            tail -n 60 "$f" >&2
        fi
    done
}

# Starts one server attempt; sets CH_PID. Returns 0 when /ping answers,
# 2 when the server died on a port clash (caller retries), 1 otherwise.
clickhouse_start_once() {
    DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chb-clickhouse.XXXXXX")"
    read -r HTTP_PORT TCP_PORT HTTPS_PORT INTERSERVER_PORT < <(free_ports 4)
    mkdir -p "$DATA_DIR/log" "$DATA_DIR/tmp" "$DATA_DIR/user_files" "$DATA_DIR/format_schemas" \
        "$DATA_DIR/config.d"
    render_template "$HERE/config.xml" "$DATA_DIR/config.xml"
    # https_port + certificate; ClickHouse merges config.d/*.xml next to config.xml
    render_template "$HERE/clickhouse-tls.xml" "$DATA_DIR/config.d/tls.xml"
    render_template "$HERE/clickhouse-cluster.xml" "$DATA_DIR/config.d/cluster.xml"
    if [[ -n "${ZK_PORT:-}" ]]; then
        render_template "$HERE/clickhouse-zookeeper.xml" "$DATA_DIR/config.d/zookeeper.xml"
    fi
    # users.xml has no placeholders; copied next to config.xml because
    # <users_config> is resolved relative to the config file.
    cp "$HERE/users.xml" "$DATA_DIR/users.xml"

    log "starting $SERVER_BIN (http $HTTP_PORT, https $HTTPS_PORT, tcp $TCP_PORT, data $DATA_DIR)"
    # 18.16 runs fine as root (the Debian package only creates a `clickhouse`
    # user for the init script). setsid: a Ctrl-C in the terminal should reach
    # the test runner, whose trap then stops the server in order.
    (cd "$DATA_DIR" && exec setsid "$SERVER_BIN" --config-file="$DATA_DIR/config.xml" \
        </dev/null >"$DATA_DIR/log/stdout.log" 2>&1) &
    CH_PID=$!

    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if [[ "$(http_get "http://127.0.0.1:$HTTP_PORT/ping" 2>/dev/null)" == "Ok."* ]]; then
            return 0
        fi
        if ! pid_alive "$CH_PID"; then
            if grep -qs -e "Address already in use" -e "EADDRINUSE" \
                "$DATA_DIR/log/server.err.log" "$DATA_DIR/log/stdout.log"; then
                return 2
            fi
            log "server exited during startup"
            print_server_logs
            return 1
        fi
        sleep 0.2
    done
    log "server did not answer /ping within ${START_TIMEOUT}s"
    print_server_logs
    return 1
}

write_state() {
    mkdir -p "$STATE_DIR"
    local tmp="$STATE_FILE.tmp.$$"
    {
        echo "CLICKHOUSE_HTTP_URL=http://127.0.0.1:$HTTP_PORT/"
        echo "CLICKHOUSE_HTTP_PORT=$HTTP_PORT"
        echo "CLICKHOUSE_TCP_PORT=$TCP_PORT"
        echo "CLICKHOUSE_PID=$CH_PID"
        echo "CLICKHOUSE_DATA_DIR=$DATA_DIR"
        echo "CLICKHOUSE_VERSION=$CH_VERSION"
        echo "CLICKHOUSE_HTTPS_PORT=$HTTPS_PORT"
        echo "CLICKHOUSE_HTTPS_URL=https://127.0.0.1:$HTTPS_PORT/"
        echo "CHB_TLS_DIR=$TLS_DIR"
        echo "CHB_CLUSTER=chb_cluster"
        echo "CHB_ZOOKEEPER_PORT=${ZK_PORT:-}"
        echo "CHB_ZOOKEEPER_PID=${ZK_PID:-}"
        echo "CHB_ZOOKEEPER_DIR=${ZK_DIR:-}"
        echo "CHB_NGINX_PID=$NGINX_PID"
        echo "CHB_NGINX_DIR=$NGINX_DIR"
        echo "CHB_NGINX_ACCESS_LOG=$NGINX_DIR/access.log"
        echo "CHB_NGINX_ERROR_LOG=$NGINX_DIR/error.log"
        local v
        for v in "${NGINX_PORT_VARS[@]}"; do echo "CHB_NGINX_${v}_PORT=${!v}"; done
    } >"$tmp"
    mv "$tmp" "$STATE_FILE"
}

clickhouse_start() {
    [[ -x "$SERVER_BIN" ]] || die "$SERVER_BIN not found (apt-get install clickhouse-server)"
    local attempt rc
    for attempt in 1 2 3; do
        rc=0
        clickhouse_start_once || rc=$?
        if ((rc == 0)); then
            # never leave a running server without a state file behind
            CH_VERSION="$(http_query "http://127.0.0.1:$HTTP_PORT/" "SELECT version()" 2>/dev/null | tr -d '\n')" \
                || CH_VERSION=unknown
            log "ClickHouse $CH_VERSION up, pid $CH_PID, http://127.0.0.1:$HTTP_PORT/"
            return 0
        fi
        if ((rc == 2 && attempt == 3)); then
            log "port clash on every attempt"
            print_server_logs
        fi
        kill_pid "$CH_PID" "$DATA_DIR" force
        rm -rf "$DATA_DIR"
        ((rc == 2)) || return 1
        ((attempt == 3)) || log "port clash, retrying"
    done
    return 1
}

# TERM, wait up to STOP_TIMEOUT, then KILL.
kill_pid() {  # pid data_dir [force: we just started it, skip the cmdline check]
    local pid="$1" dir="$2" force="${3:-}"
    if [[ -n "$force" ]]; then pid_alive "$pid" || return 0
    else pid_is_ours "$pid" "$dir" || return 0; fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if pid_alive "$pid"; then
        log "pid $pid ignored TERM for ${STOP_TIMEOUT}s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        while pid_alive "$pid"; do sleep 0.1; done
    fi
}

clickhouse_stop() {
    local pid="${CLICKHOUSE_PID:-}" dir="${CLICKHOUSE_DATA_DIR:-}"
    if [[ -n "$dir" ]]; then
        kill_pid "$pid" "$dir"
        # Refuse to rm anything that is not one of our mktemp dirs.
        case "$(basename "$dir")" in
            chb-clickhouse.*) rm -rf -- "$dir" ;;
            *) log "not removing unexpected data dir '$dir'" ;;
        esac
    fi
}

# --- ZooKeeper (Debian's `zookeeper` package, standalone) ---------------------

zookeeper_wanted() {
    case "$ZOOKEEPER" in
        0) return 1 ;;
        1) [[ -f "$ZK_JAR" ]] && command -v java >/dev/null \
               || die "CHB_ZOOKEEPER=1 but $ZK_JAR or java is missing (apt-get install zookeeper)"
           return 0 ;;
        *) [[ -f "$ZK_JAR" ]] && command -v java >/dev/null ;;
    esac
}

# "imok" to the four-letter word "ruok"
zk_ok() {
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
        s.sendall(b"ruok")
        sys.exit(0 if s.recv(16) == b"imok" else 1)
except OSError:
    sys.exit(1)
EOF
}

# Sets ZK_PORT, ZK_PID, ZK_DIR. 0 = up, 1 = failure.
zookeeper_start() {
    ZK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chb-zookeeper.XXXXXX")"
    read -r ZK_PORT < <(free_ports 1)
    mkdir -p "$ZK_DIR/data"
    # admin server off: it would bind 8080
    printf '%s\n' "tickTime=500" "dataDir=$ZK_DIR/data" "clientPort=$ZK_PORT" \
        "clientPortAddress=127.0.0.1" "maxClientCnxns=0" "admin.enableServer=false" \
        "4lw.commands.whitelist=ruok" >"$ZK_DIR/zoo.cfg"
    log "starting ZooKeeper (port $ZK_PORT, dir $ZK_DIR)"
    (cd "$ZK_DIR" && exec setsid java -Xmx256m -cp "$ZK_JAR:/etc/zookeeper/conf" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$ZK_DIR/zoo.cfg" \
        </dev/null >"$ZK_DIR/zookeeper.log" 2>&1) &
    ZK_PID=$!
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if zk_ok "$ZK_PORT"; then
            log "ZooKeeper up, pid $ZK_PID"
            return 0
        fi
        pid_alive "$ZK_PID" || break
        sleep 0.2
    done
    log "ZooKeeper did not answer on $ZK_PORT"
    tail -n 30 "$ZK_DIR/zookeeper.log" >&2 || true
    zookeeper_stop_dir "$ZK_PID" "$ZK_DIR" force
    ZK_PORT="" ZK_PID="" ZK_DIR=""
    return 1
}

zookeeper_stop_dir() {  # pid dir [force]
    local dir="${2:-}"
    [[ -n "$dir" ]] || return 0
    kill_pid "${1:-}" "$dir" "${3:-}"
    case "$(basename "$dir")" in
        chb-zookeeper.*) rm -rf -- "$dir" ;;
        *) log "not removing unexpected ZooKeeper dir '$dir'" ;;
    esac
}

# --- test PKI ----------------------------------------------------------------

tls_make() {
    command -v openssl >/dev/null || die "openssl CLI not found (apt-get install openssl)"
    TLS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chb-tls.XXXXXX")"
    log "making test certificates in $TLS_DIR"
    bash "$REPO/tests/tls/make_certs.sh" "$TLS_DIR" >&2 || { rm -rf -- "$TLS_DIR"; return 1; }
    # readable by nginx workers and ClickHouse whatever user they end up as
    chmod 755 "$TLS_DIR"
}

tls_remove() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || return 0
    case "$(basename "$dir")" in
        chb-tls.*) rm -rf -- "$dir" ;;
        *) log "not removing unexpected TLS dir '$dir'" ;;
    esac
}

# --- nginx: TLS + HTTP/2 front of the server's plain HTTP port ----------------

# Variable names of the nginx listen ports; each becomes @NAME@ in nginx.conf.in
# and CHB_NGINX_<NAME> in the state file.
NGINX_PORT_VARS=(H2 H2_GOAWAY H1TLS PLAIN MTLS WRONG_HOST EXPIRED H2_FAKE)

# Starts one nginx attempt; sets NGINX_PID. 0 = up, 2 = port clash, 1 = other failure.
nginx_start_once() {
    NGINX_PID=""
    NGINX_DIR="$(mktemp -d "${TMPDIR:-/tmp}/chb-nginx.XXXXXX")"
    mkdir -p "$NGINX_DIR/tmp"
    local ports v i=0 user_line=""
    read -r -a ports < <(free_ports "${#NGINX_PORT_VARS[@]}")
    for v in "${NGINX_PORT_VARS[@]}"; do printf -v "$v" '%s' "${ports[i++]}"; done
    # As root nginx would switch its workers to `nobody`, who cannot read the
    # mktemp dirs (0700); workers stay root instead.
    [[ "$(id -u)" == 0 ]] && user_line="user root;"
    local sed_args=(-e "s|@DIR@|$NGINX_DIR|g" -e "s|@TLS_DIR@|$TLS_DIR|g"
                    -e "s|@CH_HTTP_PORT@|$HTTP_PORT|g" -e "s|@USER_LINE@|$user_line|g")
    for v in "${NGINX_PORT_VARS[@]}"; do sed_args+=(-e "s|@${v}_PORT@|${!v}|g"); done
    sed "${sed_args[@]}" "$HERE/nginx.conf.in" >"$NGINX_DIR/nginx.conf"

    if ! "$NGINX_BIN" -t -q -p "$NGINX_DIR/" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf" 2>"$NGINX_DIR/test.log"; then
        log "nginx rejected its config:"
        cat "$NGINX_DIR/test.log" >&2
        return 1
    fi
    log "starting $NGINX_BIN (h2 $H2, h2-goaway $H2_GOAWAY, h1-tls $H1TLS, plain $PLAIN, mtls $MTLS, dir $NGINX_DIR)"
    # -e: the compiled-in /var/log/nginx/error.log is opened before the config is read
    (cd "$NGINX_DIR" && exec setsid "$NGINX_BIN" -p "$NGINX_DIR/" -e "$NGINX_DIR/error.log" \
        -c "$NGINX_DIR/nginx.conf" </dev/null >"$NGINX_DIR/stdout.log" 2>&1) &
    NGINX_PID=$!

    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        # the plain block proxies to ClickHouse: "Ok." proves nginx *and* the upstream
        if [[ "$(http_get "http://127.0.0.1:$PLAIN/ping" 2>/dev/null)" == "Ok."* ]]; then
            return 0
        fi
        if ! pid_alive "$NGINX_PID"; then
            if grep -qs "Address already in use" "$NGINX_DIR/error.log" "$NGINX_DIR/stdout.log"; then
                return 2
            fi
            log "nginx exited during startup"
            tail -n 30 "$NGINX_DIR/error.log" "$NGINX_DIR/stdout.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    log "nginx did not proxy /ping within ${START_TIMEOUT}s"
    tail -n 30 "$NGINX_DIR/error.log" >&2 || true
    return 1
}

nginx_start() {
    [[ -x "$NGINX_BIN" ]] || die "$NGINX_BIN not found (apt-get install nginx)"
    local attempt rc
    for attempt in 1 2 3; do
        rc=0
        nginx_start_once || rc=$?
        if ((rc == 0)); then
            log "nginx up, pid $NGINX_PID"
            return 0
        fi
        kill_pid "$NGINX_PID" "$NGINX_DIR" force
        nginx_remove_dir "$NGINX_DIR"
        ((rc == 2)) || return 1
        ((attempt == 3)) || log "nginx port clash, retrying"
    done
    log "nginx: port clash on every attempt"
    return 1
}

nginx_remove_dir() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || return 0
    case "$(basename "$dir")" in
        chb-nginx.*) rm -rf -- "$dir" ;;
        *) log "not removing unexpected nginx dir '$dir'" ;;
    esac
}

nginx_stop() {
    local dir="${CHB_NGINX_DIR:-}"
    [[ -n "$dir" ]] || return 0
    kill_pid "${CHB_NGINX_PID:-}" "$dir"  # TERM = fast shutdown of master and workers
    nginx_remove_dir "$dir"
}

load_state() {
    [[ -f "$STATE_FILE" ]] || return 1
    # shellcheck disable=SC1090
    source "$STATE_FILE"
}

cmd_start() {
    if load_state && pid_is_ours "${CLICKHOUSE_PID:-}" "${CLICKHOUSE_DATA_DIR:-}"; then
        die "a test server is already running (pid $CLICKHOUSE_PID, state $STATE_FILE); run '$0 stop' first"
    fi
    tls_make || die "could not make the test certificates"
    ZK_PORT="" ZK_PID="" ZK_DIR=""
    if zookeeper_wanted && ! zookeeper_start && [[ "$ZOOKEEPER" == 1 ]]; then
        tls_remove "$TLS_DIR"
        die "could not start ZooKeeper"
    fi
    if ! clickhouse_start; then
        zookeeper_stop_dir "$ZK_PID" "$ZK_DIR" force
        tls_remove "$TLS_DIR"
        die "could not start ClickHouse"
    fi
    if ! nginx_start; then
        kill_pid "$CH_PID" "$DATA_DIR" force
        rm -rf -- "$DATA_DIR"
        zookeeper_stop_dir "$ZK_PID" "$ZK_DIR" force
        tls_remove "$TLS_DIR"
        die "could not start nginx"
    fi
    write_state
    cat "$STATE_FILE"
}

cmd_stop() {
    if ! load_state; then
        log "no state file at $STATE_FILE, nothing to stop"
        return 0
    fi
    nginx_stop
    clickhouse_stop
    zookeeper_stop_dir "${CHB_ZOOKEEPER_PID:-}" "${CHB_ZOOKEEPER_DIR:-}"
    tls_remove "${CHB_TLS_DIR:-}"
    rm -f "$STATE_FILE"
    rmdir "$STATE_DIR" 2>/dev/null || true
    log "stopped"
}

cmd_status() {
    load_state || die "no state file at $STATE_FILE"
    cat "$STATE_FILE"
    if [[ "$(http_get "${CLICKHOUSE_HTTP_URL}ping" 2>/dev/null)" == "Ok."* ]]; then
        echo "ping: Ok"
    else
        echo "ping: NOT answering"
        return 1
    fi
    if [[ -n "${CHB_NGINX_PLAIN_PORT:-}" ]]; then
        if [[ "$(http_get "http://127.0.0.1:$CHB_NGINX_PLAIN_PORT/ping" 2>/dev/null)" == "Ok."* ]]; then
            echo "nginx ping: Ok"
        else
            echo "nginx ping: NOT answering"
            return 1
        fi
    fi
}

main() {
    case "${1:-}" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        env) load_state && cat "$STATE_FILE" ;;
        *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
    esac
}

main "$@"
