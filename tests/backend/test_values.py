"""No silent wrong values: every write path of the ORM (create, bulk_create,
update with a literal, update with Case/When, Value/Coalesce written back, a
column DEFAULT of AddField) stores a value exactly or refuses it with
DataError naming the field and its range, on the server (18.16 in CI) and
on the embedded engine (chDB). The expected ranges are the ClickHouse types'
documented ranges, written here independently of the backend's own table."""
import datetime
import decimal
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from django.db import DataError, IntegrityError, connections, models as dj
from django.db.models import Case, F, Value, When
from django.db.models.functions import Cast, Coalesce

from clickhouse_backend import models as ch
from tests.backend.conftest import created_tables

ALIASES = ["default", "embedded"]
UTC = datetime.timezone.utc
# Few examples: each one is a write and a read (an UPDATE is a mutation).
FEW = settings(max_examples=12, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                      HealthCheck.too_slow])

INTS = {  # field name -> (field, lo, hi)
    "i8": (ch.Int8Field, -2**7, 2**7 - 1),
    "i16": (dj.SmallIntegerField, -2**15, 2**15 - 1),
    "i32": (dj.IntegerField, -2**31, 2**31 - 1),
    "i64": (dj.BigIntegerField, -2**63, 2**63 - 1),
    "u8": (ch.UInt8Field, 0, 2**8 - 1),
    "u16": (dj.PositiveSmallIntegerField, 0, 2**16 - 1),
    "u32": (dj.PositiveIntegerField, 0, 2**32 - 1),
    "u64": (dj.PositiveBigIntegerField, 0, 2**64 - 1),
}
BIG_INTS = {  # 21.6+: the embedded engine only
    "i128": (ch.Int128Field, -2**127, 2**127 - 1),
    "u128": (ch.UInt128Field, 0, 2**128 - 1),
    "i256": (ch.Int256Field, -2**255, 2**255 - 1),
    "u256": (ch.UInt256Field, 0, 2**256 - 1),
}


def _model(conn):
    from django.apps.registry import Apps

    class Meta:
        app_label = "testapp"
        apps = Apps()
        db_table = "vals_%s" % uuid.uuid4().hex[:8]

    fields = {name: cls(default=0) for name, (cls, _, _) in INTS.items()}
    if conn.features.supports_big_ints:
        fields.update({name: cls(default=0) for name, (cls, _, _) in BIG_INTS.items()})
    return type("Vals", (dj.Model,), {
        "__module__": __name__, "Meta": Meta, **fields,
        "tag": dj.CharField(max_length=40, default=""),
        "dec": dj.DecimalField(max_digits=9, decimal_places=3, null=True),
        "day": dj.DateField(null=True),
        "at": dj.DateTimeField(null=True),
        "chday": ch.DateField(null=True),
        "chat": ch.DateTimeField(null=True),
        "ip": dj.GenericIPAddressField(null=True),
        "ref": dj.BigIntegerField(null=True),
        "holder": dj.IntegerField(null=True),
    })


@pytest.fixture(scope="module", params=ALIASES)
def vals(request):
    request.getfixturevalue("db" if request.param == "default" else "edb")
    conn = connections[request.param]
    Model = _model(conn)
    with created_tables(conn, Model):
        yield conn, Model


def _objects(conn, Model):
    return Model.objects.using(conn.alias)


def _int_fields(conn):
    out = dict(INTS)
    if conn.features.supports_big_ints:
        out.update(BIG_INTS)
    return out


def _int_case(draw, conn):
    name = draw(st.sampled_from(sorted(_int_fields(conn))))
    _, lo, hi = _int_fields(conn)[name]
    value = draw(st.one_of(
        st.sampled_from([lo, hi, lo - 1, hi + 1, 0, 2**31, 2**63, -2**63 - 1]),
        st.integers(min_value=lo - 2**66, max_value=hi + 2**66)))
    return name, value, lo <= value <= hi


def _expect(objs, tag, name, value, fits, write, match=None):
    """Run write(); the value is read back exactly, or DataError was raised
    and the row (if any) keeps its old value."""
    before = list(objs.filter(tag=tag).values_list(name, flat=True))
    if fits:
        write()
        assert list(objs.filter(tag=tag).values_list(name, flat=True)) == [value]
    else:
        with pytest.raises(DataError, match=match or name):
            write()
        assert list(objs.filter(tag=tag).values_list(name, flat=True)) == before


def _tag():
    return uuid.uuid4().hex


# ---- Cast of a literal -------------------------------------------------------
# CAST(toInt64(2**40) AS Int32) is 0 and CAST(-1 AS UInt32) 4294967295: a Cast's
# literal is checked against the target type as a written value is.

