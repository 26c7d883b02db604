"""Django-level tests of the ClickHouse backend against the dev server."""
import datetime
import decimal
import threading
import uuid
import warnings

import pytest
from django.apps.registry import Apps
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.db import NotSupportedError, connection
from django.db.models import Count, Max, Sum

from clickhouse_backend import models
from clickhouse_backend.backend.base import DatabaseWrapper
from clickhouse_backend.utils.snowflake import SnowflakeGenerator, next_id
from tests.backend.testapp.models import Event, Numbers, Plain


def _settings(**extra):
    server = django_settings.DATABASES["default"]
    return {"ENGINE": "clickhouse_backend.backend", "NAME": "default", "HOST": server["HOST"],
            "PORT": server["PORT"], "USER": server["USER"], "PASSWORD": server["PASSWORD"],
            "OPTIONS": {}, "TEST": {},
            "ATOMIC_REQUESTS": False, "AUTOCOMMIT": True, "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False, "TIME_ZONE": None, **extra}


# ---- configuration -----------------------------------------------------------

def test_unknown_option_is_improperly_configured():
    with pytest.raises(ImproperlyConfigured, match="bogus"):
        DatabaseWrapper(_settings(OPTIONS={"bogus": 1}))


def test_unknown_test_key_is_improperly_configured():
    with pytest.raises(ImproperlyConfigured, match="nope"):
        DatabaseWrapper(_settings(TEST={"nope": 1}))


def test_default_ports():
    w = DatabaseWrapper(_settings(PORT=None))
    assert w.get_connection_params()["port"] == 8123
    w = DatabaseWrapper(_settings(PORT=None, OPTIONS={"secure": True}))
    assert w.get_connection_params()["port"] == 8443
    w = DatabaseWrapper(_settings(OPTIONS={"connections_max": 4}))
    assert w.get_connection_params()["pool_size"] == 4


def test_every_option_passed_on_is_one_the_driver_knows():
    # OPTIONS["ciphers"] was documented and accepted here, then refused by connect()
    import dataclasses

    from clickhouse_backend.backend.base import OPTION_NAMES
    from clickhouse_backend.driver.config import Options

    known = {f.name for f in dataclasses.fields(Options)} | {"dsn", "connections_max"}
    assert {v for v in OPTION_NAMES.values() if v} - known == set()


def test_ciphers_option_reaches_the_tls_handshake():
    import json
    import os

    tls_dir, nginx_port = os.environ.get("CHB_TLS_DIR"), os.environ.get("CHB_NGINX_H1TLS_PORT")
    if not tls_dir or not nginx_port:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            "needs the TLS front scripts/test.sh starts (CHB_TLS_DIR)")
    with open(os.environ["CHB_NGINX_ACCESS_LOG"]) as f:
        since = len(f.readlines())
    w = DatabaseWrapper(_settings(HOST="127.0.0.1", PORT=int(nginx_port), OPTIONS={
        "secure": True, "ca_certs": os.path.join(tls_dir, "ca.pem"),
        "ciphers": "TLS_CHACHA20_POLY1305_SHA256"}))
    with w.cursor() as cur:
        cur.execute("SELECT 7")
        assert cur.fetchone() == (7,)
    w.close()
    with open(os.environ["CHB_NGINX_ACCESS_LOG"]) as f:
        seen = {json.loads(x)["ssl_cipher"] for x in f.readlines()[since:] if x.strip()}
    assert seen == {"TLS_CHACHA20_POLY1305_SHA256"}


def test_host_list_in_django_host_fails_over():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()  # nothing listens there
    live = DatabaseWrapper(_settings()).get_connection_params()
    w = DatabaseWrapper(_settings(HOST=f"127.0.0.1:{dead},{live['host']}:{live['port']}",
                                  OPTIONS={"load_balancing": "in_order"}))
    with w.cursor() as cur:
        cur.execute("SELECT 7")
        assert cur.fetchone() == (7,)
    stats = w.connection.host_stats()
    assert [(h["port"], h["failures"]) for h in stats] == [(dead, 1), (live["port"], 0)]
    w.close()


