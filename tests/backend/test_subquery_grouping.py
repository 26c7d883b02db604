"""A Subquery in an aggregated query: Django groups by the outer columns the
subquery reads, or by the subquery itself when it reads one across a
multivalued relation (Query.get_group_by_cols), and so must the SQL the
server gets, also after the backend renames the outer tables (a subquery on
the outer query's own table, compiler._unshadow_outer_tables)."""
import re

import pytest
from django.apps.registry import Apps
from django.db import NotSupportedError, connections, models

from tests.backend.conftest import created_tables, use_db

_apps = Apps(["tests.backend.testapp"])  # reverse relations need an app config


class _Meta:
    app_label = "testapp"
    apps = _apps


class Writer(models.Model):
    name = models.CharField(max_length=50)

    class Meta(_Meta):
        db_table = "sqg_writer"


class Volume(models.Model):
    title = models.CharField(max_length=50)
    writer = models.ForeignKey(Writer, models.CASCADE, related_name="volumes")

    class Meta(_Meta):
        db_table = "sqg_volume"


@pytest.fixture(params=["default", "embedded"])
def writers(request):
    """Writers a (two volumes), b (one), c (none) on each target."""
    alias = request.param
    conn = use_db(alias, request)
    with created_tables(conn, Writer, Volume):
        objs = Writer.objects.using(alias)
        a, b, _ = (objs.create(name=n) for n in "abc")
        for w, title in ((a, "x"), (a, "y"), (b, "z")):
            Volume.objects.using(alias).create(writer=w, title=title)
        yield objs


def test_multivalued_subquery_is_grouped_by_its_value(writers):
    from django.db.models import Count, OuterRef, Subquery
    inner = Writer.objects.filter(pk=OuterRef("pk"), volumes__title=OuterRef("volumes__title"))
    q = writers.annotate(sub=Subquery(inner.values("pk"))).annotate(n=Count("volumes"))
    sql = q.query.get_compiler(q.db).as_sql()[0]
    # Grouped by the subquery, not by the outer title it reads (a writer with
    # two volumes would be two groups: count() 4, not 3).
    assert re.search(r"GROUP BY .*, \(SELECT .*\)$", sql)
    assert not re.search(r'GROUP BY .*"title"$', sql)
    # No server groups by a correlated subquery: refused, never a wrong count.
    with pytest.raises(NotSupportedError, match="Correlated subqueries in aggregation keys|25.0"):
        q.count()


def _counts(q, *fields):
    """sorted(values_list) on a server that correlates subqueries, else the
    NotSupportedError naming the release that does."""
    if not connections[q.db].features.supports_correlated_subqueries:
        with pytest.raises(NotSupportedError, match=r"OuterRef\) needs ClickHouse 25\.0"):
            list(q)
        return None
    return sorted(q.values_list(*fields))


def test_subquery_on_single_valued_columns_is_grouped_by_them(writers):
    from django.db.models import Count, OuterRef, Subquery
    inner = Writer.objects.filter(pk=OuterRef("pk")).values("name")
    q = writers.annotate(same=Subquery(inner)).annotate(n=Count("volumes"))
    got = _counts(q, "name", "same", "n")
    assert got in (None, [("a", "a", 2), ("b", "b", 1), ("c", "c", 0)])


def test_outer_columns_with_one_value_per_row_are_group_keys(writers):
    # "volumes__writer" crosses a reverse foreign key, but the join equates
    # it with the writer's id; "writer__name" follows a forward key: both
    # have one value per outer row, grouping by them is grouping by the
    # subquery (which ClickHouse cannot do).
    from django.db.models import Count, Exists, OuterRef, Subquery
    q = writers.annotate(
        has=Exists(Volume.objects.filter(writer=OuterRef("volumes__writer"))),
        n=Count("volumes"))
    assert _counts(q, "name", "has", "n") in (None, [("a", True, 2), ("b", True, 1), ("c", False, 0)])
    volumes = Volume.objects.using(writers.db)
    q = volumes.annotate(by=Subquery(Writer.objects.filter(
        pk=OuterRef("writer"), name=OuterRef("writer__name")).values("name")), n=Count("id"))
    assert _counts(q, "title", "by", "n") in (None, [("x", "a", 1), ("y", "a", 1), ("z", "b", 1)])
