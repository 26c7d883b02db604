"""Django database functions, casts, date/time extraction and truncation,
Decimal lookups and JSONField key lookups on the real server (18.16 in CI)
and on the embedded engine (chDB): the SQL the backend writes for them must
give the values other databases give."""
import datetime
import decimal
import uuid

import pytest

from tests.backend.conftest import use_db
from django.db import DataError, NotSupportedError, connections, models as dj
from django.db.models import F, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import (
    ATan2, Cast, Chr, Concat, Degrees, Extract, ExtractHour, ExtractMinute, Greatest, JSONArray,
    JSONObject, NullIf,
    Least, Left, Length, Lower, LPad, LTrim, Mod, Ord, Power, Radians, Repeat, Right, RTrim,
    Now, SHA512, Substr, Trim, Trunc, TruncDate, TruncHour, TruncTime,
)

UTC = datetime.timezone.utc
ALIASES = ["default", "embedded"]


def _model():
    from django.apps.registry import Apps

    class Meta:
        app_label = "testapp"
        apps = Apps()
        db_table = "fn_%s" % uuid.uuid4().hex[:8]

    return type("Fn", (dj.Model,), {
        "__module__": __name__, "Meta": Meta,
        "name": dj.CharField(max_length=50, default=""),
        "n": dj.IntegerField(null=True),
        "f1": dj.FloatField(null=True), "f2": dj.FloatField(null=True),
        "d1": dj.DecimalField(max_digits=6, decimal_places=2, null=True),
        "d2": dj.DecimalField(max_digits=9, decimal_places=7, null=True),
        "small": dj.DecimalField(max_digits=5, decimal_places=3, null=True),
        "t": dj.TimeField(null=True),
        "at": dj.DateTimeField(null=True),
        "data": dj.JSONField(null=True),
        "pos": dj.PositiveIntegerField(default=0),
    })


@pytest.fixture(params=ALIASES)
def fn(request):
    request.getfixturevalue("db" if request.param == "default" else "edb")
    conn = connections[request.param]
    Model = _model()
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    try:
        yield conn, Model.objects.using(request.param)
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


def _modern(conn):
    return conn.server_version >= (21, 9)


# ---- dates and times ----------------------------------------------------------

def test_offset_time_zone_with_minutes(fn):
    conn, objs = fn
    at = datetime.datetime(2015, 6, 15, 23, 30, 1, tzinfo=UTC)
    objs.create(at=at)
    tz = datetime.timezone(datetime.timedelta(hours=-5, minutes=17))  # UTC-04:43
    row = objs.annotate(h=ExtractHour("at", tzinfo=tz), m=ExtractMinute("at", tzinfo=tz),
                        day=Trunc("at", "day", tzinfo=tz)).values_list("h", "m", "day").get()
    local = at.astimezone(tz)
    assert row[:2] == (local.hour, local.minute) == (18, 47)
    assert row[2] == datetime.datetime(2015, 6, 15, tzinfo=tz)


def test_truncate_datetime_to_date_and_time_in_time_zone(fn):
    import zoneinfo

    conn, objs = fn
    objs.create(at=datetime.datetime(2016, 6, 15, 22, 10, 50, tzinfo=UTC))
    melb = zoneinfo.ZoneInfo("Australia/Melbourne")  # UTC+10 in June: the 16th, 08:10
    row = objs.annotate(
        d=Trunc("at", "day", output_field=dj.DateField(), tzinfo=melb),
        dd=TruncDate("at", tzinfo=melb),
        h=TruncHour("at", output_field=dj.TimeField(), tzinfo=melb),
        hu=TruncHour("at", output_field=dj.TimeField()),
    ).values_list("d", "dd", "h", "hu").get()
    assert row == (datetime.date(2016, 6, 16), datetime.date(2016, 6, 16),
                   datetime.time(8, 0), datetime.time(22, 0))


