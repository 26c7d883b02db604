"""``manage.py inspectdb`` (clickhouse_backend's command): tables of varied DDL
on the server (18.16 in CI) and on chDB are inspected, the generated module is
imported as a test app's models, the models create copies of the tables, and
the copies have the same columns (system.columns), engine, keys and settings
as the originals; a row written through a generated model reads back."""
import datetime
import decimal
import io
import types
import uuid

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.utils import isolate_apps

from clickhouse_backend import models
from clickhouse_backend.backend.introspection import field_code, parse_type
from clickhouse_backend.management.commands.inspectdb import Command

ALIASES = ["default", "embedded"]


# Columns of types newer than 18.16, where the target has them.
NEWER_COLUMNS = [
    ("supports_low_cardinality", "lc LowCardinality(String), lcn LowCardinality(Nullable(String))"),
    ("supports_datetime64", "dt64 DateTime64(3, 'UTC'), dt6 Nullable(DateTime64(6, 'UTC'))"),
    ("supports_map_type", "m Map(String, Array(UInt8))"),
    ("supports_bool_type", "ok Bool"),
    ("supports_date32", "d32 Date32"),
    ("supports_ip_types", "ip4 IPv4, ip6 Nullable(IPv6)"),
    ("supports_big_ints", "big Int128, ubig UInt256"),
]


def _tables(conn, prefix):
    """name -> CREATE TABLE body; newer types only where the target has them."""
    extra = [columns for flag, columns in NEWER_COLUMNS if getattr(conn.features, flag)]
    newer = "".join(", " + e for e in extra)
    tables = {
        "wide": (
            "(id UInt32, name String, n Nullable(Int64), d Decimal(9, 3), d64 Decimal64(4), "
            "a Array(Nullable(String)), aa Array(Array(Int8)), tp Tuple(UInt8, String), "
            "e8 Enum8('a' = 1, 'it''s' = -2, 'caf\\xc3\\xa9' = 3), e16 Enum16('x' = 1000), "
            "fs FixedString(4), dt DateTime('UTC'), day Date, f32 Float32, f64 Nullable(Float64), "
            "u UUID%s) ENGINE = MergeTree() PARTITION BY toYYYYMM(day) ORDER BY (id, name) "
            "SAMPLE BY id SETTINGS index_granularity = 4096" % newer),
        "repl": "(k Int64, v UInt64, ver UInt32) ENGINE = ReplacingMergeTree(ver) ORDER BY k",
        "coll": ("(k Int64, v UInt64, sign Int8) ENGINE = CollapsingMergeTree(sign) "
                 "PARTITION BY k % 4 ORDER BY (k, v)"),
        "mem": "(x String, y Nullable(UInt16)) ENGINE = Memory",
        "tiny": "(x String) ENGINE = TinyLog",
    }
    if conn.server_version >= (20, 1):
        tables["pk"] = ("(id UInt64, name String, day Date) ENGINE = MergeTree "
                        "ORDER BY (id, name) PRIMARY KEY id TTL day + INTERVAL 1 YEAR")
    if conn.features.supports_data_skipping_indexes:
        tables["idx"] = (
            "(id UInt64, s String, v Float64, INDEX a v TYPE minmax GRANULARITY 1, "
            "INDEX b s TYPE set(100) GRANULARITY 2, INDEX c (s, id) TYPE bloom_filter(0.01) "
            "GRANULARITY 4, INDEX d s TYPE ngrambf_v1(3, 256, 2, 0) GRANULARITY 1, "
            "INDEX e s TYPE tokenbf_v1(256, 2, 0) GRANULARITY 1) ENGINE = MergeTree ORDER BY id")
    if conn.server_version >= (21, 1):
        tables["named"] = ("(id UInt8, t Tuple(a Int32, b Nullable(String)), "
                           "e Enum8('\\xff\\xfe' = 1, 'ok' = 2)) ENGINE = MergeTree ORDER BY id")
    # Column options (codec, TTL, MATERIALIZED/ALIAS/EPHEMERAL) and table TTL
    # where the target has them.
    f = conn.features
    options = ["day Date", "v UInt64", "doubled UInt64 MATERIALIZED v * 2",
               "next UInt64 ALIAS v + 1"]
    if f.supports_column_codecs:
        options.append("packed UInt64 CODEC(Delta(8), ZSTD(3))")
    if f.supports_ttl:
        options.append("brief String TTL day + toIntervalDay(1)")
    if f.supports_ephemeral_columns:
        options += ["raw String EPHEMERAL", "tag String EPHEMERAL 'x'",
                    "size UInt64 MATERIALIZED length(raw)"]
    table_ttl = ""
    if f.supports_ttl:
        table_ttl = " TTL day + toIntervalYear(1)"
        if f.supports_ttl_group_by:
            table_ttl = (" TTL day + toIntervalMonth(1) WHERE v = 0, day + toIntervalYear(1), "
                         "day + toIntervalWeek(1) GROUP BY day SET v = max(v), "
                         "doubled = min(doubled), day + toIntervalYear(2) TO DISK 'default'")
    tables["options"] = "(%s) ENGINE = MergeTree() ORDER BY day%s" % (
        ", ".join(options), table_ttl)
    # Aggregate state columns.
    states = ["k UInt32", "users AggregateFunction(uniq, UInt64)",
              "q AggregateFunction(quantiles(0.5, 0.9), Float64)",
              "n AggregateFunction(count)"]
    if f.supports_simple_aggregate_function:
        states.append("total SimpleAggregateFunction(sum, UInt64)")
    tables["states"] = "(%s) ENGINE = AggregatingMergeTree() ORDER BY k" % ", ".join(states)
    return {prefix + name: body for name, body in tables.items()}


