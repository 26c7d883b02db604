"""What Django 6.x added or changed, on both engines (the 18.16 server and chDB):
expression column defaults, the 6.1 bit aggregates, 6.0's StringAgg and 6.1's
JSONNull. The tests of a feature a Django release lacks skip with that reason
(scripts/test.sh runs this file on Django 5.2 and on 6.1)."""
import contextlib
import datetime
import functools
import operator
import uuid

import django
import pytest
from django.db import NotSupportedError, connections, models as dj
from django.db.migrations import operations as ops
from django.db.migrations.state import ProjectState
from django.db.models.functions import Now

from tests.backend.conftest import use_db
from tests.backend.test_features import _apply
from tests.backend.testapp.models import Plain

ALIASES = ["default", "embedded"]


def _needs_django(version, what):
    if django.VERSION[:2] < version:
        pytest.skip("%s is new in Django %s" % (what, ".".join(map(str, version))))


@contextlib.contextmanager
def _plain_rows(alias, request, prefix):
    """Plain's manager on ``alias``; its rows named ``prefix``* are deleted after."""
    use_db(alias, request)
    objs = Plain.objects.using(alias)
    try:
        yield objs
    finally:
        objs.filter(name__startswith=prefix).delete()


@contextlib.contextmanager
def _migrated_table(alias, name, field):
    """A table of (id, v=field) made by a migration: (its name, the model)."""
    conn = connections[alias]
    table = "verapp_%s_%s" % (name.lower(), uuid.uuid4().hex[:6])
    state = _apply(alias, ProjectState(), ops.CreateModel(name, [
        ("id", dj.BigAutoField(primary_key=True)), ("v", field),
    ], options={"db_table": table}), app="verapp")
    try:
        yield table, state.apps.get_model("verapp", name)
    finally:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS "%s"' % table)


def _default_filled(alias, name, field):
    """The column DEFAULT of ``field``: (its expression, the value of a row
    inserted without it)."""
    with _migrated_table(alias, name, field) as (table, _), \
            connections[alias].cursor() as cur:
        cur.execute("SELECT default_expression FROM system.columns WHERE database = "
                    "currentDatabase() AND table = %s AND name = 'v'", [table])
        (expression,) = cur.fetchone()
        cur.execute('INSERT INTO "%s" (id) VALUES (1)' % table)
        cur.execute('SELECT v FROM "%s"' % table)
        return expression, cur.fetchone()[0]


@pytest.mark.parametrize("alias", ALIASES)
def test_expression_db_default_is_compiled_for_clickhouse(alias, request):
    # Now() as a column DEFAULT is now() (CURRENT_TIMESTAMP is unknown to 18.16).
    use_db(alias, request)
    expression, at = _default_filled(alias, "NowDefault", dj.DateTimeField(db_default=Now()))
    assert expression.startswith("now")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs(at.replace(tzinfo=None) - now) < datetime.timedelta(minutes=5)


@pytest.mark.parametrize("alias", ALIASES)
def test_bit_aggregates_on_signed_integers(alias, request):
    # groupBitAnd/Or/Xor take signed integers from 23.5 only: on 18.16 the
    # backend aggregates the same bits as unsigned; the results are exact.
    _needs_django((6, 1), "BitAnd/BitOr/BitXor")
    from django.db.models import BitAnd, BitOr, BitXor
    values = [-1, 5, -2**31, 2**31 - 1, 12, -7]
    with _plain_rows(alias, request, "bit_") as objs:
        for v in values:
            objs.create(name="bit_", value=v)
        q = objs.filter(name="bit_")
        got = q.aggregate(a=BitAnd("value"), o=BitOr("value"), x=BitXor("value"))
        assert got == {"a": functools.reduce(operator.and_, values),
                       "o": functools.reduce(operator.or_, values),
                       "x": functools.reduce(operator.xor, values)}
        # The Int64 id column: the full 64-bit range.
        ids = list(q.values_list("id", flat=True))
        assert q.aggregate(x=BitXor("id")) == {"x": functools.reduce(operator.xor, ids)}