def test_time_of_datetime_compares_with_python_times(fn):
    conn, objs = fn
    at = datetime.datetime(2015, 6, 15, 14, 30, 26, tzinfo=UTC)  # no microseconds
    objs.create(at=at, t=datetime.time(9, 5, 7))
    assert objs.filter(at__time=datetime.time(14, 30, 26)).count() == 1
    assert objs.annotate(x=TruncTime("at")).filter(x=datetime.time(14, 30, 26)).count() == 1
    if conn.features.supports_microsecond_precision:
        objs.create(at=at.replace(microsecond=321), name="micro")
        assert objs.filter(at__time=datetime.time(14, 30, 26, 321)).get().name == "micro"
    # Extracting from a time column, NULLs included (no parsing of '').
    objs.create(name="null time")
    assert sorted(objs.annotate(h=ExtractHour("t")).values_list("h", flat=True),
                  key=lambda v: (v is None, v)) == [9] + [None] * (objs.count() - 1)


def test_date_of_datetime_before_1970(fn):
    # toDate() of a DateTime64 before 1970 wraps (1945 -> 2124): on servers
    # with Date32 the date of a datetime is toDate32(); 18.16 (no DateTime64,
    # no Date32) keeps toDate().
    conn, objs = fn
    if not conn.features.supports_date32:
        sql = str(objs.annotate(d=TruncDate("at")).values("d").query)
        assert "toDate(" in sql and "toDate32" not in sql
        return
    objs.create(name="old", at=datetime.datetime(1945, 4, 25, 16, 24, 14, tzinfo=UTC))
    objs.create(name="new", at=datetime.datetime(2001, 3, 15, 11, 23, 37, tzinfo=UTC))
    rows = objs.annotate(
        d=TruncDate("at"), day=Trunc("at", "day", output_field=dj.DateField()),
        delta=dj.ExpressionWrapper(TruncDate("at") - Value(datetime.date(1945, 1, 1)),
                                   output_field=dj.DurationField()),
    ).order_by("at").values_list("at__date", "d", "day", "delta")
    assert list(rows) == [
        (datetime.date(1945, 4, 25),) * 3 + (datetime.timedelta(days=114),),
        (datetime.date(2001, 3, 15),) * 3 + (datetime.timedelta(days=20527),),
    ]
    assert objs.filter(at__date=datetime.date(1945, 4, 25)).get().name == "old"
    assert list(objs.values("at__date").annotate(n=dj.Count("id"))
                .order_by("at__date").values_list("at__date", "n")) == [
        (datetime.date(1945, 4, 25), 1), (datetime.date(2001, 3, 15), 1)]


class NowUTC(Now):
    """Django's aggregation tests' NowUTC: takes features.test_now_utc_template."""
    template = "CURRENT_TIMESTAMP"
    output_field = dj.DateTimeField()

    def as_sql(self, compiler, connection, **extra_context):
        if connection.features.test_now_utc_template:
            extra_context["template"] = connection.features.test_now_utc_template
        return super().as_sql(compiler, connection, **extra_context)


def test_now_utc_is_utc_whatever_the_session_time_zone(fn):
    # now() is in the server's (chDB: the process's) time zone; a Now subclass
    # with its own as_sql must not be replaced by the inherited as_clickhouse.
    conn, objs = fn
    objs.create(name="x")
    qs = objs.annotate(
        h=TruncHour(NowUTC(), output_field=dj.TimeField()),
        dt=TruncHour(NowUTC(), output_field=dj.DateTimeField()),
    ).values_list("h", "dt")
    before = datetime.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    sql, params = qs.query.get_compiler(using=conn.alias).as_sql()
    assert conn.features.test_now_utc_template in sql % tuple(params)
    if "session_timezone" in conn.server_settings():
        sql += " SETTINGS session_timezone = 'America/Chicago'"
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        (h, dt), = cursor.fetchall()
    after = datetime.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert h in {before.strftime("%H:00:00"), after.strftime("%H:00:00")}
    if isinstance(dt, datetime.datetime):
        dt = dt.replace(tzinfo=None)
    assert dt in {before.replace(tzinfo=None), after.replace(tzinfo=None)}


