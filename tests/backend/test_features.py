"""Backend features on the real server (18.16 in CI) where it has them and on
the embedded engine (chDB, ClickHouse 26.x) for the rest: Map, JSON keys,
window functions, lightweight DELETE, DateTime64/Bool/Date32, data skipping
indexes, migration operations, management commands, logging, time zones."""
import datetime
import decimal
import io
import logging
import os
import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, NotSupportedError, connections, models as dj
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations import operations as ops
from django.db.models import F, Window
from django.db.models.functions import Abs, Lower, Rank, RowNumber, StrIndex, Upper
from django.test.utils import CaptureQueriesContext, override_settings

from clickhouse_backend import models
from tests.backend.modernapp.models import Metric
from tests.backend.testapp.models import Plain
from tests.backend.conftest import use_db

UTC = datetime.timezone.utc


def _cursor(alias):
    return connections[alias].cursor()


def _column_types(alias, table):
    with _cursor(alias) as cur:
        cur.execute("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                    "AND table = %s", [table])
        return dict(cur.fetchall())


@pytest.fixture
def metrics(edb):
    Metric.objects.all().delete()
    at = datetime.datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    rows = [
        Metric(name="cpu", labels={"host": 1, "core": 2}, doc={"a": 1, "b": {"c": "x"}, "arr": [5, 6]},
               at=at, ok=True, day=datetime.date(1950, 1, 2), big=-(2**100), ubig=2**200,
               code="abc", value=1.5),
        Metric(name="cpu", labels={"host": 2}, doc={"a": 2}, at=at + datetime.timedelta(hours=1),
               ok=False, value=3.0),
        Metric(name="mem", labels={}, doc=None, at=at, value=2.0),
    ]
    Metric.objects.bulk_create(rows)
    return rows


# ---- types on the embedded engine -----------------------------------------

def test_modern_types_roundtrip_and_ddl(metrics):
    types = _column_types("embedded", "modernapp_metric")
    assert types["labels"] == "Map(String, Int32)"
    assert types["at"] == "DateTime64(3, 'UTC')"
    assert types["ok"] == "Bool" and types["day"] == "Nullable(Date32)"
    assert types["big"] == "Int128" and types["ubig"] == "UInt256"
    assert types["name"] == "LowCardinality(String)" and types["code"] == "FixedString(3)"
    m = Metric.objects.get(pk=metrics[0].pk)
    assert m.labels == {"host": 1, "core": 2}
    assert m.doc == {"a": 1, "b": {"c": "x"}, "arr": [5, 6]}
    assert m.at == datetime.datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert (m.ok, m.day, m.big, m.ubig) == (True, datetime.date(1950, 1, 2), -(2**100), 2**200)
    assert m.code == "abc"  # FixedString comes back as str (NUL padding removed)
    assert Metric.objects.get(pk=metrics[2].pk).doc is None


def test_map_lookups(metrics):
    q = Metric.objects.order_by("value")
    assert [m.value for m in q.filter(labels__has_key="core")] == [1.5]
    assert [m.value for m in q.filter(labels__len=0)] == [2.0]
    assert [m.value for m in q.filter(labels__host=2)] == [3.0]
    assert list(q.values_list("labels__host", flat=True)) == [1, 0, 2]  # missing key: 0
    assert sorted(q.filter(value=1.5).values_list("labels__keys", flat=True)[0]) == ["core", "host"]


def test_json_key_access(metrics):
    q = Metric.objects.order_by("value")
    assert [m.value for m in q.filter(doc__a=2)] == [3.0]
    assert [m.value for m in q.filter(doc__b__c="x")] == [1.5]
    assert [m.value for m in q.filter(doc__arr__1=6)] == [1.5]
    assert list(q.filter(doc__isnull=False).values_list("doc__a", flat=True)) == [1, 2]


def test_window_functions(metrics):
    rows = Metric.objects.annotate(
        rank=Window(Rank(), order_by=F("value").desc()),
        n=Window(RowNumber(), partition_by=[F("name")], order_by=F("value").asc()),
    ).order_by("value").values_list("value", "rank", "n")
    assert list(rows) == [(1.5, 3, 1), (2.0, 2, 1), (3.0, 1, 2)]


def test_lightweight_delete_and_update_mutation(metrics):
    conn = connections["embedded"]
    with CaptureQueriesContext(conn) as ctx:
        deleted, _ = Metric.objects.filter(name="mem").delete()
    assert deleted == 1
    assert any(q["sql"].startswith('DELETE FROM "modernapp_metric"') for q in ctx.captured_queries)
    assert Metric.objects.count() == 2
    with CaptureQueriesContext(conn) as ctx:
        assert Metric.objects.filter(name="cpu").update(value=F("value") * 2) == 2
    assert any(q["sql"].startswith('ALTER TABLE "modernapp_metric" UPDATE')
               for q in ctx.captured_queries)
    assert sorted(Metric.objects.values_list("value", flat=True)) == [3.0, 6.0]
    assert Metric.objects.filter(name="nothing").delete() == (0, {})


def test_skipping_indexes_and_check_constraint(metrics):
    conn = connections["embedded"]
    with conn.cursor() as cur:
        found = conn.introspection.get_constraints(cur, "modernapp_metric")
    assert found["value_minmax"]["type"] == "minmax" and found["value_minmax"]["columns"] == ["value"]
    assert found["name_set"]["type"] == "set" and found["value_nonneg"]["check"]
    with pytest.raises(DatabaseError, match="value_nonneg"):
        Metric.objects.create(name="bad", at=metrics[0].at, value=-1)


def test_functions_on_both_engines(db, edb):
    for alias in ("default", "embedded"):
        Plain.objects.using(alias).create(name="MiXed", value=-3)
        row = Plain.objects.using(alias).filter(name="MiXed").annotate(
            low=Lower("name"), up=Upper("name"), a=Abs("value"), i=StrIndex("name", dj.Value("X")),
        ).values_list("low", "up", "a", "i").get()
        assert row == ("mixed", "MIXED", 3, 3), alias
        # Pattern lookups against an expression: no LIKE with a column pattern.
        assert Plain.objects.using(alias).filter(name__icontains=Lower("name")).count() >= 1
        assert Plain.objects.using(alias).filter(name__regex="^Mi.e").count() == 1
        Plain.objects.using(alias).filter(name="MiXed").delete()


# ---- migration operations -----------------------------------------------------

def _apply(alias, state, operation, app="opsapp"):
    new = state.clone()
    operation.state_forwards(app, new)
    with connections[alias].schema_editor() as editor:
        operation.database_forwards(app, editor, state, new)
    return new


def _unapply(alias, before, after, operation, app="opsapp"):
    with connections[alias].schema_editor() as editor:
        operation.database_backwards(app, editor, after, before)


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_migration_operations(alias, request):
    conn = use_db(alias, request)
    table = "opsapp_pony_" + uuid.uuid4().hex[:6]
    state = ProjectState()
    create = ops.CreateModel("Pony", [
        ("id", dj.BigAutoField(primary_key=True)),
        ("name", models.StringField(default="")),
    ], options={"db_table": table, "engine": models.MergeTree(order_by="id")})
    state = _apply(alias, state, create)
    try:
        with conn.cursor() as cur:
            cur.execute('INSERT INTO "%s" (id, name) VALUES (1, \'a\')' % table)
        state = _apply(alias, state, ops.AddField("Pony", "weight", dj.IntegerField(default=3)))
        assert _column_types(alias, table)["weight"] == "Int32"
        with conn.cursor() as cur:
            cur.execute('INSERT INTO "%s" (id, name) VALUES (2, \'b\')' % table)
            cur.execute('SELECT id, weight FROM "%s" ORDER BY id' % table)
            # The default fills the existing rows and is not left on the column
            # (as on other databases: Django's default is applied by Django).
            assert cur.fetchall() == [(1, 3), (2, 0)]
            cur.execute("SELECT default_kind FROM system.columns WHERE database = "
                        "currentDatabase() AND table = %s AND name = 'weight'", [table])
            assert cur.fetchall() == [("",)]
        state = _apply(alias, state, ops.AlterField(
            "Pony", "weight", dj.BigIntegerField(null=True, db_comment="kg")))
        assert _column_types(alias, table)["weight"] == "Nullable(Int64)"
        # RENAME COLUMN (20.4+), or a rebuilt table on older servers.
        state = _apply(alias, state, ops.RenameField("Pony", "weight", "mass"))
        assert "mass" in _column_types(alias, table) and "weight" not in _column_types(
            alias, table)
        with conn.cursor() as cur:
            cur.execute('SELECT id, mass FROM "%s" ORDER BY id' % table)
            assert cur.fetchall() == [(1, 3), (2, 0)]
        field = "mass"
        state = _apply(alias, state, ops.RemoveField("Pony", field))
        assert field not in _column_types(alias, table)
        check = dj.CheckConstraint(condition=dj.Q(name__gt=""), name=table + "_name")
        if conn.features.supports_table_check_constraints:
            state = _apply(alias, state, ops.AddConstraint("Pony", check))
            with conn.cursor() as cur:
                assert check.name in conn.introspection.get_constraints(cur, table)
            state = _apply(alias, state, ops.RemoveConstraint("Pony", check.name))
        index = models.Index(fields=["name"], name=table + "_bf", type=models.BloomFilter(),
                             granularity=2)
        if conn.features.supports_data_skipping_indexes:
            state = _apply(alias, state, ops.AddIndex("Pony", index))
            with conn.cursor() as cur:
                assert index.name in conn.introspection.get_constraints(cur, table)
            state = _apply(alias, state, ops.RemoveIndex("Pony", index.name))
        else:
            with pytest.raises(NotSupportedError, match="skipping index"):
                _apply(alias, state, ops.AddIndex("Pony", index))
        renamed = table + "_r"
        state = _apply(alias, state, ops.AlterModelTable("Pony", renamed))
        with conn.cursor() as cur:
            assert renamed in conn.introspection.table_names(cur)
        table = renamed
        if conn.server_version >= (21, 6):  # MODIFY COMMENT
            state = _apply(alias, state, ops.AlterModelTableComment("Pony", "ponies"))
            with conn.cursor() as cur:
                cur.execute("SELECT comment FROM system.tables WHERE database = currentDatabase() "
                            "AND name = %s", [table])
                assert cur.fetchall() == [("ponies",)]
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS "%s"' % table)


def _rows(alias, table, columns):
    with _cursor(alias) as cur:
        cur.execute('SELECT %s FROM "%s" ORDER BY 1' % (columns, table))
        return cur.fetchall()


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_migration_alterations_and_model_operations(alias, request):
    """AlterField cases ClickHouse cannot do in place (key column type, primary
    key change, NULL to NOT NULL), RenameModel/DeleteModel and their backwards."""
    conn = use_db(alias, request)
    table = "opsapp_horse_" + uuid.uuid4().hex[:6]
    state = _apply(alias, ProjectState(), ops.CreateModel("Horse", [
        ("code", dj.IntegerField(primary_key=True)),
        ("name", dj.CharField(max_length=10, null=True)),
        ("n", dj.IntegerField(null=True)),
        ("slug", dj.CharField(max_length=10, default="")),
    ], options={"db_table": table}))
    names = [table]
    try:
        with conn.cursor() as cur:
            cur.execute('INSERT INTO "%s" (code, name, n, slug) VALUES (1, NULL, NULL, \'a\'), '
                        '(2, \'b\', 5, \'b\')' % table)
        # The sorting key column changes type: the table is rebuilt.
        state = _apply(alias, state, ops.AlterField(
            "Horse", "code", dj.BigIntegerField(primary_key=True)))
        assert _column_types(alias, table)["code"] == "Int64"
        assert _rows(alias, table, "code, name, n") == [(1, None, None), (2, "b", 5)]
        # NULLs replaced by the new default; no DEFAULT left on the column.
        state = _apply(alias, state, ops.AlterField(
            "Horse", "name", dj.CharField(max_length=10, default="x")))
        assert _column_types(alias, table)["name"] == "String"
        assert _rows(alias, table, "code, name") == [(1, "x"), (2, "b")]
        # No default and NULLs present: IntegrityError, the column unchanged.
        with pytest.raises(IntegrityError):
            _apply(alias, state, ops.AlterField("Horse", "n", dj.IntegerField()))
        assert _column_types(alias, table)["n"] == "Nullable(Int32)"
        # Another column becomes the primary key (the sorting key follows).
        state = _apply(alias, state, ops.AlterField(
            "Horse", "code", dj.BigIntegerField()))
        state = _apply(alias, state, ops.AlterField(
            "Horse", "slug", dj.CharField(max_length=10, primary_key=True)))
        with conn.cursor() as cur:
            assert conn.introspection.get_primary_key_columns(cur, table) == ["slug"]
        assert _rows(alias, table, "slug, code") == [("a", 1), ("b", 2)]
        # RenameModel (the table follows the model name), backwards, DeleteModel.
        state = _apply(alias, state, ops.AlterModelTable("Horse", None))
        table = "opsapp_horse"
        names.append(table)
        rename = ops.RenameModel("Horse", "Pony")
        renamed = _apply(alias, state, rename)
        names.append("opsapp_pony")
        with conn.cursor() as cur:
            tables = conn.introspection.table_names(cur)
        assert "opsapp_pony" in tables and table not in tables
        assert _rows(alias, "opsapp_pony", "slug") == [("a",), ("b",)]
        _unapply(alias, state, renamed, rename)
        delete = ops.DeleteModel("Horse")
        gone = _apply(alias, state, delete)
        with conn.cursor() as cur:
            assert table not in conn.introspection.table_names(cur)
            with pytest.raises(DatabaseError):
                conn.introspection.get_table_description(cur, table)
        _unapply(alias, state, gone, delete)  # backwards: created again, empty
        assert _rows(alias, table, "slug") == []
    finally:
        with conn.cursor() as cur:
            for name in names:
                cur.execute('DROP TABLE IF EXISTS "%s"' % name)


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_rename_m2m_target_renames_through_columns(alias, request):
    """RenameModel of a many-to-many target renames the through table's column
    (RENAME COLUMN, or a rebuilt table before 20.4), keeping the rows."""
    conn = use_db(alias, request)
    app = "m2mapp" + uuid.uuid4().hex[:6]
    state = ProjectState()
    for op in (ops.CreateModel("Rider", [("id", dj.BigAutoField(primary_key=True))]),
               ops.CreateModel("Pony", [("id", dj.BigAutoField(primary_key=True)),
                                        ("riders", dj.ManyToManyField("Rider"))])):
        state = _apply(alias, state, op, app=app)
    through = "%s_pony_riders" % app
    try:
        with conn.cursor() as cur:
            cur.execute('INSERT INTO "%s" (id, pony_id, rider_id) VALUES (1, 10, 20)' % through)
        state = _apply(alias, state, ops.RenameModel("Rider", "Jockey"), app=app)
        assert set(_column_types(alias, through)) == {"id", "pony_id", "jockey_id"}
        assert _rows(alias, through, "id, pony_id, jockey_id") == [(1, 10, 20)]
    finally:
        with conn.cursor() as cur:
            for name in ("rider", "jockey", "pony", "pony_riders"):
                cur.execute('DROP TABLE IF EXISTS "%s_%s"' % (app, name))


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_alter_field_comment_and_default_removed(alias, request):
    conn = use_db(alias, request)
    table = "opsapp_cmt_" + uuid.uuid4().hex[:6]
    comments = conn.features.supports_comments
    state = _apply(alias, ProjectState(), ops.CreateModel("Cmt", [
        ("id", dj.BigAutoField(primary_key=True)),
        ("v", dj.IntegerField(db_default=7, db_comment="note")),
    ], options={"db_table": table}))
    try:
        with conn.cursor() as cur:
            cur.execute('INSERT INTO "%s" (id) VALUES (1)' % table)
        state = _apply(alias, state, ops.AlterField("Cmt", "v", dj.IntegerField()))
        with conn.cursor() as cur:
            cur.execute("SELECT default_kind, %s FROM system.columns WHERE database = "
                        "currentDatabase() AND table = %%s AND name = 'v'"
                        % ("comment" if comments else "''"), [table])
            assert cur.fetchall() == [("", "")]
        assert _rows(alias, table, "id, v") == [(1, 7)]
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS "%s"' % table)


def test_distributed_and_on_cluster_ddl_text(db):
    from django.apps.registry import Apps

    class Local(models.ClickhouseModel):
        name = models.StringField()

        class Meta:
            app_label = "testapp"
            apps = Apps()
            cluster = "c1"
            engine = models.ReplicatedMergeTree("/clickhouse/tables/{shard}/local", "{replica}",
                                                order_by="id")

    class Dist(models.ClickhouseModel):
        name = models.StringField()

        class Meta:
            app_label = "testapp"
            apps = Apps()
            cluster = "c1"
            engine = models.Distributed("c1", "db1", "testapp_local", "rand()")

    editor = connections["default"].schema_editor(collect_sql=True)
    editor.create_model(Local)
    editor.create_model(Dist)
    editor.add_field(Local, _named(models.Int32Field(default=1), "n", Local))
    editor.delete_model(Dist)
    sql = editor.collected_sql
    assert sql[0].startswith('CREATE TABLE "testapp_local" ON CLUSTER "c1" (')
    assert ("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/local', '{replica}') "
            'ORDER BY "id"') in sql[0]
    assert "ENGINE = Distributed('c1', 'db1', 'testapp_local', rand())" in sql[1]
    assert sql[2].startswith('ALTER TABLE "testapp_local" ON CLUSTER "c1" ADD COLUMN "n" Int32')
    assert sql[3].startswith('DROP TABLE "testapp_dist" ON CLUSTER "c1"')


def _named(field, name, model):
    field.set_attributes_from_name(name)
    field.model = model
    return field


# ---- management commands, logging, time zones ---------------------------------

@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_flush_command_empties_tables(alias, request):
    use_db(alias, request)
    Plain.objects.using(alias).create(name="to-flush")
    call_command("flush", database=alias, interactive=False, verbosity=0)
    assert Plain.objects.using(alias).count() == 0


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_inspectdb_generates_importable_models(alias, request):
    conn = use_db(alias, request)
    table = "insp_" + uuid.uuid4().hex[:6]
    with conn.cursor() as cur:
        cur.execute('CREATE TABLE "%s" (id Int64, name String, n Nullable(Int32), '
                    'price Decimal(10, 2), day Date, at DateTime, u UUID, tags Array(String), '
                    'code FixedString(2)) ENGINE = MergeTree ORDER BY id' % table)
    try:
        out = io.StringIO()
        call_command("inspectdb", table, database=alias, stdout=out)
        text = out.getvalue()
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE "%s"' % table)
    assert "id = models.BigIntegerField(primary_key=True)" in text
    assert "n = models.IntegerField(blank=True, null=True)" in text
    assert "price = models.DecimalField(max_digits=10, decimal_places=2)" in text
    assert "day = models.DateField()" in text and "u = models.UUIDField()" in text
    compile(text, "inspectdb", "exec")  # valid Python


def test_dbshell_arguments_and_embedded_error(db):
    from django.core.management.base import CommandError

    from clickhouse_backend.backend.client import DatabaseClient
    args, env = DatabaseClient.settings_to_cmd_args_env(
        {"HOST": "h", "PORT": 8123, "NAME": "d", "USER": "u", "PASSWORD": "p",
         "OPTIONS": {"native_port": 9440, "secure": True}}, ["--query", "SELECT 1"])
    assert args == ["clickhouse-client", "--host", "h", "--port", "9440", "--user", "u",
                    "--database", "d", "--secure", "--password", "p", "--query", "SELECT 1"]
    with pytest.raises(CommandError, match="embedded"):
        DatabaseClient.settings_to_cmd_args_env({"OPTIONS": {"embedded": True}}, [])


@pytest.mark.skipif(not os.environ.get("CLICKHOUSE_TCP_PORT"),
                    reason="CLICKHOUSE_TCP_PORT (native port of the test server) not set")
def test_dbshell_runs_clickhouse_client(db, capfd):
    conn = connections["default"]
    options = conn.settings_dict["OPTIONS"]
    options["native_port"] = int(os.environ["CLICKHOUSE_TCP_PORT"])
    try:
        call_command("dbshell", "--", "--query", "SELECT currentDatabase(), 6 * 7")
    finally:
        del options["native_port"]
    assert capfd.readouterr().out.split() == [conn.settings_dict["NAME"], "42"]


def test_sql_logged_with_timings(db):
    conn = connections["default"]
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("django.db.backends")
    handler = Keep(level=logging.DEBUG)
    logger.addHandler(handler)
    conn.force_debug_cursor = True
    try:
        list(Plain.objects.filter(name="logged", value=5))
    finally:
        conn.force_debug_cursor = False
        logger.removeHandler(handler)
    rec = [r for r in records if "testapp_plain" in getattr(r, "sql", "")][-1]
    assert isinstance(rec.duration, float) and rec.duration >= 0
    assert "'logged'" in rec.sql and "= 5" in rec.sql and rec.alias == "default"


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_use_tz_off_and_column_timezones(alias, request):
    conn = use_db(alias, request)
    naive = datetime.datetime(2021, 6, 1, 8, 30, 0)
    with override_settings(USE_TZ=False):
        p = Plain.objects.using(alias).create(name="naive", stamp=naive)
        assert Plain.objects.using(alias).get(pk=p.pk).stamp == naive
        with pytest.raises(ValueError, match="timezone-aware"):
            Plain.objects.using(alias).create(name="aware", stamp=naive.replace(tzinfo=UTC))
    # USE_TZ on: the same stored value reads as that instant in UTC.
    assert Plain.objects.using(alias).get(pk=p.pk).stamp == naive.replace(tzinfo=UTC)
    Plain.objects.using(alias).filter(pk=p.pk).delete()

    # A column in another time zone: the instant is kept, returned in UTC.
    table = "tzcol_" + uuid.uuid4().hex[:6]
    with conn.cursor() as cur:
        cur.execute('CREATE TABLE "%s" (id Int64, at DateTime(\'Asia/Tokyo\')) '
                    'ENGINE = MergeTree ORDER BY id' % table)
        cur.execute("INSERT INTO \"%s\" VALUES (1, toDateTime('2021-06-01 17:30:00', "
                    "'Asia/Tokyo'))" % table)

    class TzRow(dj.Model):
        at = dj.DateTimeField()

        class Meta:
            app_label = "testapp"
            db_table = table
            managed = False
            apps = __import__("django.apps.registry", fromlist=["Apps"]).Apps()

    try:
        assert TzRow.objects.using(alias).get(pk=1).at == datetime.datetime(2021, 6, 1, 8, 30, tzinfo=UTC)
        with override_settings(USE_TZ=False):
            assert TzRow.objects.using(alias).get(pk=1).at == naive
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE "%s"' % table)


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_bulk_create_with_db_default(alias, request):
    use_db(alias, request)
    objs = Plain.objects.using(alias).bulk_create(
        [Plain(name="bd1"), Plain(name="bd2", counter=9)])
    assert [o.counter for o in objs] == [7, 9]
    assert dict(Plain.objects.using(alias).filter(name__startswith="bd")
                .values_list("name", "counter")) == {"bd1": 7, "bd2": 9}
    Plain.objects.using(alias).filter(name__startswith="bd").delete()


# ---- snowflake ids ----------------------------------------------------------------

_ids = iter(range(10**15, 10**15 + 100))


class CountingWorker:
    def get_id(self):
        return next(_ids)


counting_worker = CountingWorker()


def test_configured_id_worker_is_used(db):
    with override_settings(CLICKHOUSE_ID_WORKER="tests.backend.test_features.counting_worker"):
        p = Plain.objects.create(name="custom-id")
    assert 10**15 <= p.pk < 10**15 + 100
    assert Plain.objects.get(pk=p.pk).name == "custom-id"
    Plain.objects.filter(pk=p.pk).delete()


def test_datacenter_and_worker_env(monkeypatch):
    from clickhouse_backend.utils import snowflake
    monkeypatch.setenv("CLICKHOUSE_DATACENTER_ID", "3")
    monkeypatch.setenv("CLICKHOUSE_WORKER_ID", "5")
    g = snowflake.SnowflakeGenerator()
    assert snowflake.SnowflakeGenerator.parse(g.next_id())[1] == (3 << 5) | 5
    monkeypatch.setenv("CLICKHOUSE_WORKER_ID", "40")
    with pytest.raises(ValueError, match="CLICKHOUSE_WORKER_ID"):
        snowflake.SnowflakeGenerator()


def test_django_jsonfield_key_lookups(db, edb):
    conn = connections["default"]
    aliases = ["embedded"] + (["default"] if conn.features.supports_json_functions else [])
    for alias in aliases:
        objs = Plain.objects.using(alias)
        objs.create(name="j1", data={"a": 1, "b": {"c": "x"}, "l": [10, 20]})
        objs.create(name="j2", data={"a": "1", "k": None})
        objs.create(name="j3", data=None)
        q = objs.filter(name__startswith="j").order_by("name")
        assert list(q.filter(data__a=1).values_list("name", flat=True)) == ["j1"], alias
        assert list(q.filter(data__a="1").values_list("name", flat=True)) == ["j2"], alias
        assert list(q.filter(data__b__c="x").values_list("name", flat=True)) == ["j1"]
        assert list(q.filter(data__l__1=20).values_list("name", flat=True)) == ["j1"]
        assert list(q.filter(data__has_key="k").values_list("name", flat=True)) == ["j2"]
        assert list(q.filter(data__has_keys=["a", "b"]).values_list("name", flat=True)) == ["j1"]
        assert list(q.filter(data__has_any_keys=["k", "l"]).values_list("name", flat=True)) \
            == ["j1", "j2"]
        assert list(q.values_list("data__b", flat=True)) == [{"c": "x"}, None, None]
        assert list(q.filter(data__b__c__startswith="x").values_list("name", flat=True)) == ["j1"]
        q.delete()
    if not conn.features.supports_json_functions:
        with pytest.raises(NotSupportedError, match="19.4"):
            list(Plain.objects.filter(data__a=1))


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_expressions_temporal_subtraction_decimal_float_and_empty_aggregates(alias, request):
    from django.db.models import Avg, DurationField, ExpressionWrapper, FloatField, Sum
    use_db(alias, request)
    objs = Plain.objects.using(alias)
    t0 = datetime.datetime(2022, 1, 1, 10, 0, 0, tzinfo=UTC)
    p = objs.create(name="expr", amount=decimal.Decimal("2.50"), day=datetime.date(2022, 1, 11),
                    stamp=t0 + datetime.timedelta(hours=5, seconds=3))
    row = objs.filter(pk=p.pk).annotate(
        days=ExpressionWrapper(F("day") - dj.Value(datetime.date(2022, 1, 1)),
                               output_field=DurationField()),
        since=ExpressionWrapper(F("stamp") - dj.Value(t0), output_field=DurationField()),
        mixed=ExpressionWrapper(F("amount") * dj.Value(1.5), output_field=FloatField()),
    ).values_list("days", "since", "mixed").get()
    assert row == (datetime.timedelta(days=10), datetime.timedelta(hours=5, seconds=3), 3.75)
    # NULL over no rows on every server (emulated before 21.x).
    empty = objs.filter(name="no such row").aggregate(s=Sum("value"), a=Avg("value"))
    assert empty == {"s": None, "a": None}
    p.delete()


def test_union_with_ordering_and_limit(db, edb):
    for alias in ("default", "embedded"):
        o = Plain.objects.using(alias)
        for i in (1, 2, 3):
            o.create(name="u%d" % i, value=i)
        a = o.filter(name__startswith="u", value__lte=1).values_list("name", "value")
        b = o.filter(name__startswith="u", value__gte=2).values_list("name", "value")
        assert list(a.union(b, all=True).order_by("-value")) == [("u3", 3), ("u2", 2), ("u1", 1)]
        assert list(a.union(b, all=True).order_by("value")[:2]) == [("u1", 1), ("u2", 2)]
        if connections[alias].features.supports_union_distinct:
            assert sorted(a.union(a, b)) == [("u1", 1), ("u2", 2), ("u3", 3)]
        else:
            with pytest.raises(NotSupportedError, match="UNION DISTINCT"):
                list(a.union(b))
        o.filter(name__startswith="u").delete()


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_duration_arithmetic_and_substr(alias, request):
    from django.db.models import ExpressionWrapper, DateTimeField
    from django.db.models.functions import Left, Right, Substr
    use_db(alias, request)
    objs = Plain.objects.using(alias)
    t0 = datetime.datetime(2022, 1, 1, 10, 0, 0, tzinfo=UTC)
    p = objs.create(name="abcdef", stamp=t0)
    row = objs.filter(pk=p.pk).annotate(
        later=ExpressionWrapper(F("stamp") + datetime.timedelta(hours=2, seconds=5),
                                output_field=DateTimeField()),
        tail=Substr("name", 3), left=Left("name", 2), right=Right("name", 2),
    ).values_list("later", "tail", "left", "right").get()
    assert row == (t0 + datetime.timedelta(hours=2, seconds=5), "cdef", "ab", "ef")
    p.delete()


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_integer_division_in_annotations_and_updates(alias, request):
    use_db(alias, request)
    objs = Plain.objects.using(alias)
    p = objs.create(name="div", value=-7)
    assert objs.filter(pk=p.pk).annotate(h=F("value") / 2).values_list("h", flat=True).get() == -3
    assert objs.filter(pk=p.pk).update(value=F("value") / 2) == 1  # a Float64 into Int32
    assert objs.get(pk=p.pk).value == -3
    p.delete()


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_decimal_lookups_are_exact(alias, request):
    use_db(alias, request)
    objs = Plain.objects.using(alias)
    p = objs.create(name="dec", amount=decimal.Decimal("0.30"))
    q = objs.filter(name="dec")
    assert q.filter(amount=decimal.Decimal("0.3")).count() == 1
    assert q.filter(amount="0.30").count() == 1
    assert q.filter(amount__in=[decimal.Decimal("0.1"), decimal.Decimal("0.3")]).count() == 1
    assert q.filter(amount__range=(decimal.Decimal("0.29"), decimal.Decimal("0.31"))).count() == 1
    assert q.filter(amount__gt=decimal.Decimal("0.30")).count() == 0
    p.delete()


def _dynamic_model(name, fields, **meta):
    from django.apps.registry import Apps
    attrs = {"__module__": __name__, **fields,
             "Meta": type("Meta", (), {"app_label": "testapp", "apps": Apps(),
                                       "db_table": "dyn_%s_%s" % (name.lower(), uuid.uuid4().hex[:6]),
                                       **meta})}
    return type(name, (models.ClickhouseModel,), attrs)


ENGINES = [
    ("MergeTree", lambda: models.MergeTree(order_by="id", partition_by="key")),
    ("ReplacingMergeTree", lambda: models.ReplacingMergeTree("ver", order_by="id")),
    ("SummingMergeTree", lambda: models.SummingMergeTree(order_by="id")),
    ("AggregatingMergeTree", lambda: models.AggregatingMergeTree(order_by="id")),
    ("CollapsingMergeTree", lambda: models.CollapsingMergeTree("sign", order_by="id")),
    ("VersionedCollapsingMergeTree",
     lambda: models.VersionedCollapsingMergeTree("sign", "ver", order_by="id")),
    ("Memory", models.Memory), ("Log", models.Log), ("TinyLog", models.TinyLog),
    ("StripeLog", models.StripeLog),
]


@pytest.mark.parametrize("alias", ["default", "embedded"])
@pytest.mark.parametrize("engine_name,make", ENGINES, ids=[e[0] for e in ENGINES])
def test_engines_create_insert_select(alias, engine_name, make, request):
    conn = use_db(alias, request)
    Model = _dynamic_model(engine_name, {
        "key": models.UInt8Field(default=1), "ver": models.UInt32Field(default=1),
        "sign": models.Int8Field(default=1), "name": models.StringField(default="")},
        engine=make())
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT engine FROM system.tables WHERE database = currentDatabase() "
                        "AND name = %s", [Model._meta.db_table])
            assert cur.fetchall() == [(engine_name,)]
        Model.objects.using(alias).bulk_create([Model(name="a"), Model(name="b", key=2)])
        assert sorted(Model.objects.using(alias).values_list("name", flat=True)) == ["a", "b"]
        assert Model.objects.using(alias).filter(key=2).get().name == "b"
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