CAST_REFUSED = r"out of range|cannot hold|21\.6"
CAST_FORMS = ["cast", "cast_in_coalesce", "coalesce_in_cast", "case_in_cast"]


def _cast_forms(name, field, value):
    """Cast(Value) in the forms a query writes it, by name."""
    return {
        "cast": lambda: Cast(Value(value), field),
        "cast_in_coalesce": lambda: Coalesce(Cast(Value(value), field), F(name)),
        "coalesce_in_cast": lambda: Cast(Coalesce(Value(value), F(name)), field),
        "case_in_cast": lambda: Cast(Case(When(tag__isnull=False, then=Value(value)),
                                          default=F(name), output_field=field), field),
    }


def _cast_read_then_written(objs, tag, name, field, value, form):
    """The Cast selected (read back equal), then written with update()."""
    def write():
        expr = _cast_forms(name, field, value)[form]
        got = objs.filter(tag=tag).annotate(v=expr()).values_list("v", flat=True).get()
        assert got == value and type(got) is type(value)
        objs.filter(tag=tag).update(**{name: expr()})
    return write


# ---- integers --------------------------------------------------------------

def _int_writes(objs, Model, tag, name, value):
    """Every write path of one integer value, by name."""
    field = Model._meta.get_field(name)

    def annotation_written_back():
        # A Value of the column's field selected, then written back.
        got = objs.filter(tag=tag).annotate(v=Value(value, output_field=field)) \
            .values_list("v", flat=True).get()
        assert got == value
        objs.filter(tag=tag).update(**{name: got})
    return {
        "create": lambda: objs.create(tag=tag, **{name: value}),
        "bulk_create": lambda: objs.bulk_create([Model(tag=tag, **{name: value})]),
        "update": lambda: objs.filter(tag=tag).update(**{name: value}),
        "case_when": lambda: objs.filter(tag=tag).update(**{name: Case(
            When(tag=tag, then=Value(value)), default=F(name), output_field=type(field)())}),
        "coalesce": lambda: objs.filter(tag=tag).update(
            **{name: Coalesce(Value(value), F(name), output_field=type(field)())}),
        "annotation": annotation_written_back,
        # Cast(Value) selected, then written: see "Cast of a literal" below.
        **{form: _cast_read_then_written(objs, tag, name, type(field)(), value, form)
           for form in CAST_FORMS},
    }


@pytest.mark.parametrize("path", ["create", "bulk_create", "update", "case_when", "coalesce",
                                  "annotation", *CAST_FORMS])
@FEW
@given(data=st.data())
def test_int_paths(vals, path, data):
    conn, Model = vals
    objs = _objects(conn, Model)
    name, value, fits = _int_case(data.draw, conn)
    tag = _tag()
    if path not in ("create", "bulk_create"):
        objs.create(tag=tag)
    _expect(objs, tag, name, value, fits, _int_writes(objs, Model, tag, name, value)[path],
            match=CAST_REFUSED if path in CAST_FORMS else None)


@FEW
@given(value=st.one_of(st.sampled_from([2**31, 2**32, 2**63 - 1, -2**63, 2**63]),
                       st.integers(min_value=-2**64, max_value=2**65)))
def test_free_value_typed_to_fit(vals, value):
    """Value(n) has no column behind it: typed to fit n (Int64, UInt64...),
    not cut to Int32 as its inferred IntegerField would say."""
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.create(tag=tag)
    wide = conn.features.supports_big_ints
    if -2**63 <= value < 2**64 or wide:
        got = objs.filter(tag=tag).annotate(v=Value(value)).values_list("v", flat=True).get()
        assert got == value
    else:
        with pytest.raises(DataError, match="21.6"):
            objs.filter(tag=tag).annotate(v=Value(value)).values_list("v", flat=True).get()


def test_update_fk_case_when_snowflake(vals):
    """update(fk=Case(When(..., then=obj.pk))) stored toInt32(<snowflake id>)."""
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    row = objs.create(tag=tag)
    assert row.pk >= 2**31  # a snowflake id
    objs.filter(tag=tag).update(ref=Case(When(tag=tag, then=row.pk)))
    assert objs.filter(tag=tag).values_list("ref", flat=True).get() == row.pk
    objs.filter(tag=tag).update(ref=Case(When(tag=tag, then=Value(row.pk)), default=None))
    assert objs.filter(tag=tag).values_list("ref", flat=True).get() == row.pk


def test_snowflake_into_int32_case_refused(vals):
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    row = objs.create(tag=tag, holder=5)
    with pytest.raises(DataError, match=r"holder \(IntegerField\) \[-2147483648, 2147483647\]"):
        objs.filter(tag=tag).update(holder=Case(When(tag=tag, then=row.pk), default=F("holder")))
    assert objs.filter(tag=tag).values_list("holder", flat=True).get() == 5