@pytest.mark.parametrize("alias", ALIASES)
def test_string_agg(alias, request):
    _needs_django((6, 0), "StringAgg")
    from django.db.models import StringAgg, Value
    with _plain_rows(alias, request, "sa_") as objs:
        for name in ("sa_b", "sa_a", "sa_c"):
            objs.create(name=name)
        q = objs.filter(name__startswith="sa_")
        if connections[alias].server_version < (26, 5):
            with pytest.raises(NotSupportedError, match="26.5"):
                q.aggregate(s=StringAgg("name", Value(",")))
            return
        got = q.aggregate(s=StringAgg("name", Value(",")))["s"]
        assert sorted(got.split(",")) == ["sa_a", "sa_b", "sa_c"]


@pytest.mark.parametrize("alias", ALIASES)
def test_json_null_db_default_is_json_null(alias, request):
    # JSONNull() is the JSON text null, not SQL NULL (the column is not Nullable).
    _needs_django((6, 1), "JSONNull")
    use_db(alias, request)
    field = dj.JSONField(db_default=dj.JSONNull())
    assert _default_filled(alias, "JNull", field) == ("'null'", "null")
    # The ORM's INSERT writes it too (the column is not left out).
    with _migrated_table(alias, "JNullOrm", field) as (table, model):
        obj = model.objects.using(alias).create()
        assert obj.v is None
        with connections[alias].cursor() as cur:
            cur.execute('SELECT v FROM "%s"' % table)
            assert cur.fetchall() == [("null",)]


@pytest.mark.parametrize("alias", ALIASES)
def test_database_on_delete_is_refused_by_the_system_checks(alias, request):
    # No foreign keys in ClickHouse: Django 6.1's DB_CASCADE/DB_SET_NULL/
    # DB_SET_DEFAULT would do nothing, so the checks report them.
    _needs_django((6, 1), "database-level on_delete")
    from django.apps.registry import Apps
    use_db(alias, request)
    apps = Apps(["tests.backend.testapp"])
    for name, on_delete, kwargs in (("Cascade", dj.DB_CASCADE, {}),
                                    ("SetNull", dj.DB_SET_NULL, {"null": True})):
        model = type("Db%sChild" % name, (dj.Model,), {
            "__module__": __name__, "Meta": type("Meta", (), {"app_label": "testapp", "apps": apps}),
            "parent": dj.ForeignKey(Plain, on_delete=on_delete, **kwargs)})
        errors = model.check(databases=[alias])
        assert [e.msg for e in errors if e.id == "fields.E324"] == [
            "%s does not support a %s." % (connections[alias].display_name, on_delete.__name__)]


@pytest.mark.parametrize("alias", ALIASES)
def test_json_null_is_stored_as_json_null(alias, request):
    # Saving JSONNull() writes the JSON text null (SQL NULL is None), as
    # Django's JSONField.get_db_prep_save does.
    _needs_django((6, 1), "JSONNull")
    with _plain_rows(alias, request, "jn_") as objs:
        made = objs.create(name="jn_", data=dj.JSONNull())
        objs.create(name="jn_", data=None)
        assert made.data is None
        with connections[alias].cursor() as cur:
            cur.execute("SELECT data FROM testapp_plain WHERE name = 'jn_'")
            assert set(cur.fetchall()) == {(None,), ("null",)}


