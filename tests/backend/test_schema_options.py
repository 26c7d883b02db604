"""Column codecs, MATERIALIZED/ALIAS columns, column and table TTL (DELETE, TO
DISK, GROUP BY roll-up) on both engines, and their migrations: the autodetector
finds the change, migrating applies it, migrating back reverts it, and the
server's catalog shows it. 18.16 refuses codecs and TTL naming the version."""
import datetime

import pytest
from django.db import NotSupportedError, connections
from django.db.models import Count

from clickhouse_backend import models
from tests.backend.conftest import use_db
from tests.backend.modeling import (create, create_query, detect, drop, make_model, migrate,
                                    one, refused_without, state_of, unmigrate)

ALIASES = ["default", "embedded"]
OLD, NEW = datetime.date(2000, 1, 1), datetime.date(2100, 1, 1)


def _columns(alias, table):
    codec = "compression_codec" if connections[alias].features.supports_column_codecs else "''"
    with connections[alias].cursor() as cur:
        cur.execute("SELECT name, default_kind, default_expression, %s FROM system.columns "
                    "WHERE database = currentDatabase() AND table = %%s" % codec, [table])
        return {r[0]: r[1:] for r in cur.fetchall()}


def _optimize(alias, table):
    with connections[alias].cursor() as cur:
        cur.execute('OPTIMIZE TABLE "%s" FINAL' % table)


@pytest.mark.parametrize("alias", ALIASES)
def test_materialized_and_alias_columns(alias, request):
    use_db(alias, request)
    M = make_model("Comp", {
        "v": models.UInt32Field(),
        "double": models.UInt64Field(materialized="v * 2"),
        "next": models.UInt64Field(alias="v + 1"),
    }, engine=models.MergeTree(order_by="id"))
    table = M._meta.db_table
    try:
        create(alias, M)
        obj = M.objects.using(alias).create(v=20)
        M.objects.using(alias).bulk_create([M(v=1)])
        # Computed by the server and read back (the attributes are deferred).
        assert obj.double == 40 and obj.next == 21
        assert sorted(M.objects.using(alias).values_list("v", "double", "next")) == \
            [(1, 2, 2), (20, 40, 21)]
        cols = _columns(alias, table)
        assert cols["double"][:2] == ("MATERIALIZED", "v * 2")
        assert cols["next"][:2] == ("ALIAS", "v + 1")
    finally:
        drop(alias, table)


@pytest.mark.parametrize("alias", ALIASES)
def test_codecs_and_column_ttl(alias, request):
    conn = use_db(alias, request)
    M = make_model("Codec", {
        "day": models.DateField(),
        "n": models.UInt64Field(codec="ZSTD(3)"),
        "delta": models.Int64Field(codec="Delta, ZSTD"),
        "note": models.StringField(default="", ttl="day + INTERVAL 1 DAY"),
    }, engine=models.MergeTree(order_by="day"))
    table = M._meta.db_table
    if not conn.features.supports_column_codecs:
        with pytest.raises(NotSupportedError, match="codec= .* needs ClickHouse 19.1"):
            create(alias, M)
        aged = make_model("Aged", {"day": models.DateField(),
                                   "note": models.StringField(ttl="day + INTERVAL 1 DAY")})
        with pytest.raises(NotSupportedError, match="ttl= \\(column note\\) needs ClickHouse 19.6"):
            create(alias, aged)
        return
    try:
        create(alias, M)
        cols = _columns(alias, table)
        assert cols["n"][2] == "CODEC(ZSTD(3))"
        assert cols["delta"][2].startswith("CODEC(Delta") and "ZSTD" in cols["delta"][2]
        M.objects.using(alias).bulk_create([M(day=OLD, n=1, delta=-5, note="gone"),
                                            M(day=NEW, n=2**64 - 1, delta=7, note="kept")])
        _optimize(alias, table)
        assert sorted(M.objects.using(alias).values_list("n", "delta", "note")) == \
            [(1, -5, ""), (2**64 - 1, 7, "kept")]
    finally:
        drop(alias, table)


def _ttl_model(ttl, table=None, meta=None, **fields):
    return make_model("Aged", {"day": models.DateField(), "v": models.UInt64Field(), **fields},
                      engine=models.MergeTree(order_by="day"), ttl=ttl, table=table,
                      **(meta or {}))


