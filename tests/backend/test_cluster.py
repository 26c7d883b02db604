"""Migrations ON CLUSTER, Replicated*MergeTree and Distributed tables on a real
cluster: tests/server/ctl.sh starts a ZooKeeper and gives the 18.16 server a
cluster `chb_cluster` made of itself, and tests/backend/settings.py adds the
database alias "cluster" whose OPTIONS set migration_cluster. Without a ZooKeeper
the tests skip, and fail under CI=true (scripts/test.sh always starts one)."""
import os
import time
import uuid

import pytest
from django.db import connections, models as dj
from django.db.migrations import operations as ops
from django.db.migrations.state import ProjectState

from clickhouse_backend import models
from tests.backend.conftest import _test_db
from tests.backend.testapp.models import Plain

CLUSTER = os.environ.get("CHB_CLUSTER", "chb_cluster")
REPLICATED = "chb_replicated"  # the same server, its shard with internal_replication
NO_ZK = ("no ZooKeeper: ON CLUSTER DDL needs one (tests/server/ctl.sh starts it when the "
         "Debian zookeeper package is installed; scripts/test.sh requires it)")


@pytest.fixture(scope="module")
def cdb(clickhouse_url, _database_access):
    """The test database of the "cluster" alias, created and migrated ON CLUSTER."""
    if not os.environ.get("CHB_ZOOKEEPER_PORT"):
        if os.environ.get("CI"):
            pytest.fail(NO_ZK)
        pytest.skip(NO_ZK)
    before = _ddl_tasks()
    for conn in _test_db("cluster"):
        yield conn, before


def _system_cursor():
    # a plain driver connection: the Django aliases point at test databases
    # that may not exist yet
    import clickhouse_backend.driver as chd
    from tests.conftest import parse_server_url

    return chd.connect(**parse_server_url(os.environ["CLICKHOUSE_HTTP_URL"])).cursor()


def _ddl_tasks():
    # Every ON CLUSTER statement is one entry of the distributed DDL queue.
    with _system_cursor() as cur:
        cur.execute("SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl'")
        return cur.fetchone()[0]


def _ddl_queries(since):
    with _system_cursor() as cur:
        cur.execute("SELECT name FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl' "
                    "ORDER BY name")
        names = [r[0] for r in cur.fetchall()][since:]
        out = []
        for name in names:
            cur.execute("SELECT value FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl' "
                        "AND name = %s", [name])
            out.append(cur.fetchone()[0])
        return out


def _apply(state, operation, app="clusterapp"):
    new = state.clone()
    operation.state_forwards(app, new)
    with connections["cluster"].schema_editor() as editor:
        operation.database_forwards(app, editor, state, new)
    return new