@pytest.mark.parametrize("alias", ALIASES)
def test_json_field_in_values_are_json_encoded(alias, request):
    # Django 6.1 encodes the Values of data__in=[...] as JSON (JSONIn); the
    # backend's one-by-one IN of expressions keeps that.
    _needs_django((6, 1), "JSONField's own __in lookup")
    from django.db.models import Value
    with _plain_rows(alias, request, "jin_") as objs:
        t, s, n = (objs.create(name="jin_", data=v) for v in (True, "yes", 7))

        def pks(values):
            return sorted(objs.filter(name="jin_", data__in=values).values_list("pk", flat=True))
        assert pks([Value(True)]) == [t.pk]
        assert pks([Value("yes")]) == [s.pk]
        assert pks([Value(7), Value("yes")]) == sorted([s.pk, n.pk])
        # JSONNull() is a value here (the JSON text null), not the SQL NULL IN drops.
        j = objs.create(name="jin_", data=dj.JSONNull())
        assert pks([dj.JSONNull(), [1], "yes"]) == sorted([s.pk, j.pk])


@pytest.mark.parametrize("alias", ALIASES)
def test_clickhouse_model_save_of_an_existing_row(alias, request):
    """save() on a row that exists is an UPDATE mutation; Django 6.x expects the
    returned rows of _do_update, 5.2 a bool (it crashed with 'bool' object is not
    subscriptable on 6.x)."""
    from tests.backend.testapp.models import Event

    use_db(alias, request)
    objs = Event.objects.using(alias)
    e = objs.create(port=1, content="before", action=2)
    try:
        e.content, e.port = "after", 2
        if connections[alias].features.can_update_enum_columns:
            e.action = 3
            e.save()
            expected = ("after", 2, 3)
        else:  # Event.action is an Enum: refused, nothing written
            with pytest.raises(NotSupportedError, match="Enum column action needs ClickHouse 19.1"):
                e.save()
            e.save(update_fields=["content", "port"])
            expected = ("after", 2, 2)
        e.save(update_fields=["content"])
        got = objs.get(pk=e.pk)
        assert (got.content, got.port, got.action) == expected
    finally:
        objs.filter(pk=e.pk).delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_embedded_engine_listings_apply_to_it_alone(alias, request, monkeypatch):
    """tests/django_settings/skips.py's EMBEDDED_LISTED (what chDB cannot do
    whatever its version, such as a test whose subprocess opens the locked
    data directory) reaches Django's skips (DatabaseFeatures.django_test_skips,
    through the listing the test settings name) on an embedded connection only."""
    from tests.django_settings import skips as listing

    _needs_django((6, 1), "the subprocess migrations test")
    use_db(alias, request)
    for name in ("DJANGO_CH_NO_SKIPS", "DJANGO_CH_LISTED_ONLY"):
        monkeypatch.delenv(name, raising=False)
    conn = connections[alias]
    monkeypatch.setitem(conn.settings_dict, "TEST",
                        {**conn.settings_dict.get("TEST", {}),
                         "django_suite_listing": "tests.django_settings.skips"})
    conn.features.__dict__.pop("django_test_skips", None)  # a cached_property
    skips = conn.features.django_test_skips
    conn.features.__dict__.pop("django_test_skips", None)
    test = ("migrations.test_loader.LoaderTests."
            "test_loading_order_does_not_create_circular_dependency")
    assert (test in skips.get(listing.EMBEDDED_ONE_PROCESS, ())) == (alias == "embedded")


@pytest.mark.parametrize("alias", ALIASES)
def test_no_listing_no_skips(alias, request, monkeypatch):
    """The package carries no list of Django's tests: without a listing named
    in DATABASES[alias]["TEST"], Django's suite would skip nothing."""
    use_db(alias, request)
    conn = connections[alias]
    test_settings = dict(conn.settings_dict.get("TEST") or {})
    test_settings.pop("django_suite_listing", None)
    monkeypatch.setitem(conn.settings_dict, "TEST", test_settings)
    for name in ("django_test_skips", "django_test_expected_failures"):
        conn.features.__dict__.pop(name, None)  # cached_properties
    try:
        assert conn.features.django_test_skips == {}
        assert conn.features.django_test_expected_failures == set()
    finally:
        for name in ("django_test_skips", "django_test_expected_failures"):
            conn.features.__dict__.pop(name, None)
