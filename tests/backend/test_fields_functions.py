"""Django database functions, casts, date/time extraction and truncation,
Decimal lookups and JSONField key lookups on the real server (18.16 in CI)
and on the embedded engine (chDB): the SQL the backend writes for them must
give the values other databases give."""
import datetime
import decimal
import uuid

import pytest
from django.db import DataError, NotSupportedError, connections, models as dj
from django.db.models import F, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import (
    ATan2, Cast, Chr, Concat, Degrees, Extract, ExtractHour, ExtractMinute, Greatest, JSONArray,
    Least, Left, Length, Lower, LPad, LTrim, Mod, Ord, Power, Radians, Repeat, Right, RTrim,
    SHA512, Substr, Trim, Trunc, TruncDate, TruncHour, TruncTime,
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
    else:
        for expr in (LPad("name", 3, Value("ab")), SHA512("name"), JSONArray("name")):
            with pytest.raises(NotSupportedError, match="needs .*ClickHouse 21"):
                list(objs.annotate(x=expr))


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
