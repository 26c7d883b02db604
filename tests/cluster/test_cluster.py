"""Failover and balancing on a real 2-shard x 2-replica cluster under faults
(tests/cluster/cluster.sh; run with bash tests/cluster/run.sh).

n1, n2 are the replicas of shard 01, n3, n4 of shard 02. The reads go to one shard's
two replicas (hosts=[n1, n2]) and count its local ReplicatedMergeTree table, whose
exact row count is known: a read that fails, or returns anything else, is a failed read."""
import asyncio
import threading
import time
import uuid

import pytest

import clickhouse_backend.driver as chd
from tests.cluster.conftest import fault

CONNECT_TIMEOUT = 1.0
# A SIGSTOPped node accepts connections and never answers: the liveness probe (a /ping
# after CONNECT_TIMEOUT/2 of silence, unanswered within CONNECT_TIMEOUT/4) finds it, long
# before this send/receive timeout would.
RW_TIMEOUT = 10.0


def node(cluster, i):
    return cluster["hosts"][i - 1]


def conn_to(*hosts, **kw):
    kw.setdefault("connect_timeout", CONNECT_TIMEOUT)
    kw.setdefault("send_receive_timeout", RW_TIMEOUT)
    return chd.connect(hosts=list(hosts), pool_name=uuid.uuid4().hex[:16], **kw)


def one_value(host, sql):
    c = chd.connect(host=host)
    try:
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchall()[0][0]
    finally:
        c.close()