@pytest.mark.parametrize("alias", ALIASES)
def test_table_ttl_delete_move_and_group_by(alias, request):
    conn = use_db(alias, request)
    delete = _ttl_model([models.TTL("day + INTERVAL 1 DAY")])
    if refused_without(alias, "supports_ttl", "TTL of .* needs ClickHouse 19.6", delete):
        return
    rollup = _ttl_model([models.TTL("day + INTERVAL 1 DAY", group_by="day",
                                    set={"v": "sum(v)"})])
    move = _ttl_model(["day + INTERVAL 1 YEAR",
                       models.TTL("day + INTERVAL 1 DAY", to_disk="default"),
                       models.TTL("day + INTERVAL 2 DAY", to_volume="default")])
    where = _ttl_model([models.TTL("day + INTERVAL 1 DAY", where="v = 1")])
    tables = [m._meta.db_table for m in (delete, rollup, move, where)]
    try:
        with conn.schema_editor() as editor:
            for m in (delete, rollup, move, where):
                editor.create_model(m)
        for m in (delete, rollup, move, where):
            m.objects.using(alias).bulk_create(
                [m(day=OLD, v=1), m(day=OLD, v=2), m(day=NEW, v=5)])
            _optimize(alias, m._meta.db_table)
        assert sorted(delete.objects.using(alias).values_list("day", "v")) == [(NEW, 5)]
        assert sorted(rollup.objects.using(alias).values_list("day", "v")) == \
            [(OLD, 3), (NEW, 5)]
        assert sorted(where.objects.using(alias).values_list("day", "v")) == \
            [(OLD, 2), (NEW, 5)]
        assert "GROUP BY day SET v = sum(v)" in create_query(alias, tables[1])  # not sumOrNull
        assert "TTL day + toIntervalYear(1), day + toIntervalDay(1) TO DISK 'default', " \
               "day + toIntervalDay(2) TO VOLUME 'default'" in create_query(alias, tables[2])
    finally:
        drop(alias, *tables)


@pytest.mark.parametrize("alias", ALIASES)
def test_ttl_and_codec_migrations(alias, request):
    """A codec and a column TTL (AlterField) and a table TTL (AlterModelOptions)
    added, and migrated back; 18.16 refuses each operation naming the release
    (codecs 19.1, TTL 19.6) and the table is left as it was."""
    conn = use_db(alias, request)
    before = _ttl_model(None, n=models.UInt64Field(default=0))
    table = before._meta.db_table
    after = _ttl_model([models.TTL("day + INTERVAL 1 MONTH")], table=table,
                       n=models.UInt64Field(default=0, codec="ZSTD(5)", ttl="day + INTERVAL 1 DAY"))
    try:
        state = migrate(alias, state_of(), detect(state_of(), state_of(before)))
        change = detect(state, state_of(after))
        assert sorted(type(op).__name__ for op in change) == ["AlterField", "AlterModelOptions"]
        if not conn.features.supports_ttl:
            refusals = ["codec= .* needs ClickHouse 19.1", "TTL of .* needs ClickHouse 19.6"]
            for op, match in zip(sorted(change, key=lambda op: type(op).__name__), refusals):
                with pytest.raises(NotSupportedError, match=match):
                    migrate(alias, state, [op])
            query = create_query(alias, table)
            assert "CODEC" not in query and " TTL " not in query
            return
        migrate(alias, state, change)
        query = create_query(alias, table)
        assert "CODEC(ZSTD(5))" in query and "TTL day + toIntervalDay(1)" in query
        assert query.split(" TTL ")[-1].startswith("day + toIntervalMonth(1)")
        unmigrate(alias, state, change)
        query = create_query(alias, table)
        assert "CODEC" not in query and " TTL " not in query
    finally:
        drop(alias, table)


