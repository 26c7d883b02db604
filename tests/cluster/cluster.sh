#!/usr/bin/env bash
# A real ClickHouse cluster for the failover tests: 2 shards x 2 replicas and a
# ZooKeeper, each process alone in its own network namespace with its own private
# address on a bridge that exists only on this machine. Needs root, `ip`, iptables.
#
#   tests/cluster/cluster.sh start   build namespaces, veths and bridge; start ZooKeeper
#                                    and 4 servers; write $STATE/env
#   tests/cluster/cluster.sh stop    stop every process, remove every namespace, veth,
#                                    bridge and data dir it created (also after a failed start)
#   tests/cluster/cluster.sh env     print the state file
#
# Layout ($NET = CHB_CLUSTER_NET, default 10.231.7): bridge chbc0 at $NET.1 (the test
# process reaches the nodes through it), ZooKeeper chbc-zk at $NET.10:2181, nodes
# chbc-n1..n4 at $NET.11..14 (HTTP 8123, TCP 9000, interserver 9009); n1, n2 are
# shard 01 and n3, n4 shard 02; cluster `chb_2x2` (node.xml, users.xml).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${CHB_CLUSTER_STATE_DIR:-/tmp/chb-netns-cluster}"
NET="${CHB_CLUSTER_NET:-10.231.7}"
BR=chbc0
SERVER_BIN="${CLICKHOUSE_SERVER_BIN:-/usr/sbin/clickhouse-server}"
ZK_JAR=/usr/share/java/zookeeper.jar
PYTHON="${PYTHON:-python3}"
START_TIMEOUT="${CHB_START_TIMEOUT:-90}"
NODES=(n1 n2 n3 n4)

log() { echo "[cluster] $*" >&2; }

node_ip() { case "$1" in zk) echo "$NET.10" ;; n1) echo "$NET.11" ;; n2) echo "$NET.12" ;; n3) echo "$NET.13" ;; n4) echo "$NET.14" ;; esac; }

# A namespace chbc-<name> with veth chbc-<name>h (bridge side) / eth0 (inside).
make_ns() {
    local name="$1" ip
    ip="$(node_ip "$name")"
    ip netns add "chbc-$name"
    ip link add "chbc-${name}h" type veth peer name "chbc-${name}p"
    ip link set "chbc-${name}p" netns "chbc-$name"
    ip netns exec "chbc-$name" ip link set "chbc-${name}p" name eth0
    ip link set "chbc-${name}h" master "$BR"
    ip link set "chbc-${name}h" up
    ip netns exec "chbc-$name" ip addr add "$ip/24" dev eth0
    ip netns exec "chbc-$name" ip link set eth0 up
    ip netns exec "chbc-$name" ip link set lo up
}

http_ok() {
    "$PYTHON" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.read().startswith(b"Ok") else 1)
except Exception:
    sys.exit(1)
PY
}

# ZooKeeper serves sessions (srvr answers "Mode: ..." then; ruok's imok comes earlier,
# while a session handshake still fails)
zk_ok() {
    "$PYTHON" - "$1" <<'PY'
import socket, sys
try:
    with socket.create_connection((sys.argv[1], 2181), timeout=1) as s:
        s.sendall(b"srvr")
        sys.exit(0 if b"Mode:" in s.makefile("rb").read() else 1)
except OSError:
    sys.exit(1)
PY
}

# The node has its ZooKeeper session: 18.16 crashes (NULL ZooKeeper in
# DDLWorker::enqueueQuery) on an ON CLUSTER query that comes before its DDL worker
# has one, and /ping answers before that.
zk_session_ok() {
    "$PYTHON" - "$1" <<'PY'
import sys, urllib.parse, urllib.request
q = urllib.parse.quote("SELECT count() > 0 FROM system.zookeeper WHERE path = '/clickhouse/task_queue'")
try:
    with urllib.request.urlopen(f"http://{sys.argv[1]}:8123/?query={q}", timeout=2) as r:
        sys.exit(0 if r.read().strip() == b"1" else 1)
except Exception:
    sys.exit(1)
PY
}

render() {  # src dst name
    local name="$3" shard=01 replica=r1
    case "$name" in n2) replica=r2 ;; n3) shard=02 ;; n4) shard=02 replica=r2 ;; esac
    sed -e "s|@DATA@|$STATE/$name|g" -e "s|@IP@|$(node_ip "$name")|g" -e "s|@ZK_IP@|$(node_ip zk)|g" \
        -e "s|@NET@|$NET|g" -e "s|@SHARD@|$shard|g" -e "s|@REPLICA@|$replica|g" "$1" >"$2"
}

start_node() {  # name: (re)start the server of a node whose namespace exists
    local name="$1" dir="$STATE/$1"
    mkdir -p "$dir/log" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
    render "$HERE/node.xml" "$dir/config.xml" "$name"
    render "$HERE/users.xml" "$dir/users.xml" "$name"
    (cd "$dir" && exec ip netns exec "chbc-$name" setsid "$SERVER_BIN" --config-file="$dir/config.xml" \
        </dev/null >"$dir/log/stdout.log" 2>&1) &
    echo $! >"$dir/pid"
}

