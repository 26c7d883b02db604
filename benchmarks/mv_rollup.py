"""A materialized-view rollup against a GROUP BY over the raw table (docs/django.md,
"Materialized views"): N events inserted through the view, then the same daily
numbers read both ways, and checked equal.

    set -a; source $CHB_STATE_DIR/env; set +a     # for --alias default (the server)
    python benchmarks/mv_rollup.py [--alias embedded|default] [--rows 10000000]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.backend.settings")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--alias", default="embedded")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    import django
    django.setup()
    from django.db import connections
    from django.db.models import Count, Sum

    from clickhouse_backend import models
    from tests.backend.modeling import drop, make_model

    conn = connections[args.alias]
    conn.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    Ev = make_model("Ev", {"day": models.DateField(), "user": models.UInt64Field(),
                           "v": models.UInt32Field()},
                    engine=models.MergeTree(order_by=("day", "user")))
    fields = lambda: {"day": models.DateField(primary_key=True),  # noqa: E731
                      "n": models.AggregateFunctionField("count"),
                      "total": models.AggregateFunctionField("sum", models.UInt32Field())}
    Daily = make_model("Daily", fields(), engine=models.AggregatingMergeTree(order_by="day"))
    query = Ev.objects.values("day").annotate(n=models.countState(), total=models.sumState("v"))
    DailyMV = make_model("DailyMV", fields(), view=models.MaterializedView(query, to=Daily))
    try:
        with conn.schema_editor() as editor:
            for model in (Ev, Daily, DailyMV):
                editor.create_model(model)
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute('INSERT INTO "%s" (id, day, user, v) SELECT number, toDate(\'2024-01-01\') '
                        "+ number %% 30, number %% 5000, number %% 100 FROM numbers(%d)"
                        % (Ev._meta.db_table, args.rows))
        print("insert %d rows through the view: %.2f s" % (args.rows, time.perf_counter() - start))
        ways = {
            "GROUP BY over the raw table": lambda: list(Ev.objects.using(args.alias).values("day")
                                                        .annotate(n=Count("id"), total=Sum("v"))
                                                        .order_by("day")),
            "rollup read with -Merge": lambda: list(Daily.objects.using(args.alias).values("day")
                                                    .annotate(n=models.countMerge("n"),
                                                              total=models.sumMerge("total"))
                                                    .order_by("day")),
        }
        results = {}
        for name, run in ways.items():
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                results[name] = run()
                times.append(time.perf_counter() - start)
            print("%s: median %.1f ms, min %.1f ms (%d runs)" % (
                name, statistics.median(times) * 1000, min(times) * 1000, args.runs))
        a, b = results.values()
        assert a == b, "the rollup differs from the GROUP BY"
        print("same %d rows both ways" % len(a))
    finally:
        drop(args.alias, DailyMV._meta.db_table, Daily._meta.db_table, Ev._meta.db_table)
        conn.creation.destroy_test_db(conn.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
