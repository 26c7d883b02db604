"""A SELECT alias that names a column of a joined table. Before the query
analyzer (24.3) ClickHouse aliases are global: `upper("c"."title") AS "name"`
replaced the joined "p"."name" in WHERE and in other selected columns (18.16
returned no row, and the child's title as the parent's name). The backend
gives such aliases an internal name there (features.has_query_analyzer)."""
import uuid

import pytest
from django.apps.registry import Apps
from django.db import connections, models as dj
from django.db.models import Count, F
from django.db.models.functions import Upper

from tests.backend.conftest import created_tables

ALIASES = ["default", "embedded"]


def _models():
    apps, suffix = Apps(), uuid.uuid4().hex[:8]

    def meta(table):
        return type("Meta", (), {"app_label": "testapp", "apps": apps, "db_table": table + suffix})
    parent = type("Parent", (dj.Model,), {
        "__module__": __name__, "Meta": meta("ap_"), "name": dj.CharField(max_length=20)})
    child = type("Child", (dj.Model,), {
        "__module__": __name__, "Meta": meta("ac_"), "title": dj.CharField(max_length=20),
        "parent": dj.ForeignKey(parent, dj.CASCADE)})
    return parent, child


@pytest.fixture(scope="module", params=ALIASES)
def family(request):
    request.getfixturevalue("db" if request.param == "default" else "edb")
    conn = connections[request.param]
    Parent, Child = _models()
    with created_tables(conn, Parent, Child):
        p = Parent.objects.using(conn.alias).create(name="p")
        q = Parent.objects.using(conn.alias).create(name="q")
        Child.objects.using(conn.alias).create(title="t", parent=p)
        Child.objects.using(conn.alias).create(title="u", parent=q)
        yield Child.objects.using(conn.alias)


def test_alias_named_like_a_joined_column_in_where(family):
    qs = family.annotate(name=Upper("title")).filter(parent__name="p")
    assert list(qs.values_list("title", "name")) == [("t", "T")]


def test_alias_named_like_a_joined_column_beside_it(family):
    qs = family.annotate(name=F("title")).order_by("name")
    assert list(qs.values_list("name", "parent__name")) == [("t", "p"), ("u", "q")]
    # ordered and grouped by the alias (a Ref to it)
    assert list(family.annotate(name=Upper("title")).order_by("-name")
                .values_list("name", "parent__name")) == [("U", "q"), ("T", "p")]
    assert list(family.values(name=Upper("title")).annotate(n=Count("id"))
                .order_by("name").values_list("name", "n")) == [("T", 1), ("U", 1)]
