"""Query compilation on both engines (the 18.16 server and chDB): NULL
semantics of exclude(), NULL ordering, slices without ordering, iexact."""
import datetime

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.backend.testapp.models import Plain
from tests.backend.conftest import use_db

ALIASES = ["default", "embedded"]


def _objects(alias, request):
    use_db(alias, request)
    return Plain.objects.using(alias)


@pytest.mark.parametrize("alias", ALIASES)
def test_iexact_does_not_treat_wildcards_as_patterns(alias, request):
    objs = _objects(alias, request)
    objs.create(name="q_a_b")
    objs.create(name="q_aXb")
    objs.create(name="q%y")
    try:
        assert list(objs.filter(name__iexact="Q_A_B").values_list("name", flat=True)) == ["q_a_b"]
        assert list(objs.filter(name__iexact="Q%Y").values_list("name", flat=True)) == ["q%y"]
    finally:
        objs.filter(name__startswith="q").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_exclude_keeps_null_rows(alias, request):
    # NOT (day = d AND day IS NOT NULL): the server's AND must give 0, not
    # NULL, for a NULL day (18.16 gives NULL unless the backend helps).
    objs = _objects(alias, request)
    d = datetime.date(2021, 5, 6)
    objs.create(name="x_null", day=None)
    objs.create(name="x_day", day=d)
    objs.create(name="x_other", day=datetime.date(2021, 5, 7))
    try:
        q = objs.filter(name__startswith="x_")
        assert sorted(q.exclude(day=d).values_list("name", flat=True)) == ["x_null", "x_other"]
        assert sorted(q.exclude(name="x_day", day=d).values_list("name", flat=True)) == [
            "x_null", "x_other"]
        # Under a double negation a NULL stays unknown: the row is not kept.
        assert sorted(q.filter(~~(dj_q(day=d))).values_list("name", flat=True)) == ["x_day"]
    finally:
        objs.filter(name__startswith="x_").delete()


def dj_q(**kw):
    from django.db.models import Q
    return Q(**kw)


@pytest.mark.parametrize("alias", ALIASES)
def test_nulls_sort_as_largest(alias, request):
    objs = _objects(alias, request)
    for name, day in (("n1", datetime.date(2020, 1, 1)), ("n2", None),
                      ("n3", datetime.date(2020, 1, 3))):
        objs.create(name=name, day=day)
    try:
        q = objs.filter(name__startswith="n").values_list("name", flat=True)
        assert list(q.order_by("day")) == ["n1", "n3", "n2"]
        assert list(q.order_by("-day")) == ["n2", "n3", "n1"]
        from django.db.models import F
        assert list(q.order_by(F("day").desc(nulls_last=True))) == ["n3", "n1", "n2"]
    finally:
        objs.filter(name__startswith="n").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_slice_without_ordering_follows_insertion_order(alias, request):
    objs = _objects(alias, request)
    created = [objs.create(name="s%d" % i) for i in range(4)]  # one part each
    try:
        q = objs.filter(name__startswith="s")
        with CaptureQueriesContext(connections[alias]) as ctx:
            assert list(q.filter(pk__in=q[1:2].values("pk"))) == [created[1]]
        assert "ORDER BY" in ctx.captured_queries[-1]["sql"]
        assert sorted(q.filter(pk__in=q[:2].values("pk")), key=lambda o: o.pk) == created[:2]
        # get() (LIMIT 21) stays without an ORDER BY.
        with CaptureQueriesContext(connections[alias]) as ctx:
            objs.get(pk=created[0].pk)
        assert "ORDER BY" not in ctx.captured_queries[-1]["sql"]
        # exists() and aggregates stay without an ORDER BY.
        with CaptureQueriesContext(connections[alias]) as ctx:
            assert q.exists()
        assert "ORDER BY" not in ctx.captured_queries[-1]["sql"]
    finally:
        objs.filter(name__startswith="s").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_decimal_values_stay_exact(alias, request):
    import decimal
    from django.db.models import F, Value
    objs = _objects(alias, request)
    p = objs.create(name="d_exact", amount=decimal.Decimal("0.50"))
    try:
        # Through a mutation (save() of an existing row) and in a SELECT.
        p.amount = F("amount") - decimal.Decimal("0.4")
        p.save()
        p.refresh_from_db()
        assert p.amount == decimal.Decimal("0.10")
        got = objs.filter(pk=p.pk).annotate(
            v=F("amount") + Value(decimal.Decimal("0.2"))).values_list("v", flat=True).get()
        assert got == decimal.Decimal("0.3")
    finally:
        objs.filter(name="d_exact").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_aggregate_default_mixing_decimal_and_float(alias, request):
    import math
    from django.db.models import Avg, Sum
    from django.db.models.functions import Pi
    objs = _objects(alias, request)
    objs.create(name="m1", value=10)
    objs.create(name="m2", value=30)
    try:
        q = objs.filter(name__startswith="m")
        # Sum of a Decimal column over no rows, a Float default (Coalesce of
        # Decimal and Float64: no common type on 18.16, a Variant on chDB).
        # Sum over no rows is NULL (on 18.16 too: emulated), so the default applies.
        empty = q.filter(value__gt=100).aggregate(s=Sum("amount", default=Pi()))["s"]
        # (an expression, not a column: not cut to the field's 2 places, as on SQLite)
        assert abs(float(empty) - math.pi) < 1e-9
        r = q.aggregate(s=Sum("amount", filter=dj_q(value__gt=100), default=Avg("value") / 10.0))
        assert float(r["s"]) == 2.0  # sum of NULLs only (the filter) is NULL
    finally:
        q.delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_insert_refuses_column_references_and_aggregates(alias, request):
    from django.core.exceptions import FieldError
    from django.db.models import F, Max, Value
    objs = _objects(alias, request)
    with pytest.raises(FieldError, match="Aggregate functions are not allowed"):
        objs.create(name="agg", value=Max(Value(1)))
    with pytest.raises(ValueError, match="can only be used to update"):
        objs.create(name="ref", value=F("value") + 1)
    assert not objs.filter(name__in=["agg", "ref"]).exists()


