"""QuerySet.final(), .sample(), .limit_by(), .array_join(), .query_id() on both
engines (the 18.16 server and chDB): the rows they return, composed with
values()/annotate()/filter()/prewhere()/settings(), subqueries and the async ORM;
what 18.16 lacks is refused naming the version."""
import asyncio
import datetime
import uuid

import pytest
from django.db import NotSupportedError, connections
from django.db.models import Count, Max, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext

from clickhouse_backend import models
from tests.backend.conftest import temp_model, use_db

ALIASES = ["default", "embedded"]
DAY1, DAY2 = datetime.date(2024, 1, 1), datetime.date(2024, 1, 2)


@pytest.fixture(scope="module", params=ALIASES)
def hits(request):
    """(alias, Hit model) on a fresh ReplacingMergeTree table sampled by user,
    filled with: users 1..3 on DAY1 (user 1 twice: versions 1 and 2), user 4 on
    DAY2, and 20,000 users on DAY2 with tags for sampling."""
    alias = request.param
    conn = use_db(alias, request)
    Hit = temp_model("clause_hit", models.ClickhouseModel,
                     user=models.UInt64Field(), day=models.DateField(),
                     version=models.UInt32Field(default=0), v=models.UInt32Field(default=0),
                     tags=models.ArrayField(models.StringField(), default=list))
    Hit._meta.engine = models.ReplacingMergeTree(
        "version", order_by=("day", "intHash32(user)"), sample_by="intHash32(user)")
    with conn.schema_editor() as editor:
        editor.create_model(Hit)
    objs = Hit.objects.using(alias)
    objs.bulk_create([
        Hit(user=1, day=DAY1, version=1, v=10, tags=["a", "b"]),
        Hit(user=2, day=DAY1, v=20, tags=["c"]),
        Hit(user=3, day=DAY1, v=30, tags=[]),
        Hit(user=4, day=DAY2, v=40, tags=["a"]),
    ])
    objs.bulk_create([Hit(user=1, day=DAY1, version=2, v=11, tags=["a", "b", "z"])])
    objs.bulk_create([Hit(user=100 + i, day=datetime.date(2024, 2, 1), v=i)
                      for i in range(20000)])
    yield alias, Hit
    with conn.schema_editor() as editor:
        editor.delete_model(Hit)


def _day1(Hit, alias):
    return Hit.objects.using(alias).filter(day=DAY1)


def test_final_deduplicates_replacing_merge_tree(hits):
    alias, Hit = hits
    qs = _day1(Hit, alias)
    assert qs.count() == 4  # two parts, not merged yet
    final = qs.final()
    assert sorted(final.values_list("user", "v")) == [(1, 11), (2, 20), (3, 30)]
    assert final.count() == 3
    assert " FINAL" in str(final.query)
    # Composed with values()/annotate(), prewhere() and settings().
    rows = list(final.prewhere(day=DAY1).values("day").annotate(n=Count("id"), top=Max("v"))
                .settings(max_threads=1))
    assert rows == [{"day": DAY1, "n": 3, "top": 30}]


def test_final_in_a_subquery(hits):
    alias, Hit = hits
    latest = _day1(Hit, alias).final().filter(user=1).values("v")
    assert list(_day1(Hit, alias).filter(v__in=Subquery(latest)).values_list("v", flat=True)) \
        == [11]


def test_sample_returns_about_the_ratio(hits):
    alias, Hit = hits
    qs = Hit.objects.using(alias).filter(day=datetime.date(2024, 2, 1))
    total = qs.count()
    assert total == 20000
    tenth = qs.sample(0.1).count()
    assert 0.07 * total < tenth < 0.13 * total
    # Two halves (offset) are disjoint and cover the table.
    first = set(qs.sample(0.5).values_list("user", flat=True))
    second = set(qs.sample(0.5, offset=0.5).values_list("user", flat=True))
    assert not first & second and len(first | second) == total
    assert "SAMPLE 1/10" in str(qs.sample(0.1).query)
    # In a subquery.
    assert qs.filter(id__in=qs.sample(0.5).values("id")).count() == len(first)