@pytest.mark.parametrize("alias", ALIASES)
def test_ttl_group_by_and_move_migrations(alias, request):
    """Meta.ttl gaining a GROUP BY roll-up rule and TO DISK / TO VOLUME rules on a
    table with rows: one AlterModelOptions (MODIFY TTL), the roll-up applied by
    the next merge; migrated back, the table has no TTL (REMOVE TTL). 18.16
    refuses it (TTL needs 19.6) and the table keeps its rows."""
    conn = use_db(alias, request)
    before = _ttl_model(None)
    table = before._meta.db_table
    after = _ttl_model([models.TTL("day + INTERVAL 1 DAY", group_by="day", set={"v": "sum(v)"}),
                        models.TTL("day + INTERVAL 1 YEAR", to_disk="default"),
                        models.TTL("day + INTERVAL 2 YEAR", to_volume="default")], table=table)
    try:
        state = migrate(alias, state_of(), detect(state_of(), state_of(before)))
        rows = [before(day=OLD, v=1), before(day=OLD, v=2), before(day=NEW, v=5)]
        before.objects.using(alias).bulk_create(rows)
        change = detect(state, state_of(after))
        assert [type(op).__name__ for op in change] == ["AlterModelOptions"]
        if not conn.features.supports_ttl:
            with pytest.raises(NotSupportedError, match="TTL of .* needs ClickHouse 19.6"):
                migrate(alias, state, change)
            assert " TTL " not in create_query(alias, table)
            assert before.objects.using(alias).count() == 3
            return
        migrate(alias, state, change)
        query = create_query(alias, table)
        # As declared: sum(v), not sumOrNull(v) (the backend's default
        # aggregate_functions_null_for_empty=1 is off for DDL).
        assert "TTL day + toIntervalDay(1) GROUP BY day SET v = sum(v), " \
               "day + toIntervalYear(1) TO DISK 'default', " \
               "day + toIntervalYear(2) TO VOLUME 'default'" in query, query
        _optimize(alias, table)
        assert sorted(after.objects.using(alias).values_list("day", "v")) == \
            [(OLD, 3), (NEW, 5)]
        unmigrate(alias, state, change)
        assert " TTL " not in create_query(alias, table)
        before.objects.using(alias).bulk_create([before(day=OLD, v=4)])
        _optimize(alias, table)
        assert sorted(before.objects.using(alias).values_list("day", "v")) == \
            [(OLD, 3), (OLD, 4), (NEW, 5)]
    finally:
        drop(alias, table)


@pytest.mark.parametrize("alias", ALIASES)
def test_projection_migrations(alias, request):
    """A projection added by a migration (ADD + MATERIALIZE for the rows there),
    used by the query it fits, dropped when migrating back."""
    use_db(alias, request)
    projection = models.Projection("by_v", "SELECT v, count() GROUP BY v")
    before = _ttl_model(None)
    table = before._meta.db_table
    after = _ttl_model(None, table=table, meta={"projections": [projection]})
    if refused_without(alias, "supports_projections",
                       "projection 'by_v' needs ClickHouse 21.6", after):
        return
    try:
        state = migrate(alias, state_of(), detect(state_of(), state_of(before)))
        before.objects.using(alias).bulk_create([before(day=OLD, v=i % 3) for i in range(30)])
        change = detect(state, state_of(after))
        assert [type(op).__name__ for op in change] == ["AlterModelOptions"]
        migrate(alias, state, change)
        assert "PROJECTION by_v" in create_query(alias, table)
        with connections[alias].cursor() as cur:
            cur.execute("SELECT count() FROM system.projection_parts WHERE database = "
                        "currentDatabase() AND table = %s AND name = 'by_v' AND active", [table])
            assert cur.fetchone()[0] >= 1  # materialized for the existing part
        rows = sorted(before.objects.using(alias).values("v").annotate(n=Count("id"))
                      .values_list("v", "n"))
        assert rows == [(0, 10), (1, 10), (2, 10)]
        unmigrate(alias, state, change)
        assert "PROJECTION" not in create_query(alias, table)
    finally:
        drop(alias, table)