def test_unsupported_option_settings_dropped_with_warning(clickhouse_url):
    w = DatabaseWrapper(_settings(OPTIONS={"settings": {"mutations_sync": 2, "max_threads": 2,
                                                        "no_such_setting_xyz": 1}}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with w.cursor() as cur:
            cur.execute("SELECT version()")
            assert cur.fetchone()[0]
            cur.execute("SELECT value FROM system.settings WHERE name = 'max_threads'")
            assert cur.fetchone()[0] == "2"
    assert "no_such_setting_xyz" in w.dropped_settings
    assert "max_threads" in w.effective_settings
    assert any("no_such_setting_xyz" in str(c.message) for c in caught)
    if w.server_version < (19, 12):  # no mutations_sync on the server
        assert "mutations_sync" in w.dropped_settings
    w.close()


# ---- SQL generation (no database needed) -------------------------------------

class _Offline:
    def __init__(self, version):
        self.version = version

    def __enter__(self):
        self.saved = connection.__dict__.get("_server_version_override")
        connection.server_version = self.version
        return connection

    def __exit__(self, *exc):
        connection.server_version = self.saved


def _create_sql(model, version):
    with _Offline(version):
        editor = connection.schema_editor(collect_sql=True)
        return editor.table_sql(model)[0]


def test_create_table_sql_18_16():
    sql = _create_sql(Event, (18, 16, 1))
    assert sql.startswith('CREATE TABLE "testapp_event" (')
    assert '"id" Int64' in sql and '"timestamp" DateTime(\'UTC\')' in sql
    assert '"protocol" String' in sql and "LowCardinality" not in sql
    assert '"note" Nullable(String)' in sql
    assert "\"action\" Enum16('Pass' = 1, 'Drop' = 2, 'Alert' = 3)" in sql
    assert ('ENGINE = MergeTree() PARTITION BY toYYYYMM("timestamp") '
            'ORDER BY ("timestamp", "id") SETTINGS index_granularity = 1024') in sql


def test_create_table_sql_modern():
    sql = _create_sql(Event, (24, 8))
    assert '"protocol" LowCardinality(String)' in sql
    assert '"ip" IPv6' in sql and '"ipv4" IPv4' in sql
    assert "\"created_at\" DateTime64(6, 'UTC')" in sql
    sql = _create_sql(Plain, (24, 8))
    assert '"flag" Bool' in sql and '"day" Nullable(Date32)' in sql
    assert '"counter" Int32 DEFAULT 7' in sql
    assert "ORDER BY \"id\"" in sql


def test_engines_and_indexes_sql():
    class Idx(models.ClickhouseModel):
        name = models.StringField()
        ver = models.UInt32Field()
        sign = models.Int8Field()

        class Meta:
            app_label = "testapp"
            apps = Apps()  # keep it out of the project's registry
            engine = models.ReplicatedVersionedCollapsingMergeTree(
                "/clickhouse/tables/{shard}/idx", "{replica}", "sign", "ver",
                order_by="name", sample_by=None)
            indexes = [models.Index(fields=["name"], name="name_bf",
                                    type=models.BloomFilter(0.01), granularity=4)]
            constraints = [__import__("django.db.models", fromlist=["x"]).CheckConstraint(
                condition=__import__("django.db.models", fromlist=["x"]).Q(ver__gte=1),
                name="ver_pos")]

    sql = _create_sql(Idx, (24, 8))
    assert ("ENGINE = ReplicatedVersionedCollapsingMergeTree('/clickhouse/tables/{shard}/idx', "
            "'{replica}', \"sign\", \"ver\") ORDER BY \"name\"") in sql
    assert 'INDEX "name_bf" "name" TYPE bloom_filter(0.01) GRANULARITY 4' in sql
    assert 'CONSTRAINT "ver_pos" CHECK ("ver" >= 1)' in sql
    with pytest.raises(NotSupportedError, match="skipping index"):
        _create_sql(Idx, (18, 16, 1))


def test_engine_argument_validation_and_deconstruct():
    with pytest.raises(TypeError):
        models.CollapsingMergeTree()
    e = models.Distributed("c", "db", "t", "rand()")
    path, args, kwargs = e.deconstruct()
    assert path == "clickhouse_backend.models.Distributed" and args == ("c", "db", "t", "rand()")
    assert models.MergeTree(order_by=["a"]) == models.MergeTree(order_by=("a",))


def test_django_index_skipped_with_hint(caplog):
    from django.db.models import Index
    with _Offline((24, 8)):
        editor = connection.schema_editor(collect_sql=True)
        with caplog.at_level("WARNING", logger="django.db.backends.schema"):
            editor.add_index(Plain, Index(fields=["name"], name="n_idx"))
    assert editor.collected_sql == []
    assert "n_idx" in caplog.text and "data skipping" in caplog.text


# ---- snowflake ids ----------------------------------------------------------

def test_snowflake_unique_and_increasing_across_threads():
    out = []
    lock = threading.Lock()

    def work():
        ids = [next_id() for _ in range(5000)]
        with lock:
            out.extend(ids)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 20000
    assert all(0 < i < 2**63 for i in out)


def test_snowflake_sequence_overflow_and_clock_backwards():
    clock = [10**12 + 5]
    g = SnowflakeGenerator(worker_id=7, clock=lambda: clock[0])
    ids = [g.next_id() for _ in range(5000)]  # > 4096 in one millisecond
    assert ids == sorted(ids) and len(set(ids)) == 5000
    clock[0] -= 100  # clock jumps back
    later = g.next_id()
    assert later > ids[-1]
    assert SnowflakeGenerator.parse(later)[1] == 7


# ---- against the server ----------------------------------------------------------

def test_select_version(db):
    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        assert cur.fetchone()[0].count(".") >= 2


def test_crud_roundtrip(db):
    e = Event.objects.create(ip="1.2.3.4", port=80, protocol="http", tags=["a", "b"])
    assert e.pk and e.pk > 0
    got = Event.objects.get(pk=e.pk)
    assert (got.ip, got.port, got.protocol, got.action, got.tags, got.note) == \
        ("1.2.3.4", 80, "http", 1, ["a", "b"], None)
    assert got.timestamp.tzinfo is not None
    Event.objects.bulk_create([Event(port=i, action=2 if i % 2 else 3, tags=[str(i)])
                               for i in range(10)])
    assert Event.objects.filter(port__lt=10).count() == 10
    assert Event.objects.filter(tags__contains=["a"]).count() == 1
    assert Event.objects.filter(tags__any="3").count() == 1
    assert Event.objects.filter(tags__len=2).count() == 1
    assert Event.objects.filter(tags__0="a").count() == 1
    assert Event.objects.filter(tags__overlap=["3", "4", "zz"]).count() == 2
    counts = dict(Event.objects.filter(port__lt=10).values_list("action").annotate(n=Count("id")))
    assert counts == {2: 5, 3: 5}
    assert Event.objects.settings(max_threads=1).prewhere(port__lt=5).filter(action=3).count() == 3
    assert Event.objects.filter(port__in=[1, 2, 3]).update(content="x") == 3
    assert Event.objects.filter(content="x").count() == 3
    deleted, _ = Event.objects.filter(port=1).delete()
    assert deleted == 1 and not Event.objects.filter(port=1).exists()


def test_unknown_query_setting_refused(db):
    with pytest.raises(NotSupportedError, match="no_such_setting"):
        list(Event.objects.settings(no_such_setting=1))


def test_plain_model_types_and_save(db):
    stamp = datetime.datetime(2020, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)
    uid = uuid.uuid4()
    p = Plain.objects.create(name="Abc", value=3, flag=True, amount=decimal.Decimal("1.25"),
                             day=datetime.date(2020, 1, 2), uid=uid, data={"a": 1}, stamp=stamp)
    assert p.counter == 7  # db_default evaluated on insert
    p = Plain.objects.get(pk=p.pk)
    assert (p.name, p.value, p.flag, p.amount, p.day, p.uid, p.data, p.stamp, p.counter) == \
        ("Abc", 3, True, decimal.Decimal("1.25"), datetime.date(2020, 1, 2), uid, {"a": 1},
         stamp, 7)
    assert Plain.objects.filter(name__icontains="BC").count() == 1
    assert Plain.objects.filter(stamp__year=2020, day__month=1).count() == 1
    assert list(Plain.objects.dates("day", "month")) == [datetime.date(2020, 1, 1)]
    p.value = 10
    p.save()
    assert Plain.objects.get(pk=p.pk).value == 10
    obj, created = Plain.objects.get_or_create(name="zz", defaults={"value": 5})
    assert created and not Plain.objects.get_or_create(name="zz")[1]
    assert list(Plain.objects.order_by("name").values_list("name", flat=True)) == ["Abc", "zz"]
    assert Plain.objects.aggregate(s=Sum("value"), m=Max("stamp")) == {"s": 15, "m": stamp}
    assert set(Plain.objects.in_bulk([p.pk, obj.pk])) == {p.pk, obj.pk}
    assert sorted(x.name for x in Plain.objects.iterator(chunk_size=1)) == ["Abc", "zz"]
    assert [x.name for x in Plain.objects.raw("SELECT * FROM testapp_plain ORDER BY name")] == \
        ["Abc", "zz"]
    # an empty raw() result: Django reads the columns before any row
    assert list(Plain.objects.raw("SELECT * FROM testapp_plain WHERE name = %s", ["none"])) == []


def test_clickhouse_numeric_and_tuple_fields(db):
    n = Numbers.objects.create(i8=-5, u64=2**64 - 1, f32=1.5, dec="3.141", flag=True,
                               fixed=b"ab", day=datetime.date(2021, 5, 5), tup=(1, "x"))
    n = Numbers.objects.get(pk=n.pk)
    assert (n.i8, n.u64, n.f32, n.dec, n.flag, n.day, n.tup) == \
        (-5, 2**64 - 1, 1.5, decimal.Decimal("3.141"), True, datetime.date(2021, 5, 5), (1, "x"))
    assert Numbers.objects.filter(tup__a=1).count() == 1
    assert Numbers.objects.filter(tup__1="x").count() == 1


def test_migration_recorder_unapply_is_visible_at_once(db):
    from django.db.migrations.recorder import MigrationRecorder
    rec = MigrationRecorder(connection)
    rec.record_applied("zapp", "0001_x")
    assert ("zapp", "0001_x") in rec.applied_migrations()
    rec.record_unapplied("zapp", "0001_x")
    assert ("zapp", "0001_x") not in rec.applied_migrations()


def test_add_field_with_default_sql_writes_then_drops_the_default():
    """sqlmigrate shows what migrate does to a table with rows: ADD COLUMN with the
    default, a mutation writing it into the existing parts, the DEFAULT dropped."""
    from django.db.models import IntegerField
    field = IntegerField(default=5)
    field.set_attributes_from_name("extra")
    for version, last in (((24, 8), 'ALTER TABLE "testapp_plain" MODIFY COLUMN "extra" '
                                    'REMOVE DEFAULT'),
                          ((18, 16, 1), 'ALTER TABLE "testapp_plain" MODIFY COLUMN "extra" '
                                        'Int32')):
        with _Offline(version):
            editor = connection.schema_editor(collect_sql=True)
            editor.add_field(Plain, field)
        assert [s.rstrip(";") for s in editor.collected_sql] == [
            'ALTER TABLE "testapp_plain" ADD COLUMN "extra" Int32 DEFAULT 5',
            'ALTER TABLE "testapp_plain" UPDATE "extra" = "extra" WHERE 1',
            last]


def test_migration_cluster_on_every_schema_statement():
    """OPTIONS migration_cluster adds ON CLUSTER to each DDL statement of the
    migration operations; what would need a rebuilt table is refused there."""
    from django.db.models import CharField, CheckConstraint, IntegerField, Q
    saved = connection.migration_cluster
    connection.migration_cluster = "c1"
    try:
        def named(field, name):
            field.set_attributes_from_name(name)
            field.model = Plain
            return field

        with _Offline((24, 8)):
            editor = connection.schema_editor(collect_sql=True)
            editor.add_field(Plain, named(IntegerField(null=True), "extra"))
            editor.alter_field(Plain, Plain._meta.get_field("value"),
                               named(IntegerField(default=0, db_comment="v"), "value"))
            editor.alter_field(Plain, Plain._meta.get_field("name"),
                               named(CharField(max_length=50), "title"))
            editor.remove_field(Plain, Plain._meta.get_field("day"))
            editor.add_constraint(Plain, CheckConstraint(condition=Q(value__gte=0), name="v"))
            editor.remove_constraint(Plain, CheckConstraint(condition=Q(value__gte=0),
                                                            name="v"))
            editor.add_index(Plain, models.Index(fields=["name"], name="n_bf",
                                                 type=models.BloomFilter(), granularity=2))
            editor.alter_db_table(Plain, "testapp_plain", "testapp_plain2")
            editor.delete_model(Plain)
        statements = [s.rstrip(";") for s in editor.collected_sql]
        assert len(statements) == 9
        for sql in statements:
            assert ' ON CLUSTER "c1"' in sql, sql
        assert 'RENAME COLUMN "name" TO "title"' in statements[2]
        with _Offline((18, 16, 1)):  # no RENAME COLUMN: a rebuild, not done ON CLUSTER
            editor = connection.schema_editor(collect_sql=True)
            with pytest.raises(NotSupportedError, match="ON CLUSTER"):
                editor.alter_field(Plain, Plain._meta.get_field("name"),
                                   named(CharField(max_length=50), "title"))
    finally:
        connection.migration_cluster = saved
