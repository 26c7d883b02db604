"""Materialized and plain views as models (Meta.view), AggregateFunction /
SimpleAggregateFunction fields and the -State/-Merge aggregates, on both engines:
a raw events table feeds an AggregatingMergeTree daily rollup on insert, which
read with -Merge aggregates matches a GROUP BY over the raw table exactly;
migrations create, recreate and drop the views."""
import asyncio
import datetime

import pytest
from django.db import DataError, NotSupportedError, connections
from django.db.migrations import operations as ops
from django.db.models import Count, F, OuterRef, Subquery, Sum

from clickhouse_backend import models
from tests.backend.conftest import use_db
from tests.backend.modeling import (create, create_query, detect, drop, exists, make_model,
                                    migrate, one, refused_without, state_of, unmigrate)

ALIASES = ["default", "embedded"]
START = datetime.date(2024, 1, 1)


def _event_model():
    return make_model("Ev", {
        "day": models.DateField(), "user": models.UInt64Field(), "v": models.UInt32Field(),
    }, engine=models.MergeTree(order_by=("day", "user")))


def _rollup_models(Ev, where=None, like=None):
    """(Daily, DailyMV); ``like``: an earlier (Daily, DailyMV) whose tables they use."""
    tables = [m._meta.db_table for m in like] if like else [None, None]
    Daily = make_model("Daily", {
        "day": models.DateField(primary_key=True),
        "n": models.AggregateFunctionField("count"),
        "total": models.AggregateFunctionField("sum", models.UInt32Field()),
        "users": models.AggregateFunctionField("uniq", models.UInt64Field()),
    }, engine=models.AggregatingMergeTree(order_by="day"), table=tables[0])
    source = Ev.objects.all() if where is None else Ev.objects.filter(**where)
    query = source.values("day").annotate(
        n=models.countState(), total=models.sumState("v"), users=models.uniqState("user"))
    DailyMV = make_model("DailyMV", {
        "day": models.DateField(primary_key=True),
        "n": models.AggregateFunctionField("count"),
        "total": models.AggregateFunctionField("sum", models.UInt32Field()),
        "users": models.AggregateFunctionField("uniq", models.UInt64Field()),
    }, view=models.MaterializedView(query, to=Daily, populate=True), table=tables[1])
    return Daily, DailyMV


def _merged(model, alias):
    return list(model.objects.using(alias).values("day").annotate(
        n=models.countMerge("n"), total=models.sumMerge("total"),
        users=models.uniqMerge("users")).order_by("day"))


def _grouped(Ev, alias):
    return list(Ev.objects.using(alias).values("day").annotate(
        n=Count("id"), total=Sum("v"), users=models.uniq("user")).order_by("day"))


@pytest.mark.parametrize("alias", ALIASES)
def test_materialized_view_rollup_matches_group_by(alias, request):
    use_db(alias, request)
    Ev = _event_model()
    Daily, DailyMV = _rollup_models(Ev)
    tables = [Ev._meta.db_table, Daily._meta.db_table, DailyMV._meta.db_table]
    try:
        create(alias, Ev)
        # Rows there before the view: populate=True brings them into the rollup.
        Ev.objects.using(alias).bulk_create([
            Ev(day=START, user=1, v=5), Ev(day=START, user=2, v=7)])
        # The view first (created at the end of the "migration"), then its target.
        create(alias, DailyMV, Daily)
        assert one(alias, "SELECT engine FROM system.tables WHERE database = "
                          "currentDatabase() AND name = %s", [DailyMV._meta.db_table]) \
            == ("MaterializedView",)
        # ORM inserts and a 1,000,000-row INSERT ... SELECT both feed the rollup.
        Ev.objects.using(alias).bulk_create([Ev(day=START, user=3, v=1)])
        with connections[alias].cursor() as cur:
            cur.execute(
                'INSERT INTO "%s" (id, day, user, v) SELECT number + 10, toDate(\'2024-01-01\') '
                "+ number %% 30, number %% 5000, number %% 100 FROM numbers(1000000)"
                % Ev._meta.db_table)
        grouped = _grouped(Ev, alias)
        assert len(grouped) == 30 and sum(r["n"] for r in grouped) == 1000003
        assert _merged(Daily, alias) == grouped
        # Reading through the view model reads its target; the async ORM too.
        assert _merged(DailyMV, alias) == grouped

        async def merged_async():
            return [r async for r in Daily.objects.using(alias).values("day").annotate(
                n=models.countMerge("n")).order_by("day")]

        assert asyncio.run(merged_async()) == [{"day": r["day"], "n": r["n"]} for r in grouped]
        # -Merge aggregates in aggregate() and in a correlated subquery.
        total = Daily.objects.using(alias).aggregate(n=models.countMerge("n"))
        assert total == {"n": 1000003}
        if connections[alias].features.supports_correlated_subqueries:
            per_day = Daily.objects.using(alias).filter(day=OuterRef("day")).values("day") \
                .annotate(t=models.sumMerge("total")).values("t")
            days = Ev.objects.using(alias).filter(day__lt=START + datetime.timedelta(days=2)) \
                .values("day").distinct().annotate(t=Subquery(per_day)).order_by("day")
            assert [(r["day"], r["t"]) for r in days] == \
                [(r["day"], r["total"]) for r in grouped[:2]]
        # Selected as such, a state reads as its final value (finalizeAggregation).
        first = Daily.objects.using(alias).filter(day=START).values_list("n", flat=True)
        assert sum(first) == grouped[0]["n"]
        with pytest.raises(DataError, match="written by -State aggregates"):
            Daily.objects.using(alias).filter(day=START).update(n=1)
    finally:
        drop(alias, *tables)