def test_negative_update_of_unsigned_refused(vals):
    """F("u32") - 1 on 0 is computed by the server: refused, not wrapped to
    4294967295 (a DataError; an IntegrityError too, as Django's
    PositiveIntegerField tests expect)."""
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.create(tag=tag, u32=0, u8=3)
    for expr in (F("u32") - 1, Case(When(tag=tag, then=F("u32") - 5), default=F("u32"),
                                          output_field=dj.PositiveIntegerField())):
        with pytest.raises(DataError, match="u32"):
            objs.filter(tag=tag).update(u32=expr)
        with pytest.raises(IntegrityError):
            objs.filter(tag=tag).update(u32=expr)
    with pytest.raises(DataError, match=r"u8 \(UInt8Field\) \[0, 255\]"):
        objs.filter(tag=tag).update(u8=F("u8") * 100)
    assert objs.filter(tag=tag).values_list("u32", "u8").get() == (0, 3)
    objs.filter(tag=tag).update(u8=F("u8") * 85)  # 255 fits
    assert objs.filter(tag=tag).values_list("u8", flat=True).get() == 255


# ---- decimals --------------------------------------------------------------

DEC_LIMIT = decimal.Decimal(10) ** 6  # Decimal(9, 3): |v| < 10**6


@st.composite
def _decimals(draw):
    value = draw(st.one_of(
        st.sampled_from([decimal.Decimal("999999.999"), decimal.Decimal("-999999.999"),
                         decimal.Decimal("1000000"), decimal.Decimal("999999.9995"),
                         decimal.Decimal("0.0005"), decimal.Decimal("1.2345"),
                         decimal.Decimal("-0.0004")]),
        st.decimals(min_value=-10**7, max_value=10**7, places=draw(st.integers(0, 6)),
                    allow_nan=False, allow_infinity=False)))
    # Stored as other databases store it: rounded half up to 3 places.
    stored = value.quantize(decimal.Decimal("0.001"), rounding=decimal.ROUND_HALF_UP)
    return value, stored, abs(stored) < DEC_LIMIT


@FEW
@given(case=_decimals(), path=st.sampled_from(["create", "bulk", "update", "case", "coalesce"]))
def test_decimal_paths(vals, case, path):
    conn, Model = vals
    objs = _objects(conn, Model)
    value, stored, fits = case
    tag = _tag()
    if path not in ("create", "bulk"):
        objs.create(tag=tag)
    writes = {
        "create": lambda: objs.create(tag=tag, dec=value),
        "bulk": lambda: objs.bulk_create([Model(tag=tag, dec=value)]),
        "update": lambda: objs.filter(tag=tag).update(dec=value),
        "case": lambda: objs.filter(tag=tag).update(dec=Case(
            When(tag=tag, then=Value(value)), default=F("dec"), output_field=dj.DecimalField())),
        "coalesce": lambda: objs.filter(tag=tag).update(
            dec=Coalesce(Value(value), F("dec"), output_field=dj.DecimalField())),
    }
    _expect(objs, tag, "dec", stored, fits, writes[path])


def test_case_update_decimal_and_ip(vals):
    """Django's expressions_case test_update_decimal/_generic_ip_address."""
    conn, Model = vals
    objs = _objects(conn, Model)
    tag, other = _tag(), _tag()
    objs.create(tag=tag, i8=1)
    objs.create(tag=other, i8=2)
    objs.filter(tag__in=[tag, other]).update(dec=Case(
        When(i8=1, then=decimal.Decimal("1.1")),
        When(i8=2, then=Value(decimal.Decimal("2.2"), output_field=dj.DecimalField()))))
    objs.filter(tag__in=[tag, other]).update(ip=Case(
        When(i8=1, then=Value("1.1.1.1")), When(i8=2, then=Value("2.2.2.2")),
        output_field=dj.GenericIPAddressField()))
    assert sorted(objs.filter(tag__in=[tag, other]).values_list("i8", "dec", "ip")) == [
        (1, decimal.Decimal("1.100"), "1.1.1.1"), (2, decimal.Decimal("2.200"), "2.2.2.2")]


# ---- dates -----------------------------------------------------------------