wait_node() {
    local name="$1" deadline=$((SECONDS + START_TIMEOUT))
    until http_ok "http://$(node_ip "$name"):8123/ping" && zk_session_ok "$(node_ip "$name")"; do
        if ((SECONDS > deadline)) || ! kill -0 "$(cat "$STATE/$name/pid")" 2>/dev/null; then
            log "node $name did not come up"
            tail -n 30 "$STATE/$name/log/server.err.log" "$STATE/$name/log/stdout.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.3
    done
}

start() {
    [[ $EUID -eq 0 ]] || { log "needs root (network namespaces)"; exit 1; }
    command -v iptables >/dev/null || { log "needs iptables (apt-get install iptables)"; exit 1; }
    [[ -x "$SERVER_BIN" && -f "$ZK_JAR" ]] || { log "needs clickhouse-server and zookeeper"; exit 1; }
    if [[ -e "$STATE/env" ]] || ip link show "$BR" >/dev/null 2>&1; then
        log "a cluster is already up (run stop first)"
        exit 1
    fi
    mkdir -p "$STATE"
    trap 'log "start failed: tearing down"; stop' ERR
    ip link add "$BR" type bridge
    ip addr add "$NET.1/24" dev "$BR"
    ip link set "$BR" up
    local n
    for n in zk "${NODES[@]}"; do make_ns "$n"; done
    mkdir -p "$STATE/zk/data"
    printf '%s\n' "tickTime=500" "dataDir=$STATE/zk/data" "clientPort=2181" "clientPortAddress=$(node_ip zk)" \
        "maxClientCnxns=0" "admin.enableServer=false" "4lw.commands.whitelist=srvr" >"$STATE/zk/zoo.cfg"
    (cd "$STATE/zk" && exec ip netns exec chbc-zk setsid java -Xmx256m -cp "$ZK_JAR:/etc/zookeeper/conf" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$STATE/zk/zoo.cfg" </dev/null >"$STATE/zk/zk.log" 2>&1) &
    echo $! >"$STATE/zk/pid"
    local deadline=$((SECONDS + START_TIMEOUT))
    until zk_ok "$(node_ip zk)"; do
        ((SECONDS < deadline)) || { log "ZooKeeper did not come up"; tail -n 30 "$STATE/zk/zk.log" >&2; false; }
        sleep 0.3
    done
    for n in "${NODES[@]}"; do start_node "$n"; done
    for n in "${NODES[@]}"; do wait_node "$n"; done
    {
        echo "CHB_CLUSTER_STATE_DIR=$STATE"
        echo "CHB_CLUSTER_NET=$NET"
        echo "CHB_CLUSTER_NAME=chb_2x2"
        echo "CHB_CLUSTER_HOSTS=$NET.11:8123,$NET.12:8123,$NET.13:8123,$NET.14:8123"
        echo "CHB_CLUSTER_SCRIPT=$HERE/cluster.sh"
    } >"$STATE/env"
    trap - ERR
    log "up: $NET.11-14:8123 (cluster chb_2x2), ZooKeeper $NET.10:2181"
}

stop_pid() {  # pidfile
    [[ -f "$1" ]] || return 0
    local pid
    pid="$(cat "$1")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -CONT "$pid" 2>/dev/null || true  # a SIGSTOPped node must see the TERM
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

stop() {
    local n
    for n in "${NODES[@]}" zk; do stop_pid "$STATE/$n/pid"; done
    for n in "${NODES[@]}" zk; do
        ip netns del "chbc-$n" 2>/dev/null || true
        ip link del "chbc-${n}h" 2>/dev/null || true
    done
    ip link del "$BR" 2>/dev/null || true
    case "$STATE" in /tmp/chb-*) rm -rf -- "$STATE" ;; *) rm -f -- "$STATE/env" ;; esac
    log "down"
}

# Faults, for the tests (tests/cluster/faults.py calls these):
#   kill9 NODE | sigstop NODE | sigcont NODE | restart NODE | cut NODE | heal NODE | slow NODE RATE | unslow NODE
fault() {
    local what="$1" name="$2" pid
    pid="$(cat "$STATE/$name/pid" 2>/dev/null || true)"
    case "$what" in
        kill9) kill -KILL "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done ;;
        sigstop) kill -STOP "$pid" ;;
        sigcont) kill -CONT "$pid" ;;
        restart) start_node "$name"; wait_node "$name" ;;
        # connects time out rather than being refused: packets are dropped inside the namespace
        cut) ip netns exec "chbc-$name" iptables -A INPUT -i eth0 -j DROP ;;
        heal) ip netns exec "chbc-$name" iptables -D INPUT -i eth0 -j DROP ;;
        slow) ip netns exec "chbc-$name" tc qdisc add dev eth0 root tbf rate "$3" burst 16kb latency 400ms ;;
        unslow) ip netns exec "chbc-$name" tc qdisc del dev eth0 root ;;
        *) log "unknown fault $what"; exit 2 ;;
    esac
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) cat "$STATE/env" ;;
    fault) shift; fault "$@" ;;
    *) echo "usage: $0 start|stop|env|fault WHAT NODE [ARG]" >&2; exit 2 ;;
esac