@pytest.mark.parametrize("kind", ["materialized", "alias"])
@pytest.mark.parametrize("alias", ALIASES)
def test_column_option_migrations(alias, kind, request):
    """AddField of a MATERIALIZED or ALIAS column to a table with rows (computed
    for them), AlterField dropping a codec (MODIFY COLUMN ... REMOVE CODEC), a
    changed expression (MODIFY COLUMN: an ALIAS reads the new one for every row,
    a MATERIALIZED column keeps what was stored), and each migrated back."""
    conn = use_db(alias, request)
    codecs = conn.features.supports_column_codecs and conn.features.supports_remove_ttl
    before = _ttl_model(None, n=models.UInt64Field(default=0, codec="ZSTD(3)" if codecs else None))
    table = before._meta.db_table
    after = _ttl_model(None, table=table, n=models.UInt64Field(default=0),
                       double=models.UInt64Field(**{kind: "v * 2"}))
    triple = _ttl_model(None, table=table, n=models.UInt64Field(default=0),
                        double=models.UInt64Field(**{kind: "v * 3"}))
    try:
        state = migrate(alias, state_of(), detect(state_of(), state_of(before)))
        before.objects.using(alias).bulk_create([before(day=OLD, v=4, n=1)])
        change = detect(state, state_of(after))
        assert sorted(type(op).__name__ for op in change) == \
            ["AddField"] + (["AlterField"] if codecs else [])
        state2 = migrate(alias, state, change)
        cols = _columns(alias, table)
        assert cols["double"][:2] == (kind.upper(), "v * 2")
        assert after.objects.using(alias).get().double == 8
        if codecs:
            assert cols["n"][2] == ""
        after.objects.using(alias).bulk_create([after(day=NEW, v=5)])
        recompute = detect(state2, state_of(triple))
        assert [type(op).__name__ for op in recompute] == ["AlterField"]
        migrate(alias, state2, recompute)
        assert _columns(alias, table)["double"][:2] == (kind.upper(), "v * 3")
        # The row inserted before AddField has no stored value (computed when
        # read, as an ALIAS is); the later row keeps its stored MATERIALIZED one.
        assert sorted(triple.objects.using(alias).values_list("v", "double")) == \
            [(4, 12), (5, 15 if kind == "alias" else 10)]
        unmigrate(alias, state2, recompute)
        assert _columns(alias, table)["double"][:2] == (kind.upper(), "v * 2")
        assert sorted(after.objects.using(alias).values_list("v", "double")) == [(4, 8), (5, 10)]
        unmigrate(alias, state, change)
        cols = _columns(alias, table)
        assert "double" not in cols
        if codecs:
            assert cols["n"][2] == "CODEC(ZSTD(3))"
        assert sorted(before.objects.using(alias).values_list("v", "n")) == [(4, 1), (5, 0)]
    finally:
        drop(alias, table)


# (options before, options after, the old row's value after migrating)
KIND_CHANGES = [
    ({"alias": "v + 1"}, {"materialized": "v + 1"}, 5),
    ({"materialized": "v + 1"}, {"alias": "v + 1"}, 5),
    ({"materialized": "v + 1"}, {}, 5),  # the stored value stays
    ({"alias": "v + 1"}, {}, 0),  # never stored: the type's default
    ({}, {"alias": "v + 1"}, 5),
]


@pytest.mark.parametrize("old,new,value", KIND_CHANGES)
@pytest.mark.parametrize("alias", ALIASES)
def test_column_kind_migrations(alias, old, new, value, request):
    """A column changed between plain, MATERIALIZED and ALIAS: AlterField is
    MODIFY COLUMN (one kind replaces the other) or, back to a plain column,
    REMOVE ALIAS/MATERIALIZED (21.1+: 18.16 refuses, the column unchanged); the
    row read back, and migrated back."""
    conn = use_db(alias, request)
    before = _ttl_model(None, w=models.UInt64Field(**old))
    table = before._meta.db_table
    after = _ttl_model(None, table=table, w=models.UInt64Field(**new))
    removes = conn.features.supports_remove_ttl

    def kind():
        return _columns(alias, table)["w"][:2]

    try:
        state = migrate(alias, state_of(), detect(state_of(), state_of(before)))
        before.objects.using(alias).bulk_create([before(day=OLD, v=4, **({} if old else {"w": 9}))])
        change = detect(state, state_of(after))
        assert [type(op).__name__ for op in change] == ["AlterField"]
        kind_before = kind()
        refused = pytest.raises(NotSupportedError, match="removing (ALIAS|MATERIALIZED) of "
                                                         "column w needs ClickHouse 21.1")
        if not new and not removes:
            with refused:
                migrate(alias, state, change)
            assert kind() == kind_before
            return
        migrate(alias, state, change)
        assert kind() == ((next(iter(new)).upper(), "v + 1") if new else ("", ""))
        assert list(after.objects.using(alias).values_list("v", "w")) == [(4, value)]
        if not old and not removes:
            with refused:
                unmigrate(alias, state, change)
            return
        unmigrate(alias, state, change)
        assert kind() == kind_before
        assert list(before.objects.using(alias).values_list("v", "w")) == [(4, 5 if old else 9)]
    finally:
        drop(alias, table)