@pytest.mark.parametrize("alias", ALIASES)
def test_merge_aggregates_over_a_subquery(alias, request):
    """aggregate() of a sliced/distinct/grouped QuerySet (Django's AggregateQuery:
    the aggregates in an outer query over a subquery): -Merge aggregates read the
    subquery's states, and the outer query carries the setting they need."""
    use_db(alias, request)
    Ev = _event_model()
    Daily, DailyMV = _rollup_models(Ev)
    tables = [Ev._meta.db_table, Daily._meta.db_table, DailyMV._meta.db_table]
    try:
        create(alias, Ev, DailyMV, Daily)
        events = Ev.objects.using(alias)
        events.bulk_create([Ev(day=START + datetime.timedelta(days=i % 5), user=i % 13,
                               v=i * 7 % 100) for i in range(500)])
        merged = dict(n=models.countMerge("n"), total=models.sumMerge("total"),
                      users=models.uniqMerge("users"))
        raw = dict(n=Count("id"), total=Sum("v"), users=models.uniq("user"))
        daily = Daily.objects.using(alias)
        two_days = [START, START + datetime.timedelta(days=1)]
        assert daily.order_by("day")[:2].aggregate(**merged) == \
            events.filter(day__in=two_days).aggregate(**raw)
        everything = events.aggregate(**raw)
        assert everything["n"] == 500
        assert daily.distinct().aggregate(**merged) == everything
        assert daily.annotate(d=F("day")).distinct().aggregate(**merged) == everything
        # No rows: 0 as ClickHouse's count/uniq give (not NULL, the -OrNull result).
        assert daily.filter(day__gt=START + datetime.timedelta(days=9))[:3].aggregate(
            n=models.countMerge("n"), users=models.uniqMerge("users")) == {"n": 0, "users": 0}
        assert daily.none().aggregate(n=models.countMerge("n"), users=models.uniqMerge(
            "users")) == {"n": 0, "users": 0}
        # -Merge inside the subquery (grouped), a plain aggregate outside.
        per_day = daily.values("day").annotate(t=models.sumMerge("total"),
                                                u=models.uniqMerge("users"))
        assert per_day.aggregate(st=Sum("t"), su=Sum("u")) == events.values("day").annotate(
            t=Sum("v"), u=models.uniq("user")).aggregate(st=Sum("t"), su=Sum("u"))
        assert asyncio.run(daily.order_by("-day")[:1].aaggregate(**merged)) == \
            events.filter(day=START + datetime.timedelta(days=4)).aggregate(**raw)
    finally:
        drop(alias, *tables)


