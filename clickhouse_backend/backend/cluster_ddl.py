"""ALTER ... ON CLUSTER of a Replicated* table on servers whose DDL worker races
(features.ddl_worker_races_replicated_alters: 18.16).

ClickHouse runs such an ALTER on one replica per shard: each replica's DDL
worker checks the task's shards/<shard>/executed node, takes shards/<shard>/lock
and, once it ran the ALTER, creates `executed`. 18.16 checks `executed` only
before taking the lock: a replica that looked just before another one finished
takes the freed lock, runs the ALTER a second time ("column already exists")
and fails creating `executed` ("Node exists"), a ZooKeeper error its DDL worker
does not handle: the worker thread ends. That replica executes no ON CLUSTER
query any more until the server restarts, and every initiator waits
distributed_ddl_task_timeout for it. (Later releases check `executed` again
under the lock.) Nothing done after the error can help, so the race is avoided:
the ALTER is sent without ON CLUSTER to one replica of each shard (the
replicated table carries it to the shard's other replicas through ZooKeeper),
then every replica of the cluster is read back until its columns match; one
that does not within REPLICA_WAIT seconds is an error naming it."""
import logging
import re
import time

from django.db.utils import OperationalError

from clickhouse_backend import driver as Database
from clickhouse_backend.driver import hosts as _hosts

# Seconds every replica gets to show the ALTER's columns (18.16's replicated
# ALTER itself waits for the shard's active replicas).
REPLICA_WAIT = 30.0

logger = logging.getLogger("django.db.backends.schema")

_NAME = r'"(?:[^"\\]|\\.)*"'
_ALTER_ON_CLUSTER = re.compile(r"\s*ALTER TABLE (%s) ON CLUSTER (%s) " % (_NAME, _NAME), re.S)
_COLUMNS = ("SELECT name, type, default_kind, default_expression FROM system.columns "
            "WHERE database = currentDatabase() AND table = %s ORDER BY name")


def _unquote(name):
    return re.sub(r"\\(.)", r"\1", name[1:-1])


def run_per_shard(connection, sql):
    """Run `sql` (an ALTER the schema editor built) one replica per shard if it
    is an ALTER ... ON CLUSTER of a Replicated* table on a server with the race
    and a cluster whose shards have several replicas; True if it did."""
    if connection.features.replicated_alter_on_cluster_is_safe:
        return False
    match = _ALTER_ON_CLUSTER.match(sql)
    if not match:
        return False
    table, cluster = _unquote(match.group(1)), _unquote(match.group(2))
    with connection.cursor() as cur:
        cur.execute("SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = %s",
                    [table])
        row = cur.fetchone()
        if row is None or not row[0].startswith("Replicated"):
            return False
        cur.execute("SELECT shard_num, host_name FROM system.clusters WHERE cluster = %s "
                    "ORDER BY shard_num, replica_num", [cluster])
        shards = {}
        for shard, host in cur.fetchall():
            shards.setdefault(shard, []).append(host)
    if all(len(replicas) < 2 for replicas in shards.values()):
        return False  # no two replicas of a shard to race
    local_sql = "ALTER TABLE %s %s" % (match.group(1), sql[match.end():])
    logger.debug("%s; (one replica per shard of %s: %s)", local_sql, cluster,
                 ", ".join("/".join(r) for _, r in sorted(shards.items())))
    endpoints = _endpoints(connection)
    for shard, replicas in sorted(shards.items()):
        _alter_shard(connection, endpoints, shard, replicas, table, local_sql)
    return True


def _endpoints(connection):
    """The HTTP endpoints of this connection's HOST list: a cluster host (as
    system.clusters names it, native protocol port) is reached at the HTTP
    port HOST gives it, else at the first host's."""
    params = connection.get_connection_params()
    return _hosts.parse_hosts(params["host"], params.get("hosts"), params["port"])


def _http(endpoints, host):
    for h, p in endpoints:
        if h == host:
            return (h, p)
    return (host, endpoints[0][1])


def _connect(connection, hosts):
    params = connection.get_connection_params()
    params.update(host=hosts[0][0], port=hosts[0][1], hosts=list(hosts), load_balancing="in_order")
    params.pop("pool_name", None)
    return Database.connect(**params, settings=connection.driver_settings())


def _columns(conn, table):
    cur = conn.cursor()
    cur.execute(_COLUMNS, [table])
    return cur.fetchall()


def _alter_shard(connection, endpoints, shard, replicas, table, sql):
    """The ALTER on the first replica of the shard that answers, then the
    columns it left there read back on every replica of the shard."""
    hosts = [_http(endpoints, h) for h in replicas]
    conn = _connect(connection, hosts)
    try:
        with connection.wrap_database_errors:
            conn.cursor().execute(sql)
            expected = _columns(conn, table)
    finally:
        conn.close()
    for host in hosts:
        deadline = time.monotonic() + REPLICA_WAIT
        one = _connect(connection, [host])
        try:
            while True:
                try:
                    got = _columns(one, table)
                except Database.Error as e:
                    got = e
                if got == expected:
                    break
                if time.monotonic() > deadline:
                    raise OperationalError(
                        "ALTER of %r on shard %s of cluster replicated: replica %s:%s does not show it "
                        "after %.0f s (%s). It applies the ALTER when it is back; check it before "
                        "migrating further." % (table, shard, host[0], host[1], REPLICA_WAIT,
                                                got if isinstance(got, Exception) else "other columns"))
                time.sleep(0.1)
        finally:
            one.close()
