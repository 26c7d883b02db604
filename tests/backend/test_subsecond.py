"""Date-times with microseconds: stored exactly or refused, never cut.

On the server (18.16 in CI) a DateTimeField is a whole-second DateTime
column: every write path refuses a value with microseconds (DataError naming
the field, the row and the release that keeps them) and stores nothing;
values the backend generates (auto_now, auto_now_add, an AddField fill, the
migration recorder) are whole seconds, and the instance holds what was
stored. On the embedded engine (DateTime64(6)) every value is read back
exactly. Lookups with such a value select exactly the rows the instant
selects on both."""
import datetime
import uuid

import pytest
from django.db import DataError, connections, models as dj
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from clickhouse_backend.utils.timezone import whole_second_now
from tests.backend.conftest import created_tables

ALIASES = ["default", "embedded"]
UTC = datetime.timezone.utc
FRACTION = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
WHOLE = FRACTION.replace(microsecond=0)


def _table_model(name, **fields):
    from django.apps.registry import Apps

    class Meta:
        app_label = "testapp"
        apps = Apps()
        db_table = "%s_%s" % (name, uuid.uuid4().hex[:8])

    return type(name.title(), (dj.Model,), {"__module__": __name__, "Meta": Meta, **fields})


@pytest.fixture(scope="module", params=ALIASES)
def stamps(request):
    request.getfixturevalue("db" if request.param == "default" else "edb")
    conn = connections[request.param]
    Model = _table_model(
        "stamps", tag=dj.CharField(max_length=40, default=""),
        at=dj.DateTimeField(null=True),
        made=dj.DateTimeField(auto_now_add=True),
        touched=dj.DateTimeField(auto_now=True),
        nowish=dj.DateTimeField(default=timezone.now),
        whole=dj.DateTimeField(default=whole_second_now))
    with created_tables(conn, Model):
        yield conn, Model


def _keeps(conn):
    return conn.features.keeps_subsecond_datetimes


def _writes(objs, Model, tag):
    """Every write path of FRACTION into `at`, by name."""
    def save_update():
        obj = objs.get(tag=tag)
        obj.at = FRACTION
        obj.save()

    return {
        "create": lambda: objs.create(tag=tag, at=FRACTION, nowish=WHOLE),
        "bulk_create": lambda: objs.bulk_create(
            [Model(tag=tag, at=WHOLE, nowish=WHOLE), Model(tag=tag, at=FRACTION, nowish=WHOLE)]),
        "save_update": save_update,
        "update": lambda: objs.filter(tag=tag).update(at=FRACTION),
        "case_when": lambda: objs.filter(tag=tag).update(at=Case(
            When(tag=tag, then=Value(FRACTION)), default=F("at"))),
        "coalesce": lambda: objs.filter(tag=tag).update(
            at=Coalesce(Value(FRACTION), F("at"), output_field=dj.DateTimeField())),
    }


@pytest.mark.parametrize("path", ["create", "bulk_create", "save_update", "update",
                                  "case_when", "coalesce"])
def test_every_write_path(stamps, path):
    conn, Model = stamps
    objs = Model.objects.using(conn.alias)
    tag = uuid.uuid4().hex
    if path not in ("create", "bulk_create"):
        objs.create(tag=tag, at=WHOLE, nowish=WHOLE)
    before = sorted(objs.filter(tag=tag).values_list("at", flat=True))
    write = _writes(objs, Model, tag)[path]
    if _keeps(conn):
        write()
        got = set(objs.filter(tag=tag).values_list("at", flat=True))
        assert FRACTION in got and got <= {FRACTION, WHOLE}
        return
    match = r"testapp\.Stamps\.at has microseconds.*ClickHouse 18\.16.*ClickHouse 20\.1"
    match = (r"123456 \(row 2\) for " if path == "bulk_create" else r"123456 for ") + match
    with pytest.raises(DataError, match=match):
        write()
    assert sorted(objs.filter(tag=tag).values_list("at", flat=True)) == before


def test_generated_values_are_stored_exactly(stamps):
    """auto_now/auto_now_add: whole seconds where the column keeps no more;
    the instance holds the stored value (create, save, bulk_create)."""
    conn, Model = stamps
    objs = Model.objects.using(conn.alias)
    tag = uuid.uuid4().hex

    def stored(obj):
        return objs.values_list("made", "touched").get(pk=obj.pk)

    def check(obj):
        assert stored(obj) == (obj.made, obj.touched)
        if not _keeps(conn):
            assert obj.made.microsecond == obj.touched.microsecond == 0

    obj = objs.create(tag=tag, nowish=WHOLE)
    check(obj)
    obj.tag = tag + "!"
    obj.save()
    check(obj)
    obj.save(update_fields=["touched"])
    check(obj)
    (bulk,) = objs.bulk_create([Model(tag=tag, nowish=WHOLE)])
    check(bulk)
    if conn.alias == "default":  # without using(): the router's database
        other = Model(tag=tag, nowish=WHOLE)
        other.save()
        check(other)


def test_callable_default(stamps):
    """default=timezone.now is the user's value: refused on a whole-second
    column (docs/django.md: use whole_second_now); kept exactly elsewhere."""
    conn, Model = stamps
    objs = Model.objects.using(conn.alias)
    tag = uuid.uuid4().hex
    row = objs.create(tag=tag, at=WHOLE) if _keeps(conn) else None
    if row is None:
        with pytest.raises(DataError, match=r"Stamps\.nowish has microseconds"):
            # 1 in 10**6 calls lands on a whole second: try twice.
            objs.create(tag=tag, at=WHOLE)
            objs.create(tag=tag, at=WHOLE)
        row = objs.create(tag=tag, at=WHOLE, nowish=WHOLE)
    assert objs.values_list("nowish", "whole").get(pk=row.pk) == (row.nowish, row.whole)
    assert row.whole.microsecond == 0