def _describe(conn, cur, table):
    # system.columns lists a table's columns in their order.
    codec = "compression_codec" if conn.features.supports_column_codecs else "''"
    cur.execute("SELECT name, type, default_kind, default_expression, %s FROM system.columns "
                "WHERE database = currentDatabase() AND table = %%s" % codec, [table])
    columns = cur.fetchall()
    cur.execute("SELECT engine, engine_full, partition_key, sorting_key, primary_key, "
                "sampling_key, create_table_query FROM system.tables WHERE database = "
                "currentDatabase() AND name = %s", [table])
    engine = cur.fetchone()
    # The CREATE TABLE (column TTLs are only there), names written alike.
    create = engine[6].replace(table, "T").replace('"', "`")
    engine = engine[:6] + (create,)
    indexes = []
    if conn.features.supports_data_skipping_indexes:
        cur.execute("SELECT name, type, expr, granularity FROM system.data_skipping_indices "
                    "WHERE database = currentDatabase() AND table = %s ORDER BY name", [table])
        indexes = cur.fetchall()
    return columns, engine[:1] + (engine[1].replace(table, "T"),) + engine[2:], indexes


@pytest.mark.parametrize("alias", ALIASES)
def test_inspectdb_round_trip(alias, request):
    request.getfixturevalue("db" if alias == "default" else "edb")
    conn = connections[alias]
    prefix = "insp_%s_" % uuid.uuid4().hex[:6]
    tables = _tables(conn, prefix)
    copies = []
    with conn.cursor() as cur:
        for name, body in tables.items():
            cur.execute("CREATE TABLE %s %s" % (name, body))
    try:
        out = io.StringIO()
        call_command(Command(), *sorted(tables), database=alias, stdout=out)
        source = out.getvalue()
        assert source.count("(models.ClickhouseModel):") == len(tables), source
        assert "from clickhouse_backend import models" in source
        assert "managed = False" in source and "Unable to inspect" not in source
        with isolate_apps("tests.backend.testapp"):
            module = types.ModuleType("tests.backend.testapp.inspected")
            exec(compile(source, "<inspectdb>", "exec"), module.__dict__)
            generated = {m._meta.db_table: m for m in vars(module).values()
                         if isinstance(m, type) and hasattr(m, "_meta") and
                         not m._meta.abstract}
            assert set(generated) == set(tables)
            for table, model in generated.items():
                assert [e for e in model.check() if e.level >= 40] == [], (table, model.check())
                model._meta.db_table = table + "_copy"
                with conn.schema_editor() as editor:
                    editor.create_model(model)
                copies.append(table + "_copy")
            with conn.cursor() as cur:
                for table in tables:
                    assert _describe(conn, cur, table + "_copy") == _describe(conn, cur, table), table
            # The generated fields write and read the values.
            wide = generated[prefix + "wide"]
            row = dict(id=7, name="n", n=None, d=decimal.Decimal("-123456.789"),
                       d64=decimal.Decimal("1.2345"), a=["x", None], aa=[[1], [-128, 127]],
                       tp=(255, "s"), e8=3, e16=1000, fs="abcd",
                       dt=datetime.datetime(2021, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
                       day=datetime.date(2021, 5, 6), f32=0.5, f64=None,
                       u=uuid.UUID(int=5))
            extra = {"lc": "low", "lcn": None, "ok": True,
                     "dt64": datetime.datetime(2021, 5, 6, 7, 8, 9, 123000,
                                               tzinfo=datetime.timezone.utc),
                     "dt6": None, "m": {"k": [1, 2]}, "d32": datetime.date(1950, 1, 1),
                     "ip4": "10.0.0.1", "ip6": None, "big": -2**127, "ubig": 2**256 - 1}
            fields = {f.name for f in wide._meta.fields}
            row.update({k: v for k, v in extra.items() if k in fields})
            objs = wide.objects.using(alias)
            objs.create(**row)
            got = objs.values(*row).get()
            assert got == row
            # The column options work as declared: computed columns read back.
            options = generated[prefix + "options"]
            names = {f.name for f in options._meta.fields}
            given = {k: v for k, v in dict(packed=2**64 - 1, brief="b", raw="abcd",
                                           tag="t").items() if k in names}
            day = datetime.date.today()
            options.objects.using(alias).create(day=day, v=5, **given)
            expected = {"day": day, "v": 5, "doubled": 10, "next": 6,
                        **{k: v for k, v in given.items() if k in ("packed", "brief")}}
            if "size" in names:
                expected.update(size=4, raw=None)  # EPHEMERAL: not stored, read as None
            assert options.objects.using(alias).values(*expected).get() == expected
            # AggregateFunction columns as fields: written by -State, read by -Merge.
            states = generated[prefix + "states"]
            with conn.cursor() as cur:
                cur.execute("INSERT INTO %s_copy (k, users, q, n) SELECT number %% 2, "
                            "uniqState(toUInt64(number %% 7)), quantilesState(0.5, 0.9)"
                            "(toFloat64(number)), countState() FROM numbers(100) "
                            "GROUP BY number %% 2" % (prefix + "states"))
            merged = states.objects.using(alias).aggregate(
                users=models.uniqMerge("users"), n=models.countMerge("n"))
            assert merged == {"users": 7, "n": 100}
    finally:
        with conn.cursor() as cur:
            for table in [*tables, *copies]:
                cur.execute("DROP TABLE IF EXISTS %s" % table)


def test_field_code_of_types():
    """The type parser on types no test server has (and escapes)."""
    assert field_code(parse_type("LowCardinality(Nullable(FixedString(3)))")) == (
        "models.FixedStringField(max_bytes=3, low_cardinality=True, null=True, blank=True)", [])
    assert field_code(parse_type("Map(LowCardinality(String), Tuple(a Int8, `b c` Decimal(76, 2)))"))[0] == (
        "models.MapField(models.StringField(low_cardinality=True), models.TupleField("
        "[('a', models.Int8Field()), ('b c', models.DecimalField(max_digits=76, decimal_places=2))]))")
    code, notes = field_code(parse_type("Enum16('\\xff' = -1, 'a\\\\b' = 2, '\\'q' = 3)"))
    assert code == "models.Enum16Field(choices=[(-1, b'\\xff'), (2, 'a\\\\b'), (3, \"'q\")])"
    code, notes = field_code(parse_type("DateTime64(9, 'Asia/Tokyo')"))
    assert code == "models.DateTime64Field(precision=9)" and "Asia/Tokyo" in notes[0]
    assert field_code(parse_type("AggregateFunction(quantiles(0.5, 1e-05), Nullable(Int8))")) == (
        "models.AggregateFunctionField('quantiles(0.5, 1e-05)', "
        "models.Int8Field(null=True, blank=True))", [])
    assert field_code(parse_type("SimpleAggregateFunction(anyLast, DateTime('Europe/Oslo'))"),
                      ["null=True"])[0] == \
        "models.SimpleAggregateFunctionField('anyLast', models.DateTimeField(), null=True)"
    # Parameters other than numbers, the versioned form: no field.
    for text in ("AggregateFunction(sequenceMatch('(?1)'), UInt8)",
                 "AggregateFunction(1, sumMap, Array(UInt8))"):
        code, notes = field_code(parse_type(text))
        assert code == "models.StringField()" and "AggregateFunction" in notes[0]


def test_ttl_rules():
    from clickhouse_backend.backend.introspection import ttl_rules
    assert ttl_rules("MergeTree ORDER BY d TTL d + 1 WHERE v = 0, d + 2 GROUP BY d SET v = "
                     "max(v), `w x` = sum(w), d + 3 TO VOLUME 'a, b' SETTINGS x = 1") == [
        "d + 1 WHERE v = 0", "d + 2 GROUP BY d SET v = max(v), `w x` = sum(w)",
        "d + 3 TO VOLUME 'a, b'"]
    assert ttl_rules("MergeTree ORDER BY d SETTINGS index_granularity = 8192") == []


def test_column_ttls():
    from clickhouse_backend.backend.introspection import column_ttls
    assert column_ttls(
        "CREATE TABLE db.t (`a` String DEFAULT 'x TTL (' COMMENT 'TTL, )', "
        "`b c` UInt8 CODEC(ZSTD(1)) TTL d + toIntervalDay(1), d Date TTL d + 1, "
        "INDEX i a TYPE set(1) GRANULARITY 1) ENGINE = MergeTree ORDER BY d "
        "TTL d + toIntervalYear(1)") == {"b c": "d + toIntervalDay(1)", "d": "d + 1"}


def test_index_code():
    from clickhouse_backend.backend.introspection import index_code

    query = ("CREATE TABLE t (`id` UInt64, `my col` String, INDEX `i 1` (`my col`, id) TYPE "
             "bloom_filter GRANULARITY 3, INDEX d lower(`my col`) TYPE ngrambf_v1(3, 256, 2, 0) "
             "GRANULARITY 1, INDEX v id TYPE vector_similarity('hnsw', 'L2Distance') "
             "GRANULARITY 1) ENGINE = MergeTree ORDER BY id")
    indexes, comments = index_code(query, {"id": "id", "my col": "my_col"})
    assert indexes == ["models.Index(fields=['my_col', 'id'], name='i 1', "
                       "type=models.BloomFilter(), granularity=3)"]
    assert [c.split(" TYPE")[0] for c in comments] == [
        "# not written: INDEX d lower(`my col`)", "# not written: INDEX v id"]


def test_command_found_with_the_app_installed(request):
    """With "clickhouse_backend" in INSTALLED_APPS, ``inspectdb`` is this command."""
    from django.conf import settings
    from django.core.management import get_commands
    from django.test.utils import override_settings

    request.getfixturevalue("edb")
    table = "insp_%s_t" % uuid.uuid4().hex[:6]
    conn = connections["embedded"]
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE %s (id UInt8) ENGINE = Log" % table)
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "clickhouse_backend"]):
            get_commands.cache_clear()
            assert get_commands()["inspectdb"] == "clickhouse_backend"
            out = io.StringIO()
            call_command("inspectdb", table, database="embedded", stdout=out)
        assert "(models.ClickhouseModel):" in out.getvalue()
        assert "engine = models.Log()" in out.getvalue()
    finally:
        get_commands.cache_clear()
        with conn.cursor() as cur:
            cur.execute("DROP TABLE %s" % table)


def test_time_zone_notes():
    assert field_code(parse_type("DateTime"))[1] == ["DateTime is created as DateTime('UTC')."]
    assert field_code(parse_type("DateTime('Europe/Paris')"))[1] == [
        "DateTime('Europe/Paris') is created as DateTime('UTC')."]
    assert field_code(parse_type("DateTime64(3)")) == (
        "models.DateTime64Field(precision=3)", ["DateTime64(3) is created as DateTime64(3, 'UTC')."])
    assert field_code(parse_type("Nullable(DateTime('UTC'))")) == (
        "models.DateTimeField(null=True, blank=True)", [])
