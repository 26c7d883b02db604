"""``manage.py chquery "SQL"``: run one query on a ClickHouse database with a live
progress bar on stderr (servers that send progress: ClickHouse 22+ and the
embedded engine), then print the result as a table, or as CSV with --csv."""
import csv as csvlib
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from clickhouse_backend import driver
from clickhouse_backend.management.progressbar import ProgressBar


def _cell(v):
    return "NULL" if v is None else str(v)


class Command(BaseCommand):
    help = "Run a ClickHouse query with a progress bar; print a table or CSV."

    def add_arguments(self, parser):
        parser.add_argument("sql", help="the query")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="a ClickHouse database alias")
        parser.add_argument("--csv", action="store_true", help="write CSV (with a header row) to stdout")
        parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                            help="a ClickHouse setting for this query (repeatable)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, sql, database, csv, setting, no_progress, **options):
        connection = connections[database]
        if connection.vendor != "clickhouse":
            raise CommandError(f"database {database!r} is not a ClickHouse database")
        settings = {}
        for item in setting:
            name, eq, value = item.partition("=")
            if not eq or not name:
                raise CommandError(f"--setting takes NAME=VALUE, not {item!r}")
            settings[name.strip()] = value
        bar = None if no_progress else ProgressBar(self.stderr._out)
        start = time.monotonic()
        connection.ensure_connection()
        cur = connection.connection.cursor()
        try:
            try:
                cur.execute(sql, settings=settings or None, progress=bar.update if bar else None)
                names = [d[0] for d in cur.description or ()]
                rows = cur.fetchall() if names else []
            except driver.Error as e:
                raise CommandError(str(e)) from e
            finally:
                if bar:
                    bar.finish()
            if names:
                (self._csv if csv else self._table)(names, rows)
            s = cur.summary
            facts = f"{len(rows)} rows in {time.monotonic() - start:.2f} s"
            if s.read_rows is not None:
                facts += f", {s.read_rows} rows read"
            if s.written_rows:
                facts += f", {s.written_rows} rows written"
            self.stderr.write(f"{facts} (query_id {cur.query_id})")
        finally:
            cur.close()

    def _csv(self, names, rows):
        w = csvlib.writer(self.stdout._out, lineterminator="\n")
        w.writerow(names)
        w.writerows(rows)

    def _table(self, names, rows):
        cells = [[_cell(v) for v in r] for r in rows]
        widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        self.stdout.write(line)
        self.stdout.write("| " + " | ".join(n.ljust(w) for n, w in zip(names, widths)) + " |")
        self.stdout.write(line)
        for r in cells:
            self.stdout.write("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |")
        self.stdout.write(line)