@pytest.mark.parametrize("alias", ALIASES)
def test_ephemeral_column_migrations(alias, request):
    """AddField of an EPHEMERAL column and of a MATERIALIZED one computed from
    it, on a table with rows (the autodetector adds the MATERIALIZED one last,
    whatever the names, and removes it first); migrated back, both are gone.
    18.16 refuses the migration (naming 22.3) and the table is left as it was."""
    conn = use_db(alias, request)
    before = _ttl_model(None)
    table = before._meta.db_table
    after = _ttl_model(None, table=table, raw=models.StringField(ephemeral=True),
                       nbytes=models.UInt64Field(materialized="length(raw)"))
    try:
        state = migrate(alias, state_of(), detect(state_of(), state_of(before)))
        before.objects.using(alias).bulk_create([before(day=OLD, v=1)])
        change = detect(state, state_of(after))
        assert [(type(op).__name__, op.name) for op in change] == \
            [("AddField", "raw"), ("AddField", "nbytes")]
        if not conn.features.supports_ephemeral_columns:
            with pytest.raises(NotSupportedError, match="ephemeral= .* needs ClickHouse 22.3"):
                migrate(alias, state, change)
            assert sorted(_columns(alias, table)) == ["day", "id", "v"]
            assert list(before.objects.using(alias).values_list("v", flat=True)) == [1]
            return
        state2 = migrate(alias, state, change)
        cols = _columns(alias, table)
        assert cols["raw"][0] == "EPHEMERAL"
        assert cols["nbytes"][:2] == ("MATERIALIZED", "length(raw)")
        after.objects.using(alias).bulk_create([after(day=NEW, v=2, raw="abcd")])
        assert sorted(after.objects.using(alias).values_list("v", "raw", "nbytes")) == \
            [(1, None, 0), (2, None, 4)]
        removal = detect(state2, state_of(before))
        assert [op.name for op in removal] == ["nbytes", "raw"]
        migrate(alias, state2, removal)
        assert sorted(_columns(alias, table)) == ["day", "id", "v"]
        unmigrate(alias, state2, removal)
        assert sorted(_columns(alias, table)) == ["day", "id", "nbytes", "raw", "v"]
        unmigrate(alias, state, change)
        assert sorted(_columns(alias, table)) == ["day", "id", "v"]
        assert sorted(before.objects.using(alias).values_list("v", flat=True)) == [1, 2]
    finally:
        drop(alias, table)


def _comments(alias, table):
    """(the table's comment, {column: comment}); 18.16 has no system.tables.comment."""
    with connections[alias].cursor() as cur:
        cur.execute("SELECT name, comment FROM system.columns WHERE database = "
                    "currentDatabase() AND table = %s", [table])
        columns = dict(cur.fetchall())
    comment = "comment" if connections[alias].features.supports_comments else "''"
    return one(alias, "SELECT %s FROM system.tables WHERE database = currentDatabase() "
                      "AND name = %%s" % comment, [table])[0], columns


@pytest.mark.parametrize("alias", ALIASES)
def test_comment_migrations(alias, request):
    """db_comment and db_table_comment added to a model: the autodetector makes
    AlterField and AlterModelTableComment, migrating applies them (the rows are
    kept), a rebuilt table (a key column's new type) keeps them, migrating back
    removes them. Before 21.6 (Django's supports_comments), Django's system
    checks warn that they are not stored and migrating changes nothing."""
    conn = use_db(alias, request)
    before = _ttl_model(None)
    table = before._meta.db_table
    commented = dict(table=table, meta={"db_table_comment": "aged rows"},
                     v=models.UInt64Field(db_comment="the value"))
    after = _ttl_model(None, **commented)
    # The key column retyped: the table is rebuilt.
    retyped = _ttl_model(None, day=models.Date32Field() if conn.features.supports_date32
                         else models.DateTimeField(), **commented)
    none = ("", {"id": "", "day": "", "v": ""})
    if not conn.features.supports_comments:
        assert sorted(w.id for w in after.check(databases=[alias])) == \
            ["fields.W163", "models.W046"]
    try:
        state = migrate(alias, state_of(), detect(state_of(), state_of(before)))
        before.objects.using(alias).bulk_create([before(day=OLD, v=7)])
        change = detect(state, state_of(after))
        assert sorted(type(op).__name__ for op in change) == \
            ["AlterField", "AlterModelTableComment"]
        state2 = migrate(alias, state, change)
        commented_now = ("aged rows", {"id": "", "day": "", "v": "the value"}) \
            if conn.features.supports_comments else none
        assert _comments(alias, table) == commented_now
        assert list(after.objects.using(alias).values_list("day", "v")) == [(OLD, 7)]
        rebuild = detect(state2, state_of(retyped))
        assert [type(op).__name__ for op in rebuild] == ["AlterField"]
        migrate(alias, state2, rebuild)
        assert _comments(alias, table) == commented_now
        assert list(after.objects.using(alias).values_list("v", flat=True)) == [7]
        unmigrate(alias, state2, rebuild)
        unmigrate(alias, state, change)
        assert _comments(alias, table) == none
        assert list(before.objects.using(alias).values_list("day", "v")) == [(OLD, 7)]
    finally:
        drop(alias, table)


