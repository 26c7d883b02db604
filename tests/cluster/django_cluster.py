"""Run by test_cluster.py in a process of its own (Django settings are process-wide):
Django connected to the four nodes by a HOST list, models migrated ON CLUSTER
(a ReplicatedMergeTree table and a Distributed table over it), rows written and
read through the ORM. argv: hosts (comma-separated), cluster, database, how many
more columns to add to the replicated table. Prints JSON."""
import json
import sys
import time

import django
from django.conf import settings

hosts, cluster, dbname = sys.argv[1:4]
EXTRA = int(sys.argv[4])
settings.configure(
    DATABASES={"default": {
        "ENGINE": "clickhouse_backend.backend", "HOST": hosts, "NAME": dbname,
        "OPTIONS": {"migration_cluster": cluster + "_ddl", "load_balancing": "round_robin", "connect_timeout": 1},
    }},
    INSTALLED_APPS=[], USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
django.setup()

from django.db import connection, models as dj  # noqa: E402
from django.db.migrations import operations as ops  # noqa: E402
from django.db.migrations.state import ProjectState  # noqa: E402

from clickhouse_backend import models  # noqa: E402


def apply(state, operation):
    new = state.clone()
    operation.state_forwards("cl", new)
    with connection.schema_editor() as editor:
        operation.database_forwards("cl", editor, state, new)
    return new


state = ProjectState()
state = apply(state, ops.CreateModel("Local", [
    ("id", dj.BigIntegerField(primary_key=True)),
    ("name", models.StringField(default="")),
], options={"db_table": "cl_local", "cluster": cluster, "engine": models.ReplicatedMergeTree(
    "/clickhouse/tables/{shard}/%s/cl_local" % dbname, "{replica}", order_by="id")}))
state = apply(state, ops.CreateModel("Dist", [
    ("id", dj.BigIntegerField(primary_key=True)),
    ("name", models.StringField(default="")),
], options={"db_table": "cl_dist", "cluster": cluster + "_ddl",
            "engine": models.Distributed(cluster, dbname, "cl_local", "id")}))
state = apply(state, ops.AddField("Local", "weight", dj.IntegerField(default=3)))
state = apply(state, ops.AddField("Dist", "weight", dj.IntegerField(default=3)))
# 18.16's DDL worker raced on about one ALTER ON CLUSTER of a replicated table
# in 25 (backend/cluster_ddl.py): enough of them to meet it
for i in range(EXTRA):
    state = apply(state, ops.AddField("Local", f"extra{i}", dj.IntegerField(default=i)))
Dist = state.apps.get_model("cl", "Dist")
Dist.objects.bulk_create([Dist(id=i, name=f"n{i}", weight=i) for i in range(1000)])
# Distributed INSERTs are forwarded in the background, to one replica of a shard;
# the other replica fetches the part a moment later, and a node reads its own
# shard's rows from its local replica: wait until each of the four nodes (the
# round_robin reads take them in turn) has answered all the rows.
deadline = time.monotonic() + 60
complete = 0
while complete < len(hosts.split(",")) and time.monotonic() < deadline:
    complete = complete + 1 if Dist.objects.count() == 1000 else 0
    if not complete:
        time.sleep(0.2)
out = {
    "count": Dist.objects.count(),
    "sum": Dist.objects.aggregate(s=dj.Sum("weight"))["s"],
    "distinct": Dist.objects.values("id").distinct().count(),
    "hosts": [(h["host"], h["requests"]) for h in connection.connection.host_stats()],
}
print(json.dumps(out))