@pytest.mark.parametrize("alias", ALIASES)
def test_simple_aggregate_function_field(alias, request):
    use_db(alias, request)
    Totals = make_model("Totals", {
        "key": models.UInt32Field(primary_key=True),
        "total": models.SimpleAggregateFunctionField("sum", models.UInt64Field()),
        "top": models.SimpleAggregateFunctionField("max", models.Float64Field()),
    }, engine=models.AggregatingMergeTree(order_by="key"))
    if refused_without(alias, "supports_simple_aggregate_function",
                       "needs ClickHouse 19.8", Totals):
        return
    try:
        create(alias, Totals)
        objs = Totals.objects.using(alias)
        objs.bulk_create([Totals(key=1, total=2**63, top=1.5)])
        objs.bulk_create([Totals(key=1, total=2**63 - 1, top=0.5)])
        objs.create(key=2, total=3, top=2.0)
        # Merged with their functions (at merge time, or by FINAL at read time).
        assert sorted(objs.final().values_list("key", "total", "top")) == \
            [(1, 2**64 - 1, 1.5), (2, 3, 2.0)]
        with pytest.raises(DataError):
            objs.create(key=3, total=-1, top=0)
    finally:
        drop(alias, Totals._meta.db_table)


@pytest.mark.parametrize("alias", ALIASES)
def test_view_migrations(alias, request):
    """makemigrations (the autodetector) creates the models and the view, a
    changed query recreates the view, migrating back restores the old one, and
    DeleteModel drops it."""
    use_db(alias, request)
    Ev = _event_model()
    Daily, DailyMV = _rollup_models(Ev)
    Daily2, DailyMV2 = _rollup_models(Ev, where={"v__gt": 10}, like=(Daily, DailyMV))
    mv = DailyMV._meta.db_table
    try:
        empty = state_of()
        create = detect(empty, state_of(Ev, Daily, DailyMV))
        assert sorted(type(op).__name__ for op in create) == ["CreateModel"] * 3
        assert [op for op in create if op.name == "DailyMV"][0].options["view"] \
            == DailyMV._meta.view
        state = migrate(alias, empty, create)

        def view_query():
            return create_query(alias, mv)

        assert " TO " in view_query() and "> 10" not in view_query()
        change = detect(state, state_of(Ev, Daily2, DailyMV2))
        assert [type(op).__name__ for op in change] == ["AlterModelOptions"]
        migrate(alias, state, change)
        assert "> 10" in view_query()
        Ev.objects.using(alias).bulk_create([Ev(day=START, user=1, v=5),
                                             Ev(day=START, user=1, v=50)])
        assert _merged(Daily, alias)[0]["total"] == 50
        unmigrate(alias, state, change)
        assert "> 10" not in view_query()
        delete = [ops.DeleteModel("DailyMV")]
        migrate(alias, state, delete)
        assert not exists(alias, mv)
        unmigrate(alias, state, delete)
        assert " TO " in view_query()
        unmigrate(alias, empty, create)
        assert not any(exists(alias, m._meta.db_table) for m in (Ev, Daily, DailyMV))
    finally:
        drop(alias, mv, Daily._meta.db_table, Ev._meta.db_table)


def _big_model(Ev, at_least, like=None):
    """A plain view: the daily total of the events with v >= ``at_least``."""
    return make_model("Big", {"day": models.DateField(primary_key=True),
                              "total": models.UInt64Field()},
                      view=models.View(Ev.objects.filter(v__gte=at_least).values("day")
                                       .annotate(total=Sum("v"))),
                      table=like._meta.db_table if like else None)


def _add_events(Ev, alias):
    Ev.objects.using(alias).bulk_create([Ev(day=START, user=1, v=5), Ev(day=START, user=2, v=50),
                                         Ev(day=START, user=3, v=60)])


@pytest.mark.parametrize("alias", ALIASES)
def test_plain_view(alias, request):
    use_db(alias, request)
    Ev = _event_model()
    Big = _big_model(Ev, 10)
    try:
        create(alias, Ev, Big)
        _add_events(Ev, alias)
        assert list(Big.objects.using(alias).values_list("day", "total")) == [(START, 110)]
        assert create_query(alias, Big._meta.db_table).startswith("CREATE VIEW")
    finally:
        drop(alias, Big._meta.db_table, Ev._meta.db_table)