def test_schema_options_on_cluster(request):
    """With OPTIONS migration_cluster every statement of views, TTL and
    projections is ON CLUSTER (the SQL a migration would run, collected)."""
    from tests.backend.test_views import _event_model, _rollup_models

    conn = use_db("embedded", request)
    Ev = _event_model()
    Daily, DailyMV = _rollup_models(Ev)
    aged = _ttl_model([models.TTL("day + INTERVAL 1 DAY")])
    projection = models.Projection("p", "SELECT v ORDER BY v")
    saved = conn.migration_cluster
    conn.migration_cluster = "c1"
    try:
        with conn.schema_editor(collect_sql=True) as editor:
            editor.create_model(DailyMV)
            editor.alter_model_view(DailyMV, DailyMV._meta.view, DailyMV._meta.view)
            editor.alter_model_ttl(aged, None, [models.TTL("day + INTERVAL 2 DAY")])
            editor.alter_model_ttl(aged, aged._meta.ttl, None)
            editor.alter_model_projections(aged, None, [projection])
            editor.alter_model_projections(aged, [projection], None)
            editor.delete_model(aged)
    finally:
        conn.migration_cluster = saved
    statements = [s for s in editor.collected_sql if not s.startswith("INSERT INTO")]
    assert len(statements) == 9, statements
    for sql in statements:
        assert ' ON CLUSTER "c1"' in sql, sql
    assert any(s.startswith('ALTER TABLE "%s" ON CLUSTER "c1" MODIFY TTL day + INTERVAL 2 DAY'
                            % aged._meta.db_table) for s in statements)


@pytest.mark.parametrize("alias", ALIASES)
def test_ephemeral_column(alias, request):
    """An EPHEMERAL field is inserted, feeds a MATERIALIZED column, is not stored
    (reads as None)."""
    use_db(alias, request)
    M = make_model("Eph", {
        "raw": models.StringField(ephemeral=True),
        "size": models.UInt64Field(materialized="length(raw)"),
    }, engine=models.MergeTree(order_by="id"))
    if refused_without(alias, "supports_ephemeral_columns",
                       "ephemeral= .* needs ClickHouse 22.3", M):
        return
    try:
        create(alias, M)
        M.objects.using(alias).bulk_create([M(raw="abcd"), M(raw="")])
        assert sorted(M.objects.using(alias).values_list("raw", "size")) == \
            [(None, 0), (None, 4)]
        assert _columns(alias, M._meta.db_table)["raw"][0] == "EPHEMERAL"
    finally:
        drop(alias, M._meta.db_table)


def test_schema_options_migration_file_round_trip():
    """The migration file makemigrations writes for TTL rules, projections, column
    options and a dictionary loads back equal (no database needed)."""
    from django.db.migrations import Migration
    from django.db.migrations.writer import MigrationWriter

    Source = make_model("Source", {"v": models.UInt64Field()})
    model = _ttl_model(
        [models.TTL("day + INTERVAL 1 DAY", group_by="day", set={"v": "sum(v)"}),
         models.TTL("day + INTERVAL 1 WEEK", to_volume="cold"), "day + INTERVAL 1 YEAR"],
        meta={"projections": [models.Projection("p", "SELECT v ORDER BY v")]},
        n=models.UInt64Field(codec="Delta, ZSTD", ttl="day + INTERVAL 1 DAY"),
        m=models.UInt64Field(materialized="v * 2"), e=models.StringField(ephemeral=True))
    names = make_model("Names", {"v": models.UInt64Field(primary_key=True)},
                       view=models.Dictionary(Source, lifetime=(0, 60)))
    migration = Migration("0001_initial", "modelapp")
    migration.operations = detect(state_of(), state_of(Source, model, names))
    namespace = {}
    exec(MigrationWriter(migration).as_string(), namespace)
    loaded = {op.name: op for op in namespace["Migration"].operations}
    assert sorted(loaded) == ["Aged", "Names", "Source"]
    assert loaded["Aged"].options["ttl"] == model._meta.ttl
    assert loaded["Aged"].options["projections"] == model._meta.projections
    assert loaded["Names"].options["view"] == names._meta.view
    fields = dict(loaded["Aged"].fields)
    for name in ("n", "m", "e"):
        assert fields[name].deconstruct()[1:] == model._meta.get_field(name).deconstruct()[1:]