def test_graphite_merge_tree_rolls_up(db):
    # tests/server/ctl.sh gives the server a `graphite_rollup` section: avg per minute
    Model = _dynamic_model("Graphite", {
        "Path": models.StringField(), "Time": models.DateTimeField(),
        "Value": models.Float64Field(), "Timestamp": models.UInt32Field(default=0)},
        engine=models.GraphiteMergeTree("graphite_rollup", order_by=("Path", "Time")))
    conn = connections["default"]
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT engine FROM system.tables WHERE database = currentDatabase() "
                        "AND name = %s", [Model._meta.db_table])
            assert cur.fetchall() == [("GraphiteMergeTree",)]
        t0 = datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
        Model.objects.bulk_create([
            Model(Path="cpu", Time=t0 + datetime.timedelta(seconds=s), Value=v, Timestamp=1)
            for s, v in ((1, 1.0), (20, 2.0), (40, 6.0))])
        with conn.cursor() as cur:
            cur.execute('OPTIMIZE TABLE "%s" FINAL' % Model._meta.db_table)
        # the three points of one minute are rolled up into their average
        assert list(Model.objects.values_list("Time", "Value")) == [(t0, 3.0)]
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


def test_null_engine_discards_rows(db):
    Model = _dynamic_model("Sink", {"name": models.StringField()}, engine=models.Null())
    with connections["default"].schema_editor() as editor:
        editor.create_model(Model)
    try:
        Model.objects.create(name="gone")
        assert Model.objects.count() == 0
    finally:
        with connections["default"].schema_editor() as editor:
            editor.delete_model(Model)