def test_sample_takes_django_clickhouse_backend_keywords(hits):
    """sample(sample_fraction=, sample_offset=), the predecessor's names, give
    the same rows as sample(ratio, offset=)."""
    alias, Hit = hits
    qs = Hit.objects.using(alias).filter(day=datetime.date(2024, 2, 1))
    for ours, theirs in [(qs.sample(0.5), qs.sample(sample_fraction=0.5)),
                         (qs.sample(0.5, offset=0.5),
                          qs.sample(sample_fraction=0.5, sample_offset=0.5)),
                         (qs.sample(0.5, 0.5), qs.sample(0.5, sample_offset=0.5))]:
        assert str(theirs.query) == str(ours.query)
        got = sorted(theirs.values_list("user", flat=True))
        assert got == sorted(ours.values_list("user", flat=True))
        assert 0.4 * 20000 < len(got) < 0.6 * 20000
    with pytest.raises(TypeError, match="both ratio and sample_fraction"):
        qs.sample(0.5, sample_fraction=0.5)
    with pytest.raises(TypeError, match="both offset and sample_offset"):
        qs.sample(0.5, offset=0.5, sample_offset=0.5)
    with pytest.raises(TypeError, match="needs a ratio"):
        qs.sample(sample_offset=0.5)
    with pytest.raises(ValueError):
        qs.sample(sample_fraction=1.5)


def test_update_and_delete_refuse_row_choosing_clauses(hits):
    # A mutation changes every matching row: a sample()d delete must not delete all.
    alias, Hit = hits
    qs = Hit.objects.using(alias).filter(day=DAY1)
    for chosen in (qs.sample(0.5), qs.order_by("v").limit_by(1, "day"),
                   qs.array_join("tags", alias="t")):
        with pytest.raises(TypeError, match="mutations change every matching row"):
            chosen.delete()
        with pytest.raises(TypeError, match="mutations change every matching row"):
            chosen.update(v=0)
        with pytest.raises(TypeError, match="mutations change every matching row"):
            asyncio.run(chosen.adelete())
    assert qs.count() == 4


def test_sample_refuses_bad_ratios():
    qs = models.QuerySet(model=None)
    for bad in (0, 1.5, -0.1, "0.1", True):
        with pytest.raises((ValueError, TypeError)):
            qs.sample(bad)


def test_final_with_sample(hits):
    alias, Hit = hits
    qs = Hit.objects.using(alias).filter(day=DAY1).final().sample(1)
    if not connections[alias].features.supports_final_with_sample:
        with pytest.raises(NotSupportedError, match="final\\(\\) with sample\\(\\) needs "
                                                    "ClickHouse 19.1"):
            list(qs)
        return
    assert sorted(qs.values_list("user", flat=True)) == [1, 2, 3]


def test_limit_by(hits):
    alias, Hit = hits
    qs = Hit.objects.using(alias).filter(day__in=[DAY1, DAY2]).order_by("-v")
    top = list(qs.limit_by(1, "day").values_list("day", "v"))
    assert top == [(DAY2, 40), (DAY1, 30)]
    two = list(qs.limit_by(2, "day").values_list("v", flat=True))
    assert two == [40, 30, 20]
    # A slice applies after LIMIT BY.
    assert list(qs.limit_by(2, "day").values_list("v", flat=True)[1:2]) == [30]
    offset = qs.limit_by(1, "day", offset=1).values_list("v", flat=True)
    if connections[alias].features.supports_limit_by_offset:
        assert list(offset) == [20]
    else:
        with pytest.raises(NotSupportedError, match="needs ClickHouse 19.1"):
            list(offset)