def _columns(table):
    with connections["cluster"].cursor() as cur:
        cur.execute("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                    "AND table = %s", [table])
        return dict(cur.fetchall())


def test_migrate_runs_every_statement_on_cluster(cdb):
    conn, before = cdb
    queries = _ddl_queries(before)
    db = conn.settings_dict["NAME"]
    # CREATE DATABASE and the migrated tables (testapp, contrib apps, django_migrations)
    # all went through the distributed DDL queue
    # (the queue keeps each statement as the server reformats it: qualified, unquoted)
    assert any("CREATE DATABASE %s ON CLUSTER %s" % (db, CLUSTER) in q for q in queries)
    assert any("CREATE TABLE %s.testapp_plain ON CLUSTER %s" % (db, CLUSTER) in q for q in queries)
    assert any("CREATE TABLE %s.django_migrations ON CLUSTER" % db in q for q in queries)
    with conn.cursor() as cur:
        assert "testapp_plain" in conn.introspection.table_names(cur)
    # the ORM works on it, mutations included
    p = Plain.objects.using("cluster").create(name="a", value=1)
    Plain.objects.using("cluster").filter(pk=p.pk).update(value=5)
    assert Plain.objects.using("cluster").get(pk=p.pk).value == 5
    Plain.objects.using("cluster").filter(pk=p.pk).delete()
    assert not Plain.objects.using("cluster").filter(pk=p.pk).exists()


def test_replicated_and_distributed_models_through_migrations(cdb):
    conn, _ = cdb
    suffix = uuid.uuid4().hex[:6]
    local, dist = "clusterapp_local_" + suffix, "clusterapp_dist_" + suffix
    db = conn.settings_dict["NAME"]
    state = ProjectState()
    before = _ddl_tasks()
    state = _apply(state, ops.CreateModel("Local", [
        ("id", dj.BigAutoField(primary_key=True)),
        ("name", models.StringField(default="")),
    ], options={"db_table": local, "cluster": REPLICATED, "engine": models.ReplicatedMergeTree(
        "/clickhouse/tables/{shard}/%s/%s" % (db, local), "{replica}", order_by="id")}))
    state = _apply(state, ops.CreateModel("Dist", [
        ("id", dj.BigAutoField(primary_key=True)),
        ("name", models.StringField(default="")),
    ], options={"db_table": dist, "cluster": CLUSTER,
                "engine": models.Distributed(REPLICATED, db, local, "rand()")}))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT engine FROM system.tables WHERE database = %s AND name IN (%s, %s) "
                        "ORDER BY name", [db, dist, local])
            assert [r[0] for r in cur.fetchall()] == ["Distributed", "ReplicatedMergeTree"]
            cur.execute("SELECT count() FROM system.replicas WHERE database = %s AND table = %s",
                        [db, local])
            assert cur.fetchone()[0] == 1
        # AddField on both, through the cluster
        for model in ("Local", "Dist"):
            state = _apply(state, ops.AddField(model, "weight", dj.IntegerField(default=3)))
        assert _columns(local)["weight"] == _columns(dist)["weight"] == "Int32"
        for model in ("Local", "Dist"):
            state = _apply(state, ops.AlterField(model, "weight", dj.BigIntegerField(default=3)))
        assert _columns(local)["weight"] == _columns(dist)["weight"] == "Int64"
        # Meta.cluster decides: DDL of the replicated table runs on the cluster whose
        # shard has internal replication (ClickHouse refuses it elsewhere, and
        # refuses DDL of other tables there)
        queries = _ddl_queries(before)
        assert len(queries) == 6
        assert all(("ON CLUSTER %s" % (REPLICATED if "%s.%s " % (db, local) in q else CLUSTER)) in q
                   for q in queries)
        # rows written through the Distributed table land in the replicated table
        Dist = state.apps.get_model("clusterapp", "Dist")
        Local = state.apps.get_model("clusterapp", "Local")
        Dist.objects.using("cluster").bulk_create([Dist(name="n%d" % i, weight=i) for i in range(5)])
        # Distributed INSERTs are forwarded in the background (18.16 has no SYSTEM
        # FLUSH DISTRIBUTED)
        deadline = time.monotonic() + 30
        while Local.objects.using("cluster").count() < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(Local.objects.using("cluster").values_list("name", flat=True)) == \
            ["n0", "n1", "n2", "n3", "n4"]
        assert Dist.objects.using("cluster").filter(weight__gte=3).count() == 2
        # a mutation through the Distributed model goes to the replicated table
        Dist.objects.using("cluster").filter(name="n0").update(weight=10)
        assert Local.objects.using("cluster").get(name="n0").weight == 10
        state = _apply(state, ops.RemoveField("Dist", "weight"))
        assert "weight" not in _columns(dist)
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS "%s" ON CLUSTER "%s"' % (dist, CLUSTER))
            cur.execute('DROP TABLE IF EXISTS "%s" ON CLUSTER "%s"' % (local, REPLICATED))


def test_materialized_view_rollup_on_cluster(cdb):
    """A rollup and its materialized view made by a migration ON CLUSTER: the view
    is created there too and keeps the rollup up to date."""
    from tests.backend.modeling import detect, migrate, state_of
    from tests.backend.test_views import _event_model, _grouped, _merged, _rollup_models

    conn, _ = cdb
    Ev = _event_model()
    Daily, DailyMV = _rollup_models(Ev)
    before = _ddl_tasks()
    migrate("cluster", state_of(), detect(state_of(), state_of(Ev, Daily, DailyMV)))
    try:
        queries = _ddl_queries(before)
        assert any("CREATE MATERIALIZED VIEW" in q and "ON CLUSTER" in q for q in queries)
        Ev.objects.using("cluster").bulk_create([Ev(day="2024-01-01", user=u, v=u)
                                                 for u in range(10)])
        assert _merged(Daily, "cluster") == _grouped(Ev, "cluster")
    finally:
        with connections["cluster"].cursor() as cur:
            for model in (DailyMV, Daily, Ev):
                cur.execute('DROP TABLE IF EXISTS "%s" ON CLUSTER "%s"'
                            % (model._meta.db_table, CLUSTER))