def test_decimal_aggregate_with_float_default_keeps_its_digits(fn):
    # COALESCE(sum(Decimal), pi()) is computed in Float64: the value read
    # back is not quantized to the column's decimal_places (only a column's
    # own value is, as on SQLite): pi, not 3.14.
    import math
    from django.db.models import Sum
    from django.db.models.functions import Pi

    conn, objs = fn
    value = objs.aggregate(v=Sum("d1", default=Pi()))["v"]
    assert abs(value - decimal.Decimal.from_float(math.pi)) < decimal.Decimal("1e-9")
    objs.create(d1=decimal.Decimal("1.25"))
    objs.create(d1=decimal.Decimal("2.50"))
    assert objs.aggregate(v=Sum("d1", default=Pi()))["v"] == decimal.Decimal("3.75")


def test_invalid_kind_is_a_data_error(fn):
    conn, objs = fn
    with pytest.raises(DataError):
        list(objs.filter(at__date=Trunc("at", "year', at)) OR 1=1;--")))
    with pytest.raises(ValueError):
        list(objs.annotate(x=Extract("at", "year') OR 1=1;--")))


def test_year_lookups_use_extract_and_between(fn):
    conn, objs = fn
    objs.create(at=datetime.datetime(2015, 6, 15, 14, 10, tzinfo=UTC))
    objs.create(at=datetime.datetime(2016, 6, 15, 14, 10, tzinfo=UTC))
    assert objs.filter(at__year=2015).count() == 1
    assert objs.filter(at__year=F("n")).count() == 0
    assert "EXTRACT(YEAR FROM" in str(objs.filter(at__year=F("n")).query)


# ---- NOT NULL and integer ranges ------------------------------------------------

def test_null_and_out_of_range_values_are_refused(fn):
    from django.db import IntegrityError

    conn, objs = fn
    with pytest.raises(IntegrityError):
        objs.create(name=None)  # not 0 / '' silently
    with pytest.raises(IntegrityError):
        objs.create(pos=-1)  # not 4294967295
    with pytest.raises(DataError):
        objs.create(n=2**31)  # Int32
    model = objs.model
    with pytest.raises(DataError):  # bulk_create's fast path checks the same, in bulk
        objs.bulk_create([model(n=1), model(n=-2**31 - 1), model(n=2)])
    with pytest.raises(IntegrityError):
        objs.bulk_create([model(pos=1), model(pos=-5)])
    assert objs.count() == 0
    objs.create(n=2**31 - 1, pos=2**32 - 1)
    assert objs.values_list("n", "pos").get() == (2**31 - 1, 2**32 - 1)
    with pytest.raises(DataError):  # UPDATE values are checked as well
        objs.update(n=2**31)
    # compared values are not: out of range matches nothing (e.g. a snowflake id
    # looked up in a 32-bit object_id column), as on other databases
    assert objs.filter(n__in=[2**40, 2**31 - 1]).count() == 1
    assert not objs.filter(pos__in=[-1, 2**62]).exists()
    assert objs.values_list("n", flat=True).get() == 2**31 - 1


# ---- math and text functions --------------------------------------------------