def test_array_join(hits):
    alias, Hit = hits
    qs = _day1(Hit, alias).final()
    rows = sorted(qs.array_join("tags", alias="tag").values_list("user", "tag"))
    assert rows == [(1, "a"), (1, "b"), (1, "z"), (2, "c")]
    # LEFT ARRAY JOIN keeps the empty array's row (with the default value).
    left = sorted(qs.left_array_join("tags", alias="tag").values_list("user", "tag"))
    assert left == [(1, "a"), (1, "b"), (1, "z"), (2, "c"), (3, "")]
    # The element in filter(), annotate() with GROUP BY and order_by().
    counts = list(Hit.objects.using(alias).filter(day__in=[DAY1, DAY2]).final()
                  .array_join("tags", alias="tag").filter(tag__in=["a", "c"])
                  .values("tag").annotate(n=Count("id")).order_by("tag"))
    assert counts == [{"tag": "a", "n": 2}, {"tag": "c", "n": 1}]
    # Model instances get the element as an attribute.
    assert [(h.user, h.tag) for h in qs.array_join("tags", alias="tag").order_by("user", "tag")] \
        == [(1, "a"), (1, "b"), (1, "z"), (2, "c")]
    with pytest.raises(TypeError, match="ArrayField"):
        qs.array_join("user", alias="u")


def test_query_id(hits):
    # The driver runs the query under that id; the server sees it in
    # system.processes (chDB takes no query_id: there only the driver has it).
    alias, Hit = hits
    conn = connections[alias]
    query_id = "chb-test-" + uuid.uuid4().hex
    me = RawSQL("(SELECT count() FROM system.processes WHERE query_id = %s)", [query_id])
    qs = _day1(Hit, alias).annotate(me=me).values_list("user", "me")
    seen = []

    def spy(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        seen.append(context["cursor"].cursor.query_id)
        return result

    with conn.execute_wrapper(spy):
        rows = sorted(qs.query_id(query_id))
    assert seen == [query_id]
    if not conn.settings_dict["OPTIONS"].get("embedded"):
        assert rows == [(1, 1), (1, 1), (2, 1), (3, 1)]
        assert sorted(qs) == [(1, 0), (1, 0), (2, 0), (3, 0)]
    with pytest.raises(TypeError):
        qs.query_id("")


def test_clauses_in_the_async_orm(hits):
    alias, Hit = hits

    async def run():
        qs = Hit.objects.using(alias).filter(day__in=[DAY1, DAY2])
        final = await qs.final().acount()
        by_day = [r async for r in qs.order_by("-v").limit_by(1, "day").values_list("v", flat=True)]
        tags = [t async for t in qs.final().array_join("tags", alias="t")
                .order_by("t").values_list("t", flat=True)]
        return final, by_day, tags

    assert asyncio.run(run()) == (4, [40, 30], ["a", "a", "b", "c", "z"])


def test_generated_sql(hits):
    alias, Hit = hits
    qs = (Hit.objects.using(alias).final().array_join("tags", alias="tag")
          .prewhere(day=DAY1).filter(v__gt=0).order_by("v").limit_by(1, "user")
          .values("user", "tag"))
    with CaptureQueriesContext(connections[alias]) as ctx:
        list(qs[:10])
    sql = ctx.captured_queries[-1]["sql"]
    table = Hit._meta.db_table
    assert ('FROM "%s" FINAL ARRAY JOIN "%s"."tags" AS "tag__element" PREWHERE' % (table, table)) in sql
    assert sql.endswith('LIMIT 1 BY "%s"."user" LIMIT 10' % table)


def test_with_totals(hits):
    alias, Hit = hits
    qs = (Hit.objects.using(alias).filter(day__in=[DAY1, DAY2]).final().values("day")
          .annotate(n=Count("id"), top=Max("v")).order_by("day").with_totals())
    if not connections[alias].features.supports_grouping_sets:
        with pytest.raises(NotSupportedError, match="with_totals\\(\\) needs ClickHouse 22.7"):
            list(qs)
        return
    assert list(qs) == [{"day": DAY1, "n": 3, "top": 30}, {"day": DAY2, "n": 1, "top": 40},
                        {"day": None, "n": 4, "top": 40}]
    # Two keys, values_list(), the async ORM.
    rows = asyncio.run(_alist(Hit.objects.using(alias).filter(day=DAY1).final()
                              .values_list("day", "user").annotate(s=Sum("v"))
                              .order_by("user").with_totals()))
    assert rows == [(DAY1, 1, 11), (DAY1, 2, 20), (DAY1, 3, 30), (None, None, 61)]
    with pytest.raises(TypeError, match="aggregation by groups"):
        list(Hit.objects.using(alias).with_totals())


async def _alist(qs):
    return [row async for row in qs]
