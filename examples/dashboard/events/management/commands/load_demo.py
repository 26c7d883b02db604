"""python manage.py load_demo [--rows N] [--in-database]: creates the table and loads
demo events, through the ORM's bulk_create in batches, or with --in-database by one
INSERT ... SELECT that ClickHouse runs itself (its progress stream drives the bar)."""
import datetime
import decimal
import random
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from clickhouse_backend.management.progressbar import ProgressBar
from events.models import Event, EventDaily

KINDS = ["view", "view", "view", "click", "click", "signup", "purchase"]
COUNTRIES = ["DE", "US", "FR", "JP", "BR", "IN", "GB", "NL", "ES", "CA"]

# The same random events as bulk_create's, drawn by the database: column i of row
# `number` from cityHash64(number, i, seed).
IN_DATABASE = """
INSERT INTO {table} (id, timestamp, kind, country, user_id, duration_ms, revenue)
SELECT number + 1, toDateTime(%(now)s - cityHash64(number, 1, %(seed)s) %% (90 * 86400)), kind,
       [{countries}][cityHash64(number, 2, %(seed)s) %% {n_countries} + 1],
       cityHash64(number, 3, %(seed)s) %% 5000,
       toUInt32(-800 * log(1 - (cityHash64(number, 4, %(seed)s) %% 1000000) / 1000000)),
       if(kind = 'purchase', toDecimal64((cityHash64(number, 5, %(seed)s) %% 19500 + 500) / 100, 2),
          toDecimal64(0, 2))
FROM (SELECT number, [{kinds}][cityHash64(number, 6, %(seed)s) %% {n_kinds} + 1] AS kind
      FROM numbers(%(rows)s))
"""


class Command(BaseCommand):
    help = "Create the events table and load random demo events (last 90 days)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=200_000)
        parser.add_argument("--batch", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--in-database", action="store_true",
                            help="generate the rows in ClickHouse (one INSERT ... SELECT)")

    def handle(self, rows, batch, seed, in_database, **options):
        call_command("migrate", run_syncdb=True, verbosity=0)
        Event.objects.all().delete()
        EventDaily.objects.all().delete()  # the materialized view's rollup
        bar = ProgressBar(sys.stderr)
        if in_database:
            return self.in_database(rows, seed, bar)
        rnd = random.Random(seed)
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        start = time.monotonic()
        done = 0
        while done < rows:
            n = min(batch, rows - done)
            objs = []
            for _ in range(n):
                kind = rnd.choice(KINDS)
                objs.append(Event(
                    timestamp=now - datetime.timedelta(seconds=rnd.randrange(90 * 86400)),
                    kind=kind, country=rnd.choice(COUNTRIES), user_id=rnd.randrange(5000),
                    duration_ms=int(rnd.expovariate(1 / 800)),
                    revenue=decimal.Decimal(rnd.randrange(500, 20000)) / 100 if kind == "purchase" else 0))
            Event.objects.bulk_create(objs)
            done += n
            bar.count(done, rows)
        bar.finish()
        self.stdout.write("loaded %d events in %.1f s" % (rows, time.monotonic() - start))

    def in_database(self, rows, seed, bar):
        start = time.monotonic()
        quoted = lambda values: ", ".join("'%s'" % v for v in values)  # noqa: E731 (fixed words)
        sql = IN_DATABASE.format(table=Event._meta.db_table, kinds=quoted(KINDS), n_kinds=len(KINDS),
                                 countries=quoted(COUNTRIES), n_countries=len(COUNTRIES))
        connection.ensure_connection()
        with connection.connection.cursor() as cur:
            # ClickHouse 22+ and the embedded engine report how far the INSERT got.
            cur.execute(sql, {"now": int(time.time()), "seed": seed, "rows": rows},
                        progress=lambda p: bar.count(p.written_rows, rows, "rows written"))
            written = cur.summary.written_rows
        bar.count(rows, rows, "rows written")
        bar.finish()
        self.stdout.write("loaded %d events in %.1f s%s" % (
            rows, time.monotonic() - start, "" if written is None else " (the server wrote %d rows, the materialized view's rollup rows included)" % written))
