"""bulk_create: prepared rows go to the driver's executemany fast path; db_default
values, expressions, client-side ids and every field type stay correct."""
import datetime
import decimal
import uuid

from django.db import connection
from django.db.models import Value
from django.db.models.functions import Concat, Now

from tests.backend.testapp.models import Event, Numbers, Plain

UTC = datetime.timezone.utc


class _Capture:
    def __init__(self):
        self.calls = []

    def __call__(self, execute, sql, params, many, context):
        self.calls.append((sql, many))
        return execute(sql, params, many, context)

    def inserts(self):
        return [(sql, many) for sql, many in self.calls if sql.startswith("INSERT")]


def test_bulk_create_plain_values_take_executemany(db):
    Plain.objects.all().delete()
    stamp = datetime.datetime(2021, 6, 1, 12, 30, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    uid = uuid.uuid4()
    objs = [Plain(name="n%d" % i, value=i, flag=bool(i % 2), amount=decimal.Decimal("1.25") * i,
                  day=datetime.date(2020, 1, 1 + i), uid=uid if i == 0 else None,
                  data={"i": i, "s": "x'\\y"}, stamp=stamp if i else None)
            for i in range(5)]
    objs[3].counter = 3  # explicit value next to db_default ones
    cap = _Capture()
    with connection.execute_wrapper(cap):
        Plain.objects.bulk_create(objs)
    assert cap.inserts() and all(many for _, many in cap.inserts())
    got = {p.name: p for p in Plain.objects.all()}
    assert len(got) == 5
    for i in range(5):
        p = got["n%d" % i]
        assert (p.value, p.flag, p.amount, p.day, p.data) == \
            (i, bool(i % 2), decimal.Decimal("1.25") * i, datetime.date(2020, 1, 1 + i),
             {"i": i, "s": "x'\\y"})
        assert p.counter == (3 if i == 3 else 7)  # db_default (issue #4)
        assert p.stamp == (stamp if i else None)  # aware, stored as UTC
    assert got["n0"].uid == uid and got["n1"].uid is None
    # the objects got the db_default value too
    assert [o.counter for o in objs] == [7, 7, 7, 3, 7]


def test_bulk_create_snowflake_ids_and_arrays(db):
    objs = [Event(port=1000 + i, tags=["t%d" % i, "'q'"],
                  timestamp=datetime.datetime(2022, 1, 1, i, tzinfo=UTC)) for i in range(4)]
    Event.objects.bulk_create(objs)
    assert all(o.pk for o in objs) and len({o.pk for o in objs}) == 4
    got = {e.pk: e for e in Event.objects.filter(port__gte=1000, port__lt=1004)}
    assert set(got) == {o.pk for o in objs}
    for o in objs:
        assert got[o.pk].tags == o.tags and got[o.pk].timestamp == o.timestamp
        assert got[o.pk].created_at is not None  # auto_now_add: pre_save() ran


def test_bulk_create_tuples(db):
    Numbers.objects.all().delete()
    objs = [Numbers(i8=-i, u64=2**64 - 1 - i, dec="1.%d" % i, tup=(i, "s%d" % i)) for i in range(3)]
    Numbers.objects.bulk_create(objs)
    got = sorted(Numbers.objects.filter(u64__gte=2**64 - 3).values_list("i8", "u64", "dec", "tup"))
    assert got == sorted((-i, 2**64 - 1 - i, decimal.Decimal("1.%d" % i), (i, "s%d" % i)) for i in range(3))


def test_bulk_create_expressions_fall_back_and_are_evaluated(db):
    Plain.objects.all().delete()
    objs = [Plain(name=Concat(Value("a"), Value("b")), value=1, stamp=Now()),
            Plain(name="plain", value=2)]
    Plain.objects.bulk_create(objs)
    got = dict(Plain.objects.values_list("name", "value"))
    assert got == {"ab": 1, "plain": 2}
    assert objs[0].name == "ab" and isinstance(objs[0].stamp, datetime.datetime)


def test_bulk_create_unevaluated_expression_takes_generic_path(db):
    """A value that is still an expression when the row is built (here: one a
    field's pre_save() returns) goes through Django's generic VALUES path."""
    Plain.objects.all().delete()
    field = Plain._meta.get_field("name")
    field.pre_save = lambda obj, add: Concat(Value("x"), Value(getattr(obj, field.attname)))
    cap = _Capture()
    try:
        with connection.execute_wrapper(cap):
            Plain.objects.bulk_create([Plain(name="a"), Plain(name="b")])
    finally:
        del field.pre_save
    assert [many for _, many in cap.inserts()] == [False]
    assert sorted(Plain.objects.values_list("name", flat=True)) == ["xa", "xb"]


def test_prep_skipped_only_where_django_would_return_the_value_unchanged():
    from django.db.models import IntegerField

    from clickhouse_backend import models
    from clickhouse_backend.backend.compiler import _unchanged_types

    class Doubled(models.Int32Field):
        def get_prep_value(self, value):
            return None if value is None else int(value) * 2

    assert _unchanged_types(models.UInt64Field(), connection) == {int, type(None)}
    assert _unchanged_types(models.StringField(), connection) == {str, type(None)}
    assert _unchanged_types(models.Float64Field(), connection) == {float, type(None)}
    for field in (Doubled(), models.FixedStringField(max_bytes=2), models.DateTimeField(),
                  models.BoolField(), models.DecimalField(max_digits=5, decimal_places=2),
                  models.ArrayField(models.Int32Field())):
        assert not _unchanged_types(field, connection), field
    patched = IntegerField()
    patched.get_prep_value = lambda value: value
    assert not _unchanged_types(patched, connection)