def test_math_on_decimals_and_floats(fn):
    conn, objs = fn
    objs.create(d1=decimal.Decimal("-9.9"), d2=decimal.Decimal("4.6"), f1=-25, f2=0.33, n=3)
    row = objs.annotate(
        mod_d=Mod("d1", "d2"), mod_f=Mod("f1", "f2"), mod_null=Mod("n", "small"),
        pow_d=Power("d2", "d2"), deg=Degrees("d1"), rad=Radians("d2"), at2=ATan2("f1", "d2"),
    ).values_list("mod_d", "mod_f", "mod_null", "pow_d", "deg", "rad", "at2").get()
    import math
    assert isinstance(row[0], decimal.Decimal) and abs(row[0] - decimal.Decimal("-0.7")) < 1e-9
    assert abs(row[1] - math.fmod(-25, 0.33)) < 1e-9 and row[2] is None
    assert isinstance(row[3], decimal.Decimal) and abs(float(row[3]) - 4.6 ** 4.6) < 1e-6
    assert abs(float(row[4]) - math.degrees(-9.9)) < 1e-9
    assert abs(float(row[5]) - math.radians(4.6)) < 1e-9
    assert abs(float(row[6]) - math.atan2(-25, 4.6)) < 1e-9
    # Decimals of different scales (no common type in 18.16's if()).
    assert objs.filter(d1__isnull=False).annotate(g=Greatest("d1", "d2"), l=Least("d1", "d2")) \
        .values_list("g", "l").get() == (decimal.Decimal("4.6"), decimal.Decimal("-9.9"))
    # NULL arguments give NULL (18.16 evaluates NULL rows on 0: no division by zero).
    objs.create(n=5)
    assert list(objs.filter(d1__isnull=True).annotate(
        a=ATan2("f1", "d2"), m=Mod("n", "small"), z=NullIf("n", Value(None))).values_list(
        "a", "m", "z")) == [(None, None, 5)]
    # More places than the column: rounded, as other databases store them.
    p = objs.create(d2=decimal.Decimal("3.14159265"), name="pi")
    assert objs.get(pk=p.pk).d2 == decimal.Decimal("3.1415927")


def test_text_functions(fn):
    conn, objs = fn
    objs.create(name="  Élena  ", n=2)
    objs.create(name="John", n=None)
    q = objs.order_by("name")
    assert list(q.annotate(x=Trim("name")).values_list("x", flat=True)) == ["Élena", "John"]
    assert list(q.annotate(x=LTrim("name")).values_list("x", flat=True)) == ["Élena  ", "John"]
    assert list(q.annotate(x=RTrim("name")).values_list("x", flat=True)) == ["  Élena", "John"]
    assert list(q.annotate(x=Ord(Trim("name"))).values_list("x", flat=True)) == [201, 74]
    assert list(q.annotate(x=Chr(Ord(Trim("name")))).values_list("x", flat=True)) == ["É", "J"]
    assert objs.annotate(c=Chr(Value(0x1F600))).values_list("c", flat=True)[0] == "\U0001F600"
    assert list(q.annotate(x=Repeat(Lower(Trim("name")), F("n"))).values_list("x", flat=True)) == \
        ["élenaélena", None]
    assert list(q.annotate(x=Concat(Trim("name"), "n", output_field=dj.CharField())).values_list("x", flat=True)) == \
        ["Élena2", "John"]
    # Offsets/lengths that are expressions (constants only in 18.16's substringUTF8).
    two = Value(1) + Value(1)
    assert list(q.annotate(x=Substr(Trim("name"), two, two)).values_list("x", flat=True)) == \
        ["le", "oh"]
    assert list(q.annotate(x=Left(Trim("name"), two)).values_list("x", flat=True)) == ["Él", "Jo"]
    assert list(q.annotate(x=Right(Trim("name"), two)).values_list("x", flat=True)) == ["na", "hn"]
    assert list(q.annotate(x=Right("name", Length("name") * 0)).values_list("x", flat=True)) == \
        ["", ""]
    assert list(q.annotate(x=Right("name", F("n"))).values_list("x", flat=True)) == ["  ", None]
    assert list(q.annotate(x=Substr("name", F("n"))).values_list("x", flat=True)) == \
        [" Élena  ", None]
    # greatest()/least() of strings (numbers only before 20.4); NULL if any is.
    assert list(q.annotate(x=Greatest(Trim("name"), Value("K")), y=Least("name", Value("K")),
                           z=Greatest("name", Cast("n", dj.CharField()))).values_list(
        "x", "y", "z")) == [("Élena", "  Élena  ", "2"), (
            "K", "John", "John" if conn.features.greatest_least_ignores_nulls else None)]