def _date_bounds(conn, name):
    """The documented range of the column type ClickHouse made for the field."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT type FROM system.columns WHERE database = currentDatabase() "
                       "AND table = %s AND name = %s", [_date_bounds.table, name])
        (db_type,) = cursor.fetchone()
    db_type = db_type.replace("Nullable(", "")
    old = conn.server_version < (20, 1)  # 18.16 parses 1970..2105 only
    if db_type.startswith(("Date32", "DateTime64")):
        return datetime.date(1900, 1, 1), datetime.date(2299, 12, 31), db_type
    if old:
        return datetime.date(1970, 1, 1), datetime.date(2105, 12, 31), db_type
    if db_type.startswith("DateTime"):
        return datetime.date(1970, 1, 1), datetime.date(2106, 2, 6), db_type
    return datetime.date(1970, 1, 1), datetime.date(2149, 6, 6), db_type


@FEW
@given(day=st.one_of(
    st.sampled_from([datetime.date(y, m, d) for y, m, d in [
        (1899, 12, 31), (1900, 1, 1), (1969, 12, 31), (1970, 1, 1), (2105, 12, 31),
        (2106, 1, 1), (2149, 6, 6), (2149, 6, 7), (2299, 12, 31), (2300, 1, 1)]]),
    st.dates(min_value=datetime.date(1890, 1, 1), max_value=datetime.date(2310, 1, 1))),
    name=st.sampled_from(["day", "at", "chday", "chat"]),
    path=st.sampled_from(["create", "bulk", "update", "case"]))
def test_date_paths(vals, day, name, path):
    conn, Model = vals
    objs = _objects(conn, Model)
    _date_bounds.table = Model._meta.db_table
    lo, hi, db_type = _date_bounds(conn, name)
    value = day
    if name in ("at", "chat"):
        value = datetime.datetime.combine(day, datetime.time(0, 0, 1), tzinfo=UTC)
    fits = lo <= day <= hi
    tag = _tag()
    if path in ("update", "case"):
        objs.create(tag=tag)
    field = type(Model._meta.get_field(name))
    writes = {
        "create": lambda: objs.create(tag=tag, **{name: value}),
        "bulk": lambda: objs.bulk_create([Model(tag=tag, **{name: value})]),
        "update": lambda: objs.filter(tag=tag).update(**{name: value}),
        "case": lambda: objs.filter(tag=tag).update(**{name: Case(
            When(tag=tag, then=Value(value)), default=F(name), output_field=field())}),
    }
    _expect(objs, tag, name, value, fits, writes[path])


# ---- AddField defaults -----------------------------------------------------

@pytest.mark.parametrize("field_cls,value,fits", [
    (dj.IntegerField, 2**31 - 1, True), (dj.IntegerField, 2**31, False),
    (dj.PositiveIntegerField, -1, False), (dj.BigIntegerField, 2**63 - 1, True),
    (dj.DecimalField, decimal.Decimal("999.99"), True),
    (dj.DecimalField, decimal.Decimal("1000"), False),
    (dj.DateField, datetime.date(1969, 12, 31), None),
])
def test_add_field_default(vals, field_cls, value, fits):
    conn, Model = vals
    objs = _objects(conn, Model)
    if fits is None:  # a date before 1970: only Date32 (21.9+) holds it
        fits = conn.features.supports_date32
    tag = _tag()
    objs.create(tag=tag)
    kwargs = {"max_digits": 5, "decimal_places": 2} if field_cls is dj.DecimalField else {}
    field = field_cls(default=value, **kwargs)
    field.set_attributes_from_name("added")
    field.model = Model
    columns = lambda: {c.name for c in conn.introspection.get_table_description(  # noqa: E731
        conn.cursor(), Model._meta.db_table)}
    if not fits:
        with pytest.raises(DataError, match="added"):
            with conn.schema_editor() as editor:
                editor.add_field(Model, field)
        assert "added" not in columns()
        return
    with conn.schema_editor() as editor:
        editor.add_field(Model, field)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT added FROM %s WHERE tag = %%s" % Model._meta.db_table, [tag])
            assert cursor.fetchone()[0] == value
    finally:
        with conn.schema_editor() as editor:
            editor.remove_field(Model, field)


# ---- Cast: the audit's case, decimals, dates ---------------------------------

def test_cast_of_2_pow_40_to_integer_field_refused(vals):
    """The audit's case: 0 on chDB and 18.16 before."""
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.create(tag=tag)
    for expr in (Cast(Value(2**40), dj.IntegerField()), Cast(Value(-1), dj.PositiveIntegerField()),
                 Cast(Value(str(2**40)), dj.IntegerField()),
                 Cast(Value(2**32 + 0.0), dj.IntegerField())):
        with pytest.raises(DataError, match=r"IntegerField.*\[(-2147483648|0), (2147483647|4294967295)\]"):
            list(objs.filter(tag=tag).annotate(v=expr).values_list("v", flat=True))
    # In range: the value itself; not a number: the server's own error, as before.
    assert objs.filter(tag=tag).annotate(v=Cast(Value(2**31 - 1), dj.IntegerField())) \
        .values_list("v", flat=True).get() == 2**31 - 1
    assert objs.filter(tag=tag).annotate(v=Cast(Value("-7"), dj.IntegerField())) \
        .values_list("v", flat=True).get() == -7