@pytest.mark.parametrize("alias", ALIASES)
def test_subquery_on_the_outer_table_is_correlated(alias, request):
    # ClickHouse resolves "table"."col" to the nearest table of that name,
    # even the subquery's own (aliased U0): the outer table gets an alias.
    from django.db.models import Exists, OuterRef
    objs = _objects(alias, request)
    objs.create(name="c_a", flag=True)
    objs.create(name="c_a", flag=False)
    objs.create(name="c_b", flag=False)
    try:
        q = objs.filter(name__startswith="c_").filter(
            Exists(Plain.objects.filter(name=OuterRef("name"), flag=True)))
        sql = str(q.query).replace('"O0"', "O0")  # Django 6.1 quotes aliases
        assert 'FROM "testapp_plain" O0' in sql and '(O0."name")' in sql
        if alias == "embedded":  # no correlated subqueries on 18.16
            assert sorted(q.values_list("name", "flag")) == [("c_a", False), ("c_a", True)]
    finally:
        objs.filter(name__startswith="c_").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_decimal_division_keeps_digits(alias, request):
    import decimal
    from django.db.models import DecimalField, F, Value
    objs = _objects(alias, request)
    p = objs.create(name="div_dec", amount=decimal.Decimal("0.01"))
    try:
        got = objs.filter(pk=p.pk).annotate(v=F("amount") / 10).values_list("v", flat=True).get()
        assert got == decimal.Decimal("0.001")
        # An integer dividend has scale 0: 2 / 3.0 is not 0.6.
        objs.filter(pk=p.pk).update(value=2)
        got = objs.filter(pk=p.pk).annotate(v=F("value") / Value(
            decimal.Decimal("3.0"), output_field=DecimalField())).values_list("v", flat=True).get()
        assert abs(got - decimal.Decimal(2) / 3) < decimal.Decimal("1e-17")
    finally:
        objs.filter(name="div_dec").delete()


def test_correlated_first_row_subquery(edb):
    # A correlated LIMIT 1 is not decorrelated by ClickHouse: argMax/argMin.
    from django.db.models import OuterRef, Subquery
    objs = Plain.objects.using("embedded")
    for name, value in (("f_a", 1), ("f_a", 5), ("f_b", 2)):
        objs.create(name=name, value=value)
    try:
        def top(order):
            return Subquery(Plain.objects.filter(name=OuterRef("name")).order_by(order)
                            .values("value")[:1])
        q = objs.filter(name__startswith="f_").annotate(hi=top("-value"), lo=top("value"))
        assert "argMax" in q.query.get_compiler("embedded").as_sql()[0]
        assert sorted(q.values_list("name", "value", "hi", "lo")) == [
            ("f_a", 1, 5, 1), ("f_a", 5, 5, 1), ("f_b", 2, 2, 2)]
        none = objs.filter(name__startswith="f_b").annotate(x=Subquery(
            Plain.objects.filter(name=OuterRef("name"), value__gt=100).order_by("-value")
            .values("value")[:1]))
        assert list(none.values_list("name", "x")) == [("f_b", None)]
    finally:
        objs.filter(name__startswith="f_").delete()