def test_functions_the_server_lacks_raise_not_supported(fn):
    conn, objs = fn
    objs.create(name="x")
    if conn.server_version >= (21, 9):
        assert objs.annotate(p=LPad("name", 3, Value("ab"))).values_list("p", flat=True)[0] == "abx"
        assert len(objs.annotate(h=SHA512("name")).values_list("h", flat=True)[0]) == 128
        assert objs.annotate(a=JSONArray("name", Value(1), JSONArray())).values_list(
            "a", flat=True)[0] == ["x", 1, []]
        assert objs.annotate(o=JSONObject(n="name", z=Value(None, dj.IntegerField()),
                                          inner=JSONObject(a=JSONArray()))).values_list(
            "o", flat=True)[0] == {"n": "x", "z": None, "inner": {"a": []}}
    else:
        for expr in (LPad("name", 3, Value("ab")), SHA512("name"), JSONArray("name")):
            with pytest.raises(NotSupportedError, match="needs .*ClickHouse 21"):
                list(objs.annotate(x=expr))
        with pytest.raises(NotSupportedError, match="not supported"):
            list(objs.annotate(x=JSONObject(n="name")))


def test_casts(fn):
    conn, objs = fn
    objs.create(name="Bob", f1=-1.934, f2=3.467)
    objs.create(name="Al")
    row = objs.filter(name="Bob").annotate(
        c=Cast("name", dj.CharField(max_length=1)),
        x1=Cast("f1", dj.DecimalField(max_digits=8, decimal_places=2)),
        x2=Cast("f2", dj.DecimalField(max_digits=8, decimal_places=1)),
    ).values_list("c", "x1", "x2").get()
    assert row == ("B", decimal.Decimal("-1.93"), decimal.Decimal("3.5"))
    # A NULL survives the cast (CAST(NULL AS Float64) is an error).
    assert objs.filter(name="Al").annotate(x=Cast("f1", dj.IntegerField())).values_list(
        "x", flat=True).get() is None


def test_decimal_lookup_beyond_the_column_precision(fn):
    conn, objs = fn
    objs.create(small=decimal.Decimal("12.345"))
    assert list(objs.filter(small__gte=100000000000)) == []
    assert objs.filter(small__lt=100000000000).count() == 1
    # More places than the column: compared exactly, not cut to 3 places.
    assert objs.filter(small=decimal.Decimal("12.3451")).count() == 0
    assert objs.filter(small__gt=decimal.Decimal("12.3449")).count() == 1


# ---- JSONField key lookups ----------------------------------------------------

def test_json_key_lookups(fn):
    conn, objs = fn
    values = [{"a": "b", "c": 14}, {"c": 2.5, "k": {"l": "m"}, "j": None, "h": True},
              {"c": "x", "foo": "bar", "bax": {"foo": "bar"}}, [1, [2]]]
    made = [objs.create(data=v) for v in values]
    if not conn.features.supports_json_functions:
        with pytest.raises(NotSupportedError, match="19.4"):
            list(objs.filter(data__c=14))
        return

    def ids(**lookup):
        return sorted(made.index(o) for o in objs.filter(**lookup))

    assert ids(data__k={"l": "m"}) == [1]           # {"l": "m"} vs stored {"l":"m"}
    assert ids(data__c=2.50) == [1]
    assert ids(data__j=None) == [1]
    assert ids(data__c__in=[14, 15]) == [0] and ids(data__0__in=[1]) == [3]
    assert ids(data__bax__in=[{"foo": "bar"}, {"a": "b"}]) == [2]
    assert ids(data__foo__in=[KeyTransform("foo", KeyTransform("bax", "data")), "baz"]) == [2]
    assert ids(data__c__gt=2) == [0, 1] and ids(data__c__lt=5) == [1]  # "x" is no number
    assert ids(data__c__gt="w") == [2]
    ordered = objs.filter(data__c__isnull=False).order_by("data__c")
    assert [o.data["c"] for o in ordered] == [2.5, 14, "x"]
    chain = objs.filter(data__k__isnull=False).annotate(
        key=KeyTransform("k", "data"), a=KeyTransform("l", "key"),
        b=KeyTransform("l", Cast("key", dj.JSONField()))).filter(a=F("b"))
    assert [o.pk for o in chain] == [made[1].pk]