@pytest.mark.parametrize("alias", ALIASES)
def test_plain_view_migrations(alias, request):
    """A plain view made by the autodetector (CreateModel), its changed query
    (AlterModelOptions: the view recreated, read through the ORM), DeleteModel,
    and each migrated back."""
    use_db(alias, request)
    Ev = _event_model()
    Big = _big_model(Ev, 10)
    Bigger = _big_model(Ev, 55, like=Big)
    view = Big._meta.db_table

    def totals():
        return list(Big.objects.using(alias).values_list("day", "total"))

    try:
        empty = state_of()
        create_ops = detect(empty, state_of(Ev, Big))
        assert sorted(type(op).__name__ for op in create_ops) == ["CreateModel"] * 2
        state = migrate(alias, empty, create_ops)
        _add_events(Ev, alias)
        assert create_query(alias, view).startswith("CREATE VIEW") and totals() == [(START, 110)]
        change = detect(state, state_of(Ev, Bigger))
        assert [type(op).__name__ for op in change] == ["AlterModelOptions"]
        migrate(alias, state, change)
        assert totals() == [(START, 60)]
        unmigrate(alias, state, change)
        assert totals() == [(START, 110)]
        delete = [ops.DeleteModel("Big")]
        migrate(alias, state, delete)
        assert not exists(alias, view)
        unmigrate(alias, state, delete)
        assert totals() == [(START, 110)]
        unmigrate(alias, empty, create_ops)
        assert not exists(alias, view) and not exists(alias, Ev._meta.db_table)
    finally:
        drop(alias, view, Ev._meta.db_table)


@pytest.mark.parametrize("alias", ALIASES)
def test_view_migration_file_round_trip(alias, request):
    """The migration file makemigrations writes (MigrationWriter) holds the
    compiled SQL; loaded back, its view equals the model's, whether the model
    gives a QuerySet or a function returning one (for models.py)."""
    from django.db.migrations import Migration
    from django.db.migrations.writer import MigrationWriter

    use_db(alias, request)
    Ev = _event_model()
    Daily, DailyMV = _rollup_models(Ev)
    query = DailyMV._meta.view.query
    lazy = models.MaterializedView(lambda: query, to=Daily, populate=True)
    assert lazy == DailyMV._meta.view
    migration = Migration("0001_initial", "modelapp")
    migration.operations = detect(state_of(), state_of(Ev, Daily, DailyMV))
    text = MigrationWriter(migration).as_string()
    assert "clickhouse_backend.models.MaterializedView(" in text and "countState()" in text
    namespace = {}
    exec(text, namespace)
    loaded = [op for op in namespace["Migration"].operations if op.name == "DailyMV"][0]
    assert loaded.options["view"] == lazy
    assert isinstance(loaded.options["view"].query, str)


def _country_model():
    return make_model("Country", {"code": models.StringField(primary_key=True),
                                  "name": models.StringField()},
                      engine=models.MergeTree(order_by="code"))


def _names_model(Country, lifetime=(0, 60), table=None):
    return make_model("CountryNames", {"code": models.StringField(primary_key=True),
                                       "name": models.StringField()},
                      view=models.Dictionary(Country, layout="COMPLEX_KEY_HASHED",
                                             lifetime=lifetime),
                      table=table)


def _drop_dictionary(alias, name):
    if connections[alias].features.supports_dictionaries:  # else: DROP DICTIONARY unknown
        with connections[alias].cursor() as cur:
            cur.execute('DROP DICTIONARY IF EXISTS "%s"' % name)