@pytest.mark.parametrize("form", CAST_FORMS)
@FEW
@given(case=_decimals())
def test_decimal_cast(vals, form, case):
    conn, Model = vals
    objs = _objects(conn, Model)
    value, stored, fits = case
    tag = _tag()
    objs.create(tag=tag)
    field = dj.DecimalField(max_digits=9, decimal_places=3)

    def write():
        expr = _cast_forms("dec", field, value)[form]
        got = objs.filter(tag=tag).annotate(v=expr()).values_list("v", flat=True).get()
        assert got == stored
        objs.filter(tag=tag).update(dec=expr())
    _expect(objs, tag, "dec", stored, fits, write, match=CAST_REFUSED)


@pytest.mark.parametrize("form", ["cast", "cast_in_coalesce", "coalesce_in_cast"])
@FEW
@given(day=st.one_of(
    st.sampled_from([datetime.date(y, m, d) for y, m, d in [
        (1899, 12, 31), (1900, 1, 1), (1969, 12, 31), (1970, 1, 1), (2105, 12, 31),
        (2106, 1, 1), (2149, 6, 6), (2149, 6, 7), (2299, 12, 31), (2300, 1, 1)]]),
    st.dates(min_value=datetime.date(1890, 1, 1), max_value=datetime.date(2310, 1, 1))))
def test_date_cast(vals, form, day):
    conn, Model = vals
    objs = _objects(conn, Model)
    _date_bounds.table = Model._meta.db_table
    lo, hi, _ = _date_bounds(conn, "day")
    tag = _tag()
    objs.create(tag=tag)
    _expect(objs, tag, "day", day, lo <= day <= hi,
            _cast_read_then_written(objs, tag, "day", dj.DateField(), day, form),
            match=CAST_REFUSED)


# ---- Cast of a value the server computes --------------------------------------
# CAST wraps it (toInt64(2**40) * 2 AS Int32 is 0): accurateCast (21.1+) or
# throwIf (18.16) refuses it on the server, reported as DataError.

COMPUTED_REFUSED = r"out of range for Cast to \w+Field \("
COMPUTED_INT_CASES = [  # (i64 stored, expression, target field, fits)
    (2**40, F("i64") * 2, dj.IntegerField, False),
    (2**30 - 1, F("i64") * 2, dj.IntegerField, True),
    (-2**30, F("i64") * 2, dj.IntegerField, True),
    (-2**30 - 1, F("i64") * 2, dj.IntegerField, False),
    (-1, F("i64") * 1, dj.PositiveIntegerField, False),
    (2**31, F("i64") + 0, dj.PositiveIntegerField, True),
    (200, F("i64") * 2, dj.SmallIntegerField, True),
    (2**15, F("i64") * 1, dj.SmallIntegerField, False),
    (2**32, F("i64") / 1.5, dj.IntegerField, False),
    (7, F("i64") / 2.0, dj.IntegerField, True),   # 3.5 truncated, as CAST does
]


@pytest.mark.parametrize("stored, expr, target, fits", COMPUTED_INT_CASES)
def test_cast_of_computed_integer(vals, stored, expr, target, fits):
    """Selected: the value or DataError; written by update() into i64: the
    value, or DataError and the row unchanged."""
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.create(tag=tag, i64=stored)
    expected = int(objs.filter(tag=tag).annotate(v=expr).values_list("v", flat=True).get())
    qs = objs.filter(tag=tag).annotate(v=Cast(expr, target()))
    if fits:
        assert qs.values_list("v", flat=True).get() == expected
    else:
        with pytest.raises(DataError, match=COMPUTED_REFUSED):
            qs.values_list("v", flat=True).get()
    _expect(objs, tag, "i64", expected, fits,
            lambda: objs.filter(tag=tag).update(i64=Cast(expr, target())), match=COMPUTED_REFUSED)


@pytest.mark.parametrize("stored, fits", [
    (decimal.Decimal("499999.999"), True), (decimal.Decimal("-499999.999"), True),
    (decimal.Decimal("500000.000"), False), (decimal.Decimal("-999999.999"), False)])
