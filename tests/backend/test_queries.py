"""Query compilation on both engines (the 18.16 server and chDB): NULL
semantics of exclude(), NULL ordering, slices without ordering, iexact."""
import datetime

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.backend.testapp.models import Plain

ALIASES = ["default", "embedded"]


def _objects(alias, request):
    request.getfixturevalue("db" if alias == "default" else "edb")
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
            assert list(q[:2]) == created[:2]
        assert "ORDER BY" in ctx.captured_queries[-1]["sql"]
        assert list(q.filter(pk__in=q[1:2].values("pk"))) == [created[1]]
        # exists() and aggregates stay without an ORDER BY.
        with CaptureQueriesContext(connections[alias]) as ctx:
            assert q.exists()
        assert "ORDER BY" not in ctx.captured_queries[-1]["sql"]
    finally:
        objs.filter(name__startswith="s").delete()