def test_every_skipping_index_type(edb):
    conn = connections["embedded"]
    indexes = [
        models.Index(fields=["name"], name="i_minmax", type=models.MinMax(), granularity=1),
        models.Index(fields=["name"], name="i_set", type=models.Set(0), granularity=1),
        models.Index(fields=["name"], name="i_bf", type=models.BloomFilter(0.025), granularity=1),
        models.Index(fields=["name"], name="i_ngram", type=models.NgrambfV1(3, 256, 2, 0),
                     granularity=1),
        models.Index(fields=["name"], name="i_token", type=models.TokenbfV1(256, 2, 0),
                     granularity=1),
    ]
    Model = _dynamic_model("Indexed", {"name": models.StringField(default="")},
                           engine=models.MergeTree(order_by="id"), indexes=indexes)
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    try:
        with conn.cursor() as cur:
            found = conn.introspection.get_constraints(cur, Model._meta.db_table)
        assert {n: found[n]["type"] for n in ("i_minmax", "i_set", "i_bf", "i_ngram", "i_token")} \
            == {"i_minmax": "minmax", "i_set": "set", "i_bf": "bloom_filter",
                "i_ngram": "ngrambf_v1", "i_token": "tokenbf_v1"}
        Model.objects.using("embedded").bulk_create([Model(name="hello world"), Model(name="x")])
        assert Model.objects.using("embedded").filter(name__contains="world").count() == 1
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_time_functions_and_offset_time_zones(alias, request):
    from django.db.models import TimeField
    import zoneinfo

    from django.db.models.functions import Cast, ExtractHour, TruncHour, TruncMinute, TruncTime
    use_db(alias, request)
    objs = Plain.objects.using(alias)
    stamp = datetime.datetime(2022, 3, 4, 14, 25, 36, tzinfo=UTC)
    p = objs.create(name="times", stamp=stamp)
    row = objs.filter(pk=p.pk).annotate(
        t=TruncTime("stamp"), c=Cast("stamp", TimeField()),
        tm=TruncMinute("stamp", output_field=dj.DateTimeField()),
        h5=ExtractHour("stamp", tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
        hk=TruncHour("stamp", tzinfo=zoneinfo.ZoneInfo("Asia/Kolkata")),
    ).values_list("t", "c", "tm", "h5", "hk").get()
    assert row[:4] == (datetime.time(14, 25, 36), datetime.time(14, 25, 36),
                       stamp.replace(second=0), 19)
    # 14:25 UTC is 19:55 in Kolkata: truncated there, 19:00 (13:30 UTC).
    assert row[4] == datetime.datetime(2022, 3, 4, 13, 30, tzinfo=UTC)
    assert str(row[4].tzinfo) == "Asia/Kolkata"
    p.delete()


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_introspected_default_is_the_value(alias, request):
    """18.16 stores DEFAULT 1988 as CAST(1988, 'Int32'): introspection gives 1988."""
    conn = use_db(alias, request)
    table = "intro_dflt_" + uuid.uuid4().hex[:6]
    with conn.cursor() as cur:
        cur.execute('CREATE TABLE "%s" (id Int64, y Int32 DEFAULT 1988) ENGINE = MergeTree '
                    'ORDER BY id' % table)
        try:
            desc = {f.name: f for f in conn.introspection.get_table_description(cur, table)}
        finally:
            cur.execute('DROP TABLE "%s"' % table)
    assert desc["y"].default == "1988" and desc["id"].default is None


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_engine_change_is_a_migration(alias, request):
    """A changed Meta.engine is detected (AlterModelOptions) and applied: new
    settings with MODIFY SETTING (20.1+), anything else by rebuilding the table."""
    from django.db.migrations.autodetector import MigrationAutodetector

    conn = use_db(alias, request)
    table = "opsapp_eng_" + uuid.uuid4().hex[:6]

    def model_state(engine):
        return ModelState("opsapp", "Eng", [
            ("id", dj.BigAutoField(primary_key=True)),
            ("day", dj.DateField()),
        ], options={"db_table": table, "engine": engine})

    def key(cur):
        cur.execute("SELECT sorting_key, engine_full FROM system.tables WHERE database = "
                    "currentDatabase() AND name = %s", [table]) if conn.server_version >= (
            20, 1) else cur.execute("SELECT '', engine_full FROM system.tables WHERE "
                                    "database = currentDatabase() AND name = %s", [table])
        return cur.fetchone()

    first = models.MergeTree(order_by="id", settings={"index_granularity": 1024})
    before = ProjectState()
    before.add_model(model_state(first))
    state = _apply(alias, ProjectState(), ops.CreateModel(
        "Eng", list(model_state(first).fields.items()), options=model_state(first).options))
    try:
        with conn.cursor() as cur:
            cur.execute('INSERT INTO "%s" (id, day) VALUES (1, \'2024-01-02\')' % table)
        for engine in (models.MergeTree(order_by="id", settings={
                           "index_granularity": 1024, "parts_to_throw_insert": 500}),
                       models.MergeTree(order_by=("day", "id"), partition_by="day")):
            after = ProjectState()
            after.add_model(model_state(engine))
            changes = MigrationAutodetector(before, after)._detect_changes()
            [operation] = changes["opsapp"][0].operations
            assert isinstance(operation, ops.AlterModelOptions)
            assert operation.options["engine"] == engine
            state = _apply(alias, state, operation)
            before = after
            with conn.cursor() as cur:
                sorting_key, engine_full = key(cur)
            if "partition_by" not in repr(engine):
                assert "parts_to_throw_insert = 500" in engine_full
            else:
                assert "PARTITION BY day" in engine_full and "ORDER BY (day, id)" in engine_full
        assert _rows(alias, table, "id, toString(day)") == [(1, "2024-01-02")]
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS "%s"' % table)