def test_cast_of_computed_decimal_past_its_digits(vals, stored, fits):
    """Decimal(9, 3) holds |v| < 10**6; its Decimal32 2147483.647, which CAST
    fills without complaint."""
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.create(tag=tag, dec=stored)
    field = dj.DecimalField(max_digits=9, decimal_places=3)
    qs = objs.filter(tag=tag).annotate(v=Cast(F("dec") * 2, field))
    if fits:
        assert qs.values_list("v", flat=True).get() == stored * 2
    else:
        with pytest.raises(DataError, match=COMPUTED_REFUSED):
            qs.values_list("v", flat=True).get()
    _expect(objs, tag, "dec", stored * 2, fits,
            lambda: objs.filter(tag=tag).update(dec=Cast(F("dec") * 2, field)),
            match=COMPUTED_REFUSED)


# ---- update() with a value the server computes --------------------------------
# The mutation converts it to the column's type (wrapping): its min() and max()
# are read first and checked as a written value is.

@pytest.mark.parametrize("stored, fits", [
    (decimal.Decimal("499999.999"), True), (decimal.Decimal("500000.000"), False),
    (decimal.Decimal("-600000"), False)])
def test_update_decimal_column_with_computed_value(vals, stored, fits):
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.create(tag=tag, dec=stored)
    _expect(objs, tag, "dec", stored * 2, fits,
            lambda: objs.filter(tag=tag).update(dec=F("dec") * 2), match=r"dec")


@pytest.mark.parametrize("stored, fits", [(2**31 - 1, True), (2**31, False), (-2**31 - 1, False)])
def test_update_narrower_integer_column_from_wider(vals, stored, fits):
    """update(i32=F("i64")), update(i32=F("i64") * 1), bulk_update: the value
    or DataError and the row unchanged."""
    conn, Model = vals
    objs = _objects(conn, Model)
    for write in (lambda t: objs.filter(tag=t).update(i32=F("i64")),
                  lambda t: objs.filter(tag=t).update(i32=F("i64") * 1),
                  lambda t: objs.bulk_update(
                      [Model(pk=objs.get(tag=t).pk, tag=t, i32=F("i64"))], ["i32"])):
        tag = _tag()
        objs.create(tag=tag, i64=stored)
        _expect(objs, tag, "i32", stored, fits, lambda: write(tag), match=r"i32")


def _shapes_model():
    from tests.backend.modeling import make_model
    return make_model("Shapes", {
        "name": dj.CharField(max_length=20, default=""),
        "fixed": ch.FixedStringField(max_bytes=4, default=b""),
        "holder": dj.IntegerField(null=True), "i32": dj.IntegerField(default=0)})


@pytest.mark.parametrize("alias", ALIASES)
def test_update_computed_value_the_mutation_would_fail_on(request, alias):
    """A NULL into a column that is not Nullable, a string too long for a
    FixedString: checked before the mutation (18.16 reports no mutation
    failure and a failed mutation blocks the table's later ones), nothing
    written; what fits is stored."""
    request.getfixturevalue("db" if alias == "default" else "edb")
    conn = connections[alias]
    Model = _shapes_model()
    with created_tables(conn, Model):
        objs = Model.objects.using(alias)
        row = objs.create(name="toolong", holder=None, i32=5)
        with pytest.raises(DataError, match=r"fixed: .* 7 bytes, more than its column \(FixedString\(4\)\)"):
            objs.update(fixed=F("name"))
        with pytest.raises(IntegrityError, match=r"NULL in i32"):
            objs.update(i32=F("holder"))
        assert list(objs.values_list("fixed", "i32")) == [("", 5)]
        objs.update(name="ab", holder=7)
        objs.filter(pk=row.pk).update(fixed=F("name"), i32=F("holder"))
        assert list(objs.values_list("fixed", "i32")) == [("ab", 7)]


# ---- regressions: aggregates, windows, Now() --------------------------------

def test_aggregates_over_no_values_are_null(vals):
    """NULL as in SQL (18.16 has no aggregate_functions_null_for_empty: the
    backend writes if(count(x) = 0, NULL, agg(x))); Count stays 0."""
    from django.db.models import Avg, Count, Max, Q, Sum
    conn, Model = vals
    objs = _objects(conn, Model).filter(tag="no such tag")
    assert objs.aggregate(s=Sum("i32"), a=Avg("i32"), m=Max("dec"), c=Count("i32"),
                          d=Sum("i32", default=7)) == {"s": None, "a": None, "m": None,
                                                       "c": 0, "d": 7}
    tag = _tag()
    objs = _objects(conn, Model)
    objs.create(tag=tag, i32=4)
    # Rows, but no value passes the filter: NULL too.
    assert objs.filter(tag=tag).aggregate(s=Sum("i32", filter=Q(i32__gt=10)),
                                          t=Sum("i32", filter=Q(i32__gt=1))) == {"s": None, "t": 4}