def test_correlated_one_group_subquery_drops_its_limit(edb):
    # values(k).annotate(agg)[:1] grouped by the correlated column has one row
    # at most: the LIMIT (which ClickHouse does not decorrelate) is dropped,
    # in an annotation and in a filter (Django 6.x compiles the latter as the
    # resolved Query).
    from django.db.models import Count, OuterRef, Subquery
    objs = Plain.objects.using("embedded")
    for name, value in (("g_a", 1), ("g_a", 5), ("g_b", 2)):
        objs.create(name=name, value=value)
    try:
        def count(group_by="name"):
            return Subquery(Plain.objects.filter(name=OuterRef("name"), value__gt=0)
                            .values(group_by).annotate(c=Count("pk")).values("c")[:1])
        q = objs.filter(name__startswith="g_")
        assert sorted(q.annotate(n=count()).values_list("name", "value", "n")) == [
            ("g_a", 1, 2), ("g_a", 5, 2), ("g_b", 2, 1)]
        assert sorted(q.filter(value__gt=count()).values_list("name", "value")) == [
            ("g_a", 5), ("g_b", 2)]
        # Grouped by another column: several groups, the LIMIT stays.
        sql = q.annotate(n=count("value")).query.get_compiler("embedded").as_sql()[0]
        assert "LIMIT 1" in sql
    finally:
        objs.filter(name__startswith="g_").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_in_lookup_with_expressions(alias, request):
    from django.db.models import F
    objs = _objects(alias, request)
    objs.create(name="in_a", value=5, counter=15)
    objs.create(name="in_b", value=6, counter=15)
    try:
        q = objs.filter(name__startswith="in_")
        assert list(q.filter(value__in=[F("counter") - 10]).values_list("name", flat=True)) == [
            "in_a"]
        assert sorted(q.filter(value__in=[F("counter") - 10, 6, None]).values_list(
            "name", flat=True)) == ["in_a", "in_b"]
    finally:
        objs.filter(name__startswith="in_").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_sliced_union_as_subquery(alias, request):
    objs = _objects(alias, request)
    for i in range(3):
        objs.create(name="un_%d" % i, value=i)
    try:
        q = objs.filter(name__startswith="un_")
        union = q.filter(value=2).values("pk").union(q.filter(value=1).values("pk"), all=True)
        got = list(q.filter(pk__in=union.order_by("pk")[:1]).values_list("name", flat=True))
        assert got == ["un_1"]
    finally:
        objs.filter(name__startswith="un_").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_avg_of_decimal_is_a_short_decimal(alias, request):
    import decimal
    from django.db.models import Avg
    objs = _objects(alias, request)
    objs.create(name="avg_1", amount=decimal.Decimal("23.09"))
    objs.create(name="avg_2", amount=decimal.Decimal("23.09"))
    try:
        got = objs.filter(name__startswith="avg_").aggregate(a=Avg("amount"))["a"]
        # A Float64 on modern servers, a Decimal on 18.16: both read as 23.09.
        assert isinstance(got, decimal.Decimal) and got == decimal.Decimal("23.09")
    finally:
        objs.filter(name__startswith="avg_").delete()


@pytest.mark.parametrize("alias", ALIASES)
def test_duration_multiply_divide(alias, request):
    import decimal
    from django.db.models import DurationField, ExpressionWrapper, F, Value
    objs = _objects(alias, request)
    p = objs.create(name="dur", value=2)
    try:
        base = Value(datetime.timedelta(seconds=3, microseconds=5), output_field=DurationField())
        q = objs.filter(pk=p.pk).annotate(
            m=ExpressionWrapper(base * F("value"), output_field=DurationField()),
            d=ExpressionWrapper(base / 3.2, output_field=DurationField()),
            k=ExpressionWrapper(decimal.Decimal("2") * base, output_field=DurationField()),
        )
        m, d, k = q.values_list("m", "d", "k").get()
        td = datetime.timedelta(seconds=3, microseconds=5)
        assert (m, d, k) == (td * 2, td / 3.2, td * 2)
        tie = Value(datetime.timedelta(microseconds=25), output_field=DurationField())
        half = objs.filter(pk=p.pk).annotate(h=ExpressionWrapper(
            tie / 10.0, output_field=DurationField())).values_list("h", flat=True).get()
        assert half == datetime.timedelta(microseconds=25) / 10.0  # 2: ties to even
    finally:
        p.delete()


def test_date_plus_duration_on_date32(edb):
    # ClickHouse adds no sub-day interval to a Date32: the date side becomes
    # a DateTime64 first.
    from django.db.models import F
    objs = Plain.objects.using("embedded")
    p = objs.create(name="d32", day=datetime.date(2021, 3, 4))
    try:
        q = objs.filter(pk=p.pk)
        assert q.filter(day__lt=F("day") + datetime.timedelta(microseconds=1)).exists()
        assert not q.filter(day__lt=F("day") - datetime.timedelta(hours=1)).exists()
    finally:
        p.delete()