def test_add_field_fill_of_auto_now(stamps):
    """AddField of an auto_now column fills existing rows with "now": whole
    seconds where the column keeps no more (Django's effective default)."""
    conn, _ = stamps
    Model = _table_model("fill", tag=dj.CharField(max_length=40, default=""))
    with created_tables(conn, Model):
        Model.objects.using(conn.alias).create(tag="x")
        field = dj.DateTimeField(auto_now=True)
        field.set_attributes_from_name("stamp")
        field.model = Model
        with conn.schema_editor() as editor:
            editor.add_field(Model, field)
        with conn.cursor() as cursor:
            cursor.execute("SELECT stamp FROM %s" % Model._meta.db_table)
            (stamp,) = cursor.fetchone()
        stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        assert abs(stamp - timezone.now()) < datetime.timedelta(minutes=5)
        if not _keeps(conn):
            assert stamp.microsecond == 0


def test_migration_recorder_applied(stamps):
    """The test database was migrated: django_migrations.applied holds what
    the recorder wrote (whole seconds on 18.16, where it was refused before)."""
    from django.db.migrations.recorder import MigrationRecorder
    conn, _ = stamps
    recorder = MigrationRecorder(conn)
    recorder.record_applied("testapp", "subsecond_%s" % uuid.uuid4().hex[:6])
    try:
        applied = list(recorder.migration_qs.values_list("applied", flat=True))
        assert applied
        if not _keeps(conn):
            assert {a.microsecond for a in applied} == {0}
    finally:
        recorder.migration_qs.filter(name__startswith="subsecond_").delete()


LOOKUPS = ["exact", "in", "gt", "gte", "lt", "lte", "range"]


def _python(lookup, stored, value):
    """The rows an exact instant selects, computed here."""
    if lookup == "exact":
        return stored == value
    if lookup == "in":
        return stored in (value, value + datetime.timedelta(days=9))
    if lookup == "range":
        return value <= stored <= value + datetime.timedelta(seconds=2)
    return {"gt": stored > value, "gte": stored >= value,
            "lt": stored < value, "lte": stored <= value}[lookup]


def _rhs(lookup, value):
    if lookup == "in":
        return [value, value + datetime.timedelta(days=9)]
    if lookup == "range":
        return (value, value + datetime.timedelta(seconds=2))
    return value


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_lookups_with_microseconds(stamps, lookup):
    """filter(at__<lookup>=value with microseconds) selects exactly the rows
    whose stored instant compares so (cutting the value would match the
    whole second before it)."""
    conn, Model = stamps
    objs = Model.objects.using(conn.alias)
    tag = uuid.uuid4().hex
    second = datetime.timedelta(seconds=1)
    stored = [WHOLE - second, WHOLE, WHOLE + second, WHOLE + 2 * second, WHOLE + 3 * second]
    if _keeps(conn):
        stored.append(FRACTION)
    objs.bulk_create([Model(tag=tag, at=at, nowish=WHOLE) for at in stored])
    for value in (FRACTION, WHOLE):
        got = set(objs.filter(tag=tag, **{"at__" + lookup: _rhs(lookup, value)})
                  .values_list("at", flat=True))
        assert got == {s for s in stored if _python(lookup, s, value)}, value
        excluded = set(objs.filter(tag=tag).exclude(**{"at__" + lookup: _rhs(lookup, value)})
                       .values_list("at", flat=True))
        assert excluded == set(stored) - got, value


def test_raw_executemany_into_datetime_refused(stamps):
    """The driver's range check: a DateTime column takes whole seconds only
    (DataError naming the row, 0-based, and the column; nothing inserted); DateTime64 keeps them."""
    conn, _ = stamps
    table = "raw_%s" % uuid.uuid4().hex[:8]
    dt64 = ", b DateTime64(6, 'UTC')" if conn.features.supports_datetime64 else ""
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE %s (a DateTime('UTC')%s) ENGINE = Memory" % (table, dt64))
        try:
            rows = [(WHOLE,), (FRACTION,)]
            cols = "a"
            if dt64:
                rows = [(WHOLE, FRACTION), (FRACTION, FRACTION)]
                cols = "a, b"
            with pytest.raises(DataError, match=r"row 1, column 'a' .*has microseconds.*20\.1"):
                cursor.executemany("INSERT INTO %s (%s) VALUES" % (table, cols), rows)
            cursor.execute("SELECT count() FROM %s" % table)
            assert cursor.fetchone() == (0,)
            cursor.executemany("INSERT INTO %s (%s) VALUES" % (table, cols), rows[:1])
            cursor.execute("SELECT * FROM %s" % table)
            assert [tuple(v.replace(tzinfo=UTC) for v in r) for r in cursor.fetchall()] == rows[:1]
        finally:
            cursor.execute("DROP TABLE %s" % table)


def test_case_when_datetime_in_another_time_zone(stamps):
    """A Case/When result date-time is written as the instant it is, whatever
    the current time zone (it was prepared as naive UTC, then read again as
    local time: 7 hours off with TIME_ZONE Asia/Bangkok)."""
    from django.test import override_settings
    conn, Model = stamps
    objs = Model.objects.using(conn.alias)
    tag = uuid.uuid4().hex
    objs.create(tag=tag, at=WHOLE, nowish=WHOLE)
    later = WHOLE + datetime.timedelta(hours=1)
    with override_settings(TIME_ZONE="Asia/Bangkok"):
        objs.filter(tag=tag).update(at=Case(When(tag=tag, then=Value(later)), default=F("at")))
        assert objs.get(tag=tag).at == later