def test_sum_of_a_boolean_is_a_number(vals):
    from django.db.models import BooleanField, ExpressionWrapper, Q, Sum
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.bulk_create([Model(tag=tag, i32=n) for n in (1, 2, 3)])
    expr = ExpressionWrapper(Q(i32__gt=1), output_field=BooleanField())
    assert objs.filter(tag=tag).aggregate(s=Sum(expr))["s"] == 2


def test_now_and_db_default_now(vals):
    """Now() and db_default=Now() (CURRENT_TIMESTAMP is unknown to 18.16: the
    schema editor compiled db_default with as_sql, not the ClickHouse spelling)."""
    from django.apps.registry import Apps
    from django.db.models.functions import Now
    conn, _ = vals

    class Meta:
        app_label = "testapp"
        apps = Apps()
        db_table = "now_%s" % uuid.uuid4().hex[:8]

    Stamped = type("Stamped", (dj.Model,), {"__module__": __name__, "Meta": Meta,
                                            "at": dj.DateTimeField(db_default=Now())})
    with conn.schema_editor() as editor:
        editor.create_model(Stamped)
    try:
        before = datetime.datetime.now(UTC).replace(microsecond=0)
        row = Stamped.objects.using(conn.alias).create()
        after = datetime.datetime.now(UTC) + datetime.timedelta(seconds=1)
        assert before <= row.at <= after
        got = Stamped.objects.using(conn.alias).annotate(n=Now()).values_list("at", "n").get()
        assert got[0] == row.at and before <= got[1] <= after + datetime.timedelta(seconds=5)
    finally:
        with conn.schema_editor() as editor:
            editor.delete_model(Stamped)


def test_window_functions_past_the_edge_are_null(vals):
    from django.db import NotSupportedError
    from django.db.models import Window
    from django.db.models.functions import CumeDist, Lag, Lead, NthValue
    conn, Model = vals
    objs = _objects(conn, Model)
    tag = _tag()
    objs.bulk_create([Model(tag=tag, i32=n) for n in (10, 20, 30)])
    qs = objs.filter(tag=tag).annotate(
        lag=Window(Lag("i32"), order_by="i32"), lead=Window(Lead("i32"), order_by="i32"),
        third=Window(NthValue("i32", 3), order_by="i32"),
        cume=Window(CumeDist(), order_by="i32")).order_by("i32")
    if not conn.features.supports_over_clause:  # 18.16: OVER needs 21.9
        with pytest.raises(NotSupportedError):
            list(qs.values_list("lag"))
        return
    assert list(qs.values_list("i32", "lag", "lead", "third")) == [
        (10, None, 20, None), (20, 10, 30, None), (30, 20, None, 30)]
    assert [round(c, 6) for c in qs.values_list("cume", flat=True)] == [
        round(1 / 3, 6), round(2 / 3, 6), 1.0]


# ---- system check: 32-bit holders of snowflake ids ------------------------

def test_check_warns_about_32_bit_id_holders():
    from django.apps.registry import Apps
    from django.contrib.contenttypes.fields import GenericForeignKey
    from django.contrib.contenttypes.models import ContentType

    from clickhouse_backend.backend.checks import CHECK_ID, check_snowflake_holders

    Meta = type("Meta", (), {"app_label": "testapp", "apps": Apps(["django.contrib.contenttypes"])})
    Tagged = type("Tagged", (dj.Model,), {
        "__module__": __name__, "Meta": Meta,
        "content_type": dj.ForeignKey(ContentType, dj.CASCADE),
        "object_id": dj.PositiveIntegerField(),
        "target": GenericForeignKey("content_type", "object_id"),
        "owner_id": dj.IntegerField(default=0),
        "big_id": dj.BigIntegerField(default=0),
        "count": dj.IntegerField(default=0),
    })
    app = type("AppConfig", (), {"get_models": staticmethod(lambda: [Tagged])})()
    found = {w.obj.name: w for w in check_snowflake_holders(app_configs=[app])}
    assert set(found) == {"object_id", "owner_id"}
    assert all(w.id == CHECK_ID for w in found.values())
    assert "GenericForeignKey 'target'" in found["object_id"].msg
    assert "PositiveBigIntegerField" in found["object_id"].hint
    assert "BigIntegerField" in found["owner_id"].hint


def test_check_is_registered():
    from django.core import checks

    import clickhouse_backend.backend.base  # noqa: F401 (loads the backend)
    from clickhouse_backend.backend.checks import check_snowflake_holders
    assert check_snowflake_holders in checks.registry.registry.get_checks()


# ---- ClickHouse-style results through OPTIONS["settings"] -------------------