@pytest.mark.parametrize("alias", ALIASES)
def test_dictionary_and_dict_get(alias, request):
    conn = use_db(alias, request)
    Country = _country_model()
    Names = _names_model(Country)
    Visit = make_model("Visit", {"code": models.StringField(), "n": models.UInt32Field()},
                       engine=models.MergeTree(order_by="code"))
    if refused_without(alias, "supports_dictionaries",
                       "Dictionary .* needs ClickHouse 20.5", Names):
        return
    try:
        create(alias, Country, Visit, Names)
        Country.objects.using(alias).bulk_create([Country(code="DE", name="Germany"),
                                                  Country(code="FR", name="France")])
        Visit.objects.using(alias).bulk_create([Visit(code="FR", n=1), Visit(code="DE", n=2),
                                                Visit(code="XX", n=3)])
        rows = Visit.objects.using(alias).annotate(
            country=models.dictGet(Names, "name", F("code"))).order_by("n")
        assert list(rows.values_list("code", "country")) == \
            [("FR", "France"), ("DE", "Germany"), ("XX", "")]
        assert list(Names.objects.using(alias).order_by("code").values_list("code", "name")) \
            == [("DE", "Germany"), ("FR", "France")]
        assert one(alias, "SELECT type FROM system.dictionaries WHERE database = "
                          "currentDatabase() AND name = %s", [Names._meta.db_table]) \
            == ("ComplexKeyHashed",)
        with conn.schema_editor() as editor:  # RenameModel / AlterModelTable
            editor.alter_db_table(Names, Names._meta.db_table, Names._meta.db_table + "_r")
        assert one(alias, "SELECT count() FROM system.dictionaries WHERE database = "
                          "currentDatabase() AND name = %s", [Names._meta.db_table + "_r"]) \
            == (1,)
        with conn.schema_editor() as editor:
            editor.alter_db_table(Names, Names._meta.db_table + "_r", Names._meta.db_table)
            editor.delete_model(Names)
        assert one(alias, "SELECT count() FROM system.dictionaries WHERE database = "
                          "currentDatabase() AND name = %s", [Names._meta.db_table]) == (0,)
    finally:
        _drop_dictionary(alias, Names._meta.db_table)
        drop(alias, Visit._meta.db_table, Country._meta.db_table)


@pytest.mark.parametrize("alias", ALIASES)
def test_dictionary_migrations(alias, request):
    """A dictionary and its source made by the autodetector (CreateModel), a
    changed declaration (AlterModelOptions: DROP and CREATE DICTIONARY), DeleteModel,
    a new db_table (AlterModelTable: RENAME DICTIONARY), and each migrated back.
    18.16 refuses it, naming 20.5."""
    conn = use_db(alias, request)
    Country = _country_model()
    Names = _names_model(Country)
    name = Names._meta.db_table
    Slower = _names_model(Country, lifetime=(0, 600), table=name)
    Renamed = _names_model(Country, table=name + "_r")
    empty = state_of()
    create_ops = detect(empty, state_of(Country, Names))
    assert sorted(type(op).__name__ for op in create_ops) == ["CreateModel"] * 2
    try:
        if not conn.features.supports_dictionaries:
            with pytest.raises(NotSupportedError, match="Dictionary .* needs ClickHouse 20.5"):
                migrate(alias, empty, create_ops)
            assert not exists(alias, name)
            return
        state = migrate(alias, empty, create_ops)
        Country.objects.using(alias).bulk_create([Country(code="DE", name="Germany")])

        def lifetime():
            return create_query(alias, name).split("LIFETIME(")[1].split(")")[0]

        def names():
            return list(Names.objects.using(alias).values_list("code", "name"))

        assert lifetime() == "MIN 0 MAX 60" and names() == [("DE", "Germany")]
        change = detect(state, state_of(Country, Slower))
        assert [type(op).__name__ for op in change] == ["AlterModelOptions"]
        migrate(alias, state, change)
        assert lifetime() == "MIN 0 MAX 600" and names() == [("DE", "Germany")]
        unmigrate(alias, state, change)
        assert lifetime() == "MIN 0 MAX 60"
        delete = [ops.DeleteModel("CountryNames")]
        migrate(alias, state, delete)
        assert not exists(alias, name)
        unmigrate(alias, state, delete)
        assert names() == [("DE", "Germany")]
        rename = detect(state, state_of(Country, Renamed))
        assert [type(op).__name__ for op in rename] == ["AlterModelTable"]
        migrate(alias, state, rename)  # RENAME DICTIONARY
        assert not exists(alias, name)
        assert list(Renamed.objects.using(alias).values_list("code", "name")) == \
            [("DE", "Germany")]
        unmigrate(alias, state, rename)
        assert names() == [("DE", "Germany")]
        unmigrate(alias, empty, create_ops)
        assert not exists(alias, name) and not exists(alias, Country._meta.db_table)
    finally:
        _drop_dictionary(alias, name)
        _drop_dictionary(alias, name + "_r")
        drop(alias, Country._meta.db_table)