def replicas_ready(hosts, db, timeout=90):
    """Wait until every node's replica of db.loc has a live ZooKeeper session again.
    A node cut off or stopped by a test may come back with its session expired (18.16
    re-opens it in the background); DDL ON CLUSTER and SYNC REPLICA fail until it has."""
    deadline = time.monotonic() + timeout
    for h in hosts:
        while True:
            try:
                state = one_value(h, f"SELECT is_session_expired OR is_readonly FROM system.replicas "
                                     f"WHERE database = '{db}' AND table = 'loc'")
                if state == 0:
                    break
            except (chd.Error, IndexError) as e:  # IndexError: the table is not attached yet
                state = e
            if time.monotonic() > deadline:
                raise AssertionError(f"{h}: replica not back within {timeout}s: {state}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def tables(cluster):
    """db.loc (ReplicatedMergeTree per shard) and db.dist (Distributed by x), created
    ON CLUSTER, with ROWS rows inserted through the Distributed table."""
    db = "chbc_" + uuid.uuid4().hex[:8]
    c = conn_to(*cluster["hosts"], load_balancing="in_order", send_receive_timeout=120)
    cur = c.cursor()
    name = cluster["name"]
    cur.execute(f"CREATE DATABASE {db} ON CLUSTER {name}")
    cur.execute(f"CREATE TABLE {db}.loc ON CLUSTER {name} (x UInt64, batch String) "
                f"ENGINE = ReplicatedMergeTree('/clickhouse/tables/{{shard}}/{db}_loc', '{{replica}}') ORDER BY x")
    cur.execute(f"CREATE TABLE {db}.dist ON CLUSTER {name} AS {db}.loc ENGINE = Distributed({name}, {db}, loc, x)")
    rows = 20000
    cur.execute(f"INSERT INTO {db}.dist VALUES", [(i, "seed") for i in range(rows)],
                settings={"insert_distributed_sync": 1})
    for h in cluster["hosts"]:
        one_value(h, f"SELECT 1 FROM system.one")  # node answers
        c2 = chd.connect(host=h, send_receive_timeout=120)
        c2.cursor().execute(f"SYSTEM SYNC REPLICA {db}.loc")
        c2.close()
    yield db, rows
    replicas_ready(cluster["hosts"], db)
    cur.execute(f"DROP DATABASE IF EXISTS {db} ON CLUSTER {name}")
    c.close()


def test_distributed_inserts_land_on_their_shard_and_replicate(cluster, tables):
    db, rows = tables
    counts = [one_value(h, f"SELECT count() FROM {db}.loc") for h in cluster["hosts"]]
    # Distributed(..., x) with two equal shards: x % 2 == 0 on shard 01, 1 on shard 02
    assert counts == [rows // 2, rows // 2, rows // 2, rows // 2]
    for i, h in enumerate(cluster["hosts"]):
        assert one_value(h, f"SELECT countIf(x % 2 != {0 if i < 2 else 1}) FROM {db}.loc") == 0
    c = conn_to(*cluster["hosts"], load_balancing="round_robin")
    cur = c.cursor()
    for _ in range(8):  # every node answers the whole table through Distributed
        cur.execute(f"SELECT count(), sum(x) FROM {db}.dist")
        assert cur.fetchall() == [(rows, rows * (rows - 1) // 2)]
    assert all(h["requests"] == 2 for h in c.host_stats())


FAULTS = {
    # name: (inject, heal)
    "kill9": ("kill9", "restart"),
    "sigstop": ("sigstop", "sigcont"),
    "cut": ("cut", "heal"),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_reads_under_load_survive_a_lost_replica(cluster, tables, kind):
    db, rows = tables
    expect = rows // 2
    sql = f"SELECT count() FROM {db}.loc"
    n1, n2 = node(cluster, 1), node(cluster, 2)
    c = conn_to(n1, n2, load_balancing="random", host_backoff=0.5, host_backoff_max=2)
    stop = threading.Event()
    failures, latencies = [], []
    lock = threading.Lock()

    def record(t0, value, err=None):
        with lock:
            latencies.append(time.monotonic() - t0)
            if err is not None or value != expect:
                failures.append(err or value)

    def sync_reader():
        cur = c.cursor()
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                cur.execute(sql)
                record(t0, cur.fetchall()[0][0])
            except chd.Error as e:
                record(t0, None, e)

    async def async_burst(n):
        ac = await chd.connect_async(hosts=[n1, n2], pool_name=uuid.uuid4().hex[:16], load_balancing="random",
                                     connect_timeout=CONNECT_TIMEOUT, send_receive_timeout=RW_TIMEOUT,
                                     host_backoff=0.5, host_backoff_max=2)

        async def one():
            t0 = time.monotonic()
            try:
                cur = ac.cursor()
                await cur.execute(sql)
                record(t0, (await cur.fetchall())[0][0])
            except chd.Error as e:
                record(t0, None, e)

        await asyncio.gather(*(one() for _ in range(n)))
        stats = ac.host_stats()
        await ac.close()
        return stats

    threads = [threading.Thread(target=sync_reader) for _ in range(8)]
    for t in threads:
        t.start()
    inject, heal = FAULTS[kind]
    try:
        time.sleep(0.5)
        fault(inject, "n1")
        t_fault = time.monotonic()
        astats = asyncio.run(async_burst(1000))  # 1,000 concurrent async reads during the loss
        # what a failover costs: a new connection that meets n1 first, under the load
        probes = []
        for _ in range(5):
            p = conn_to(n1, n2, load_balancing="in_order")
            t0 = time.monotonic()
            pc = p.cursor()
            pc.execute(sql)
            assert pc.fetchall() == [(expect,)]
            probes.append(time.monotonic() - t0)
            assert p.host_stats()[0]["failovers"] == 1
            p.close()
        time.sleep(max(0.0, 3 - (time.monotonic() - t_fault)))
        during = c.host_stats()
    finally:
        fault(heal, "n1")
    # the pool heals: n1 serves again once its backoff ends
    before = c.host_stats()[0]["requests"]
    deadline = time.monotonic() + 15
    while c.host_stats()[0]["requests"] <= before + 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    healed = c.host_stats()
    c.close()
    assert failures == [], failures[:5]
    assert during[0]["failures"] >= 1 and astats[1]["requests"] > 0
    assert healed[0]["requests"] > before + 5, healed
    print(f"\n{kind}: {len(latencies)} reads, 0 failed, slowest {max(latencies):.3f}s (queued behind the "
          f"burst); failover of a new connection: {', '.join(f'{t:.3f}' for t in probes)}s "
          f"(bound: connect_timeout={CONNECT_TIMEOUT}s); n1 failures {during[0]['failures']}, "
          f"failovers {during[0]['failovers']}")
    # each failover, the read itself on the surviving replica included, is served within
    # connect_timeout: a refused connect at once, a dropped one hedged to n2 after half of
    # it, a silent node pinged after half of it and left when the ping is a quarter late
    assert max(probes) <= CONNECT_TIMEOUT, probes


def running_on(host, qid):
    return one_value(host, f"SELECT count() FROM system.processes WHERE query_id = '{qid}'")


def test_a_read_left_on_a_stopped_replica_is_killed_when_it_resumes(cluster, tables):
    """n1 is SIGSTOPped while it runs a read: the read moves to n2 (the probe), and the
    KILL QUERY copy sent to n1 ends the abandoned query there as soon as n1 resumes,
    rather than letting it run to its end."""
    n1, n2 = node(cluster, 1), node(cluster, 2)
    qid = "chbc-kill-" + uuid.uuid4().hex
    # seconds of work on one thread (numbers() counts ~1e9 rows/s here), no output until the end
    sql = "SELECT count() FROM numbers(5000000000)"
    c = conn_to(n1, n2, load_balancing="in_order", send_receive_timeout=60)
    out = {}

    def read():
        t0 = time.monotonic()
        try:
            cur = c.cursor()
            cur.execute(sql, query_id=qid, settings={"max_threads": 1, "log_queries": 1})
            out["rows"] = cur.fetchall()
        except chd.Error as e:
            out["error"] = e
        out["took"] = time.monotonic() - t0

    t = threading.Thread(target=read)
    t.start()
    deadline = time.monotonic() + 5
    while running_on(n1, qid) == 0:
        assert time.monotonic() < deadline, "the read never started on n1"
        time.sleep(0.05)
    fault("sigstop", "n1")
    t_stop = time.monotonic()
    try:
        while c.host_stats()[0]["failovers"] == 0:
            assert time.monotonic() < t_stop + CONNECT_TIMEOUT + 1, "the read did not leave the stopped n1"
            time.sleep(0.02)
        moved = time.monotonic() - t_stop
        time.sleep(0.5)
    finally:
        fault("sigcont", "n1")
    t_cont = time.monotonic()
    assert running_on(n1, qid) in (0, 1)  # n1 answers again
    while running_on(n1, qid):
        assert time.monotonic() < t_cont + 1.5, "the abandoned read still runs on n1"
        time.sleep(0.05)
    gone = time.monotonic() - t_cont
    assert moved <= CONNECT_TIMEOUT, moved  # silence of half of it, then a ping a quarter of it late
    t.join(30)
    assert out.get("rows") == [(5000000000,)], out
    assert running_on(n2, qid) == 0
    stats = c.host_stats()
    assert stats[0]["pings_unanswered"] >= 1 and stats[1]["requests"] == 1
    flush = chd.connect(host=n1)
    flush.cursor().execute("SYSTEM FLUSH LOGS")
    flush.close()
    cancelled = one_value(n1, f"SELECT count() FROM system.query_log WHERE query_id = '{qid}' "
                              "AND type = 4 AND exception LIKE '%Code: 394%'")  # QUERY_WAS_CANCELLED
    assert cancelled == 1
    print(f"\nSIGSTOP mid-read: moved to n2 after {moved:.3f}s, the copy on n1 gone {gone:.3f}s after SIGCONT; "
          f"read took {out['took']:.2f}s")
    c.close()


def test_inserts_during_a_node_loss_are_exactly_once_or_refused(cluster, tables):
    db, _ = tables
    hosts = cluster["hosts"]
    replicas_ready(hosts, db)  # the read tests' faults may have expired n1's session
    c = conn_to(*hosts, load_balancing="round_robin", send_receive_timeout=10)
    cur = c.cursor()
    ok, failed = [], []
    fault("kill9", "n3")  # a replica of shard 02
    try:
        for b in range(40):
            batch = f"b{b}"
            rows = [(10 ** 9 + b * 100 + i, batch) for i in range(100)]
            try:
                cur.execute(f"INSERT INTO {db}.dist VALUES", rows, settings={"insert_distributed_sync": 1})
                ok.append(batch)
            except chd.OperationalError as e:
                assert "not retried" in str(e) or "could not connect" in str(e) or "Code:" in str(e), e
                failed.append(batch)
            if b == 20:
                fault("restart", "n3")
    finally:
        if not one_alive(hosts[2]):
            fault("restart", "n3")
    replicas_ready(hosts, db)
    for h in hosts:
        c2 = chd.connect(host=h, send_receive_timeout=120)
        c2.cursor().execute(f"SYSTEM SYNC REPLICA {db}.loc")
        c2.close()
    cur.execute(f"SELECT batch, count(), uniqExact(x) FROM {db}.dist WHERE x >= 1000000000 GROUP BY batch")
    landed = {b: (n, u) for b, n, u in cur.fetchall()}
    assert all(n == u for n, u in landed.values()), "a duplicated row"
    for b in ok:
        assert landed.get(b) == (100, 100), (b, landed.get(b))
    for b in failed:  # refused: all of it or none (the error said it may have been applied)
        assert landed.get(b, (0, 0))[0] in (0, 100)
    assert len(ok) >= 30, (ok, failed)
    print(f"\ninserts: {len(ok)} succeeded, {len(failed)} refused with a clear error")


def one_alive(host):
    try:
        one_value(host, "SELECT 1")
        return True
    except chd.Error:
        return False


def test_django_migrates_on_cluster_and_reads_complete_results(cluster):
    import json
    import os
    import subprocess
    import sys

    db = "chbdj_" + uuid.uuid4().hex[:8]
    c = conn_to(*cluster["hosts"], load_balancing="in_order", send_receive_timeout=120)
    c.cursor().execute(f"CREATE DATABASE {db} ON CLUSTER {cluster['name']}")
    try:
        proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "django_cluster.py"),
                               ",".join(cluster["hosts"]), cluster["name"], db, str(EXTRA_COLUMNS)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert (out["count"], out["distinct"], out["sum"]) == (1000, 1000, 999 * 1000 // 2)
        assert all(n > 0 for _, n in out["hosts"]), out["hosts"]  # round_robin used every node
        for i, h in enumerate(cluster["hosts"]):  # the schema is on all four, rows on their shard
            cc = chd.connect(host=h, send_receive_timeout=120)
            cur = cc.cursor()
            cur.execute(f"SYSTEM SYNC REPLICA {db}.cl_local")
            cur.execute(f"SELECT count(), countIf(id % 2 != {0 if i < 2 else 1}) FROM {db}.cl_local")
            assert cur.fetchall() == [(500, 0)]
            cur.execute(f"SELECT name, type FROM system.columns WHERE database = '{db}' AND table = 'cl_dist' "
                        "ORDER BY name")
            assert cur.fetchall() == [("id", "Int64"), ("name", "String"), ("weight", "Int32")]
            # every AddField of the replicated model reached every replica of both shards
            cur.execute(f"SELECT name, type FROM system.columns WHERE database = '{db}' AND table = 'cl_local'")
            assert sorted(cur.fetchall()) == sorted([("id", "Int64"), ("name", "String"), ("weight", "Int32")] + [
                (f"extra{k}", "Int32") for k in range(EXTRA_COLUMNS)]), h
            cc.close()
    finally:
        # with a node's DDL worker gone (the 18.16 race), this fails after the
        # cluster's distributed_ddl_task_timeout (tests/cluster/users.xml)
        c.cursor().execute(f"DROP DATABASE IF EXISTS {db} ON CLUSTER {cluster['name']}")
        c.close()


# ALTERs ON CLUSTER of the replicated model: 18.16 raced on about one in 25
EXTRA_COLUMNS = 40


def test_a_slow_link_is_not_a_dead_host(cluster, tables):
    """tc tbf limits n1's link to 256 kbit/s: a result of ~180 kB takes seconds but
    arrives whole, and the host is not marked down (slowness is not failure)."""
    db, rows = tables
    n1 = node(cluster, 1)
    c = conn_to(n1, node(cluster, 2), load_balancing="in_order", send_receive_timeout=30, compression=False)
    cur = c.cursor()
    fault("slow", "n1", "256kbit")
    try:
        t0 = time.monotonic()
        cur.execute(f"SELECT x, batch FROM {db}.loc WHERE batch = 'seed' ORDER BY x")
        got = cur.fetchall()
        took = time.monotonic() - t0
    finally:
        fault("unslow", "n1")
    assert [x for x, _ in got] == list(range(0, rows, 2))
    stats = c.host_stats()
    assert stats[0]["failures"] == 0 and stats[0]["requests"] == 1 and stats[1]["requests"] == 0, stats
    print(f"\nslow link: {len(got)} rows through 256 kbit/s in {took:.2f}s")
    assert took > 2  # the limit really applied: ~180 kB at 32 kB/s
    c.close()