# ---- every ClickHouse field type (issue #4's list) and its lookups -------------

def _ch_model(name, fields, order_by="id"):
    from django.apps.registry import Apps

    from clickhouse_backend import models

    class Meta:
        app_label = "testapp"
        apps = Apps()
        db_table = "%s_%s" % (name.lower(), uuid.uuid4().hex[:8])
        engine = models.MergeTree(order_by=order_by)

    return type(name, (models.ClickhouseModel,), {"__module__": __name__, "Meta": Meta, **fields})


def _roundtrip_and_lookups(alias, Model, rows, checks):
    """Create the table, insert rows, read them back and run (lookup, value,
    expected row indexes) checks; drop the table."""
    conn = connections[alias]
    with conn.schema_editor() as editor:
        editor.create_model(Model)
    try:
        objs = Model.objects.using(alias)
        made = objs.bulk_create([Model(**r) for r in rows])
        for obj, row in zip(made, rows):
            got = objs.get(pk=obj.pk)
            for field, value in row.items():
                assert getattr(got, field) == value, (field, getattr(got, field), value)
        for lookup, value, expected in checks:
            found = sorted(made.index(next(m for m in made if m.pk == o.pk))
                           for o in objs.filter(**{lookup: value}))
            assert found == expected, (lookup, value, found)
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Model)