import contextlib


@contextlib.contextmanager
def _another_alias(conn, name, settings=None, **changes):
    """conn's database under another alias, with settings_dict changes and
    OPTIONS["settings"] additions; yields (connection, warnings at connect)."""
    import warnings
    alias = "%s_%s" % (name, conn.alias)
    settings_dict = dict(conn.settings_dict, **changes)
    options = dict(settings_dict.get("OPTIONS") or {})
    options["settings"] = {**options.get("settings", {}), **(settings or {})}
    settings_dict["OPTIONS"] = options
    connections.settings[alias] = settings_dict
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            connections[alias].ensure_connection()
        yield connections[alias], caught
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


@pytest.fixture
def ch_style(vals):
    """vals' database again, with django-clickhouse-backend's behaviour:
    aggregate_functions_null_for_empty and join_use_nulls off."""
    conn, Model = vals
    with _another_alias(conn, "ch_style", {"aggregate_functions_null_for_empty": 0,
                                           "join_use_nulls": 0}) as (other, caught):
        yield other, Model, caught


def test_clickhouse_style_settings(ch_style):
    from django.db.models import Avg, Count, Sum
    conn, Model, caught = ch_style
    objs = Model.objects.using(conn.alias).filter(tag="no such tag")
    if "aggregate_functions_null_for_empty" not in conn.server_settings():
        # 18.16: not sent (a warning names it); the backend's emulation is off too.
        assert any("aggregate_functions_null_for_empty" in str(w.message) for w in caught)
    got = objs.aggregate(s=Sum("i32"), c=Count("i32"), a=Avg("i32"))
    assert (got["s"], got["c"]) == (0, 0)
    assert got["a"] != got["a"]  # nan: ClickHouse's avg() of nothing
    with conn.cursor() as cursor:
        cursor.execute("SELECT b.x FROM (SELECT 1 AS k) AS a "
                       "LEFT JOIN (SELECT 2 AS k, 5 AS x) AS b USING k")
        assert cursor.fetchall() == [(0,)]  # the column's default, not NULL
    # The project's defaults: NULLs.
    default = connections[conn.alias.replace("ch_style_", "")]
    with default.cursor() as cursor:
        cursor.execute("SELECT b.x FROM (SELECT 1 AS k) AS a "
                       "LEFT JOIN (SELECT 2 AS k, 5 AS x) AS b USING k")
        assert cursor.fetchall() == [(None,)]
    assert Model.objects.using(default.alias).filter(tag="no such tag").aggregate(
        s=Sum("i32"))["s"] is None


# ---- time zones: USE_TZ off, DATABASES TIME_ZONE ----------------------------

def test_raw_cursor_datetimes_naive_without_use_tz(vals):
    """USE_TZ off: a raw cursor returns naive datetimes (UTC wall time, as the
    ORM writes and reads them), even from DateTime('UTC')/DateTime64 columns."""
    from django.test import override_settings
    conn, Model = vals
    tag = _tag()
    at = datetime.datetime(2000, 1, 1, 1, 1, tzinfo=UTC)
    if conn.features.supports_microsecond_precision:
        at = at.replace(microsecond=500000)
    _objects(conn, Model).create(tag=tag, at=at, chat=at.replace(microsecond=0))
    sql = "SELECT at, chat FROM %s WHERE tag = %%s" % Model._meta.db_table
    with override_settings(USE_TZ=False):
        with _another_alias(conn, "naive") as (other, _):
            with other.cursor() as cursor:
                cursor.execute(sql, [tag])
                assert cursor.fetchone() == (at.replace(tzinfo=None),
                                             at.replace(tzinfo=None, microsecond=0))
    with conn.cursor() as cursor:  # USE_TZ on: aware, the column's zone
        cursor.execute(sql, [tag])
        assert cursor.fetchone() == (at, at.replace(microsecond=0))


def test_database_time_zone_is_the_zone_of_zoneless_datetimes(vals):
    import zoneinfo
    conn, _ = vals
    with _another_alias(conn, "bangkok", TIME_ZONE="Asia/Bangkok") as (other, _):
        with other.cursor() as cursor:
            cursor.execute("SELECT toDateTime(0)")
            (zoneless,) = cursor.fetchone()
    assert zoneless == datetime.datetime(1970, 1, 1, tzinfo=UTC)
    assert zoneless.tzinfo == zoneinfo.ZoneInfo("Asia/Bangkok") and zoneless.hour == 7
    with conn.cursor() as cursor:  # no TIME_ZONE: naive UTC
        cursor.execute("SELECT toDateTime(0)")
        assert cursor.fetchone() == (datetime.datetime(1970, 1, 1),)
