"""python manage.py load_demo [--rows N]: creates the table and loads demo events."""
import datetime
import decimal
import random
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand

from events.models import Event, EventDaily

KINDS = ["view", "view", "view", "click", "click", "signup", "purchase"]
COUNTRIES = ["DE", "US", "FR", "JP", "BR", "IN", "GB", "NL", "ES", "CA"]


def progress(done, total, width=40, out=sys.stderr):
    filled = width * done // total
    out.write("\r[%s%s] %3d%% %d/%d" % ("#" * filled, "." * (width - filled),
                                         100 * done // total, done, total))
    out.flush()


class Command(BaseCommand):
    help = "Create the events table and load random demo events (last 90 days)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=200_000)
        parser.add_argument("--batch", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, rows, batch, seed, **options):
        call_command("migrate", run_syncdb=True, verbosity=0)
        Event.objects.all().delete()
        EventDaily.objects.all().delete()  # the materialized view's rollup
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
            progress(done, rows)
        sys.stderr.write("\n")
        self.stdout.write("loaded %d events in %.1f s" % (rows, time.monotonic() - start))