@pytest.mark.parametrize("alias", ALIASES)
def test_every_field_type_on_every_server(alias, request):
    from clickhouse_backend import models

    use_db(alias, request)
    ints = {"Int%d" % b: models.__dict__["Int%dField" % b] for b in (8, 16, 32, 64)}
    ints.update({"UInt%d" % b: models.__dict__["UInt%dField" % b] for b in (8, 16, 32, 64)})
    fields = {name.lower(): cls(default=0) for name, cls in ints.items()}
    fields.update({
        "f32": models.Float32Field(default=0), "f64": models.Float64Field(default=0),
        "dec": models.DecimalField(max_digits=9, decimal_places=3, default=0),
        "flag": models.BoolField(default=False),
        "s": models.StringField(default="", low_cardinality=True),
        "fixed": models.FixedStringField(max_bytes=4, default=""),
        "u": models.UUIDField(null=True),
        "day": models.DateField(null=True), "at": models.DateTimeField(null=True),
        "e8": models.Enum8Field(choices=[(1, "a"), (-2, "b")], default=1),
        "e16": models.Enum16Field(choices=[(1000, "x"), (2000, "y")], default=1000),
        "ip4": models.IPv4Field(null=True), "ip6": models.IPv6Field(null=True),
        "gip": models.GenericIPAddressField(null=True, unpack_ipv4=True),
        "arr": models.ArrayField(models.Int32Field(), default=list),
        "tup": models.TupleField([("a", models.Int32Field()), ("b", models.StringField())],
                                 default=(0, "")),
        "utup": models.TupleField([models.StringField(), models.Int8Field()], default=("", 0)),
    })
    Model = _ch_model("AllTypes", fields)
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    rows = [
        {"int8": -128, "int16": -32768, "int32": -2**31, "int64": -2**63, "uint8": 255,
         "uint16": 65535, "uint32": 2**32 - 1, "uint64": 2**64 - 1, "f32": 1.5, "f64": -2.25,
         "dec": decimal.Decimal("123456.789"), "flag": True, "s": "lc", "fixed": "ab",
         "u": u, "day": datetime.date(2021, 5, 5),
         "at": datetime.datetime(2021, 5, 5, 10, 20, 30, tzinfo=UTC), "e8": -2, "e16": 2000,
         "ip4": "10.0.0.1", "ip6": "2001:db8::1", "gip": "192.168.0.1",
         "arr": [1, 2, 3], "tup": (7, "seven"), "utup": ("u", -1)},
        {"arr": [3, 4], "s": "other", "e8": 1, "tup": (8, "eight")},
        {},
    ]
    checks = [
        ("int64", -2**63, [0]), ("uint64__gt", 2**63, [0]), ("uint8__in", [255, 1], [0]),
        ("int16__lt", 0, [0]), ("uint32", 2**32 - 1, [0]),
        ("f32__gt", 1, [0]), ("f64__lt", -2, [0]),
        ("dec", decimal.Decimal("123456.789"), [0]), ("dec__gt", 100, [0]),
        ("flag", True, [0]), ("s", "lc", [0]), ("s__startswith", "oth", [1]),
        ("fixed", "ab", [0]), ("u", u, [0]), ("u__isnull", True, [1, 2]),
        ("day__year", 2021, [0]), ("at__hour", 10, [0]), ("at__date", datetime.date(2021, 5, 5), [0]),
        ("e8", -2, [0]), ("e8__in", [1], [1, 2]), ("e16", 2000, [0]),
        ("ip4", "10.0.0.1", [0]), ("ip6", "2001:db8::1", [0]), ("gip", "192.168.0.1", [0]),
        ("arr__contains", [3], [0, 1]), ("arr__contained_by", [1, 2, 3, 9], [0, 2]),
        ("arr__overlap", [4, 9], [1]), ("arr__any", 2, [0]), ("arr__len", 2, [1]),
        ("arr__0", 3, [1]), ("arr__1_3", [2, 3], [0]), ("arr", [3, 4], [1]),
        ("tup__a", 8, [1]), ("tup__b", "seven", [0]), ("tup__1", "eight", [1]),
        ("utup__0", "u", [0]), ("utup__1", -1, [0]),
    ]
    _roundtrip_and_lookups(alias, Model, rows, checks)


def test_modern_field_types_embedded(edb):
    from clickhouse_backend import models

    Model = _ch_model("Modern", {
        "i128": models.Int128Field(default=0), "i256": models.Int256Field(default=0),
        "u128": models.UInt128Field(default=0), "u256": models.UInt256Field(default=0),
        "d32": models.Date32Field(null=True),
        "at64": models.DateTime64Field(precision=3, null=True),
        "flag": models.BoolField(default=False),
        "m": models.MapField(models.StringField(), models.Int64Field(), default=dict),
        "doc": models.JSONField(null=True),
    })
    rows = [
        {"i128": -2**127, "i256": 2**255 - 1, "u128": 2**128 - 1, "u256": 2**256 - 1,
         "d32": datetime.date(1950, 1, 2),
         "at64": datetime.datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC), "flag": True,
         "m": {"a": 1, "b": 2}, "doc": {"k": {"n": 5}, "arr": [1, 2]}},
        {"m": {"c": 3}, "doc": {"k": {"n": 6}}},
    ]
    checks = [
        ("i128", -2**127, [0]), ("i256__gt", 0, [0]), ("u128", 2**128 - 1, [0]),
        ("u256__gt", 2**255, [0]), ("d32__lt", datetime.date(1970, 1, 1), [0]),
        ("at64", datetime.datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC), [0]),
        ("at64__second", 0, [0]), ("flag", True, [0]),
        ("m__has_key", "c", [1]), ("m__len", 2, [0]), ("m__a", 1, [0]),
        ("m__keys__contains", ["b"], [0]), ("m__values__any", 3, [1]),
        ("doc__k__n", 6, [1]), ("doc__arr__1", 2, [0]),
    ]
    _roundtrip_and_lookups("embedded", Model, rows, checks)
