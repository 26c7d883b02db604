"""Django's SQL debug log and connection.queries carry each query's query_id and
the rows and bytes it read (issue 19), on both engines: chDB reports its
statistics, the 18.16 server sends no summary (the counts are None there)."""
import logging

import pytest
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from tests.backend.conftest import use_db
from tests.backend.testapp.models import Numbers, Plain


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_queries_and_log_records_carry_query_facts(alias, request, caplog):
    conn = use_db(alias, request)
    with caplog.at_level(logging.DEBUG, logger="django.db.backends"), CaptureQueriesContext(conn) as ctx:
        with conn.cursor() as cur:
            cur.execute("SELECT count() FROM numbers(1000)")
            assert cur.fetchall() == [(1000,)]
            qid = cur.cursor.query_id
        Plain.objects.using(alias).filter(name="nobody").count()
    first, orm = ctx.captured_queries
    assert first["query_id"] == qid and orm["query_id"] and orm["query_id"] != qid
    records = [r for r in caplog.records if r.name == "django.db.backends" and getattr(r, "sql", None)]
    assert [r.query_id for r in records][-2:] == [qid, orm["query_id"]]
    # Django's own message and extra are unchanged (its suite checks them)
    assert records[-2].getMessage().endswith("; args=None; alias=%s" % alias)
    if alias == "embedded":
        assert (first["read_rows"], first["read_bytes"]) == (1000, 8000)
        assert records[-2].read_rows == 1000
    else:  # 18.16: no X-ClickHouse-Summary
        assert first["read_rows"] is None and first["read_bytes"] is None


def test_no_facts_without_debug(db):
    from django.db import connection

    assert not connection.queries_logged
    before = len(connection.queries_log)
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    assert len(connection.queries_log) == before


@pytest.mark.parametrize("alias", ["default", "embedded"])
def test_queryset_query_id(alias, request):
    conn = use_db(alias, request)
    qs = Numbers.objects.using(alias).query_id("qs-report-42")
    with CaptureQueriesContext(conn) as ctx:
        assert list(qs.filter(id=-1)) == []
        assert qs.filter(id=-1).count() == 0
        assert qs.aggregate(n=Count("id", distinct=True))["n"] >= 0  # an aggregate over a subquery
        Numbers.objects.using(alias).filter(id=-1).count()
    ids = [q["query_id"] for q in ctx.captured_queries]
    assert ids[:3] == ["qs-report-42"] * 3 and ids[3] != "qs-report-42"
    with pytest.raises(TypeError):
        qs.query_id(42)


def test_facts_do_not_leak_into_other_records(db, caplog):
    from django.db import connection

    with caplog.at_level(logging.DEBUG, logger="django.db.backends"), CaptureQueriesContext(connection):
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        logging.getLogger("django.db.backends").debug("something else")
    assert not hasattr(caplog.records[-1], "query_id")
