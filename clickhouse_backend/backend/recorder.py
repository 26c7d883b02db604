"""django_migrations on ClickHouse: the stock MigrationRecorder works (the
table is a MergeTree ordered by id; ids are client-side), except that
unapplying/flushing deletes rows through a mutation, which must be
finished before the recorder answers again, and that ClickHouse returns rows
in no particular order (parts are read in parallel) while Django lists applied
migrations in the order they were recorded: they are read ordered by id
(snowflake ids increase with time). Before 20.1 `applied` (default=now) is a
whole-second column, which refuses microseconds: the recorder writes the
current second."""
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from .datetimes import whole_seconds

_installed = False


def install():
    global _installed
    if _installed:
        return
    _installed = True
    original_unapplied = MigrationRecorder.record_unapplied
    original_flush = MigrationRecorder.flush

    def _sync(self, func, *args):
        conn = self.connection
        if conn.vendor != "clickhouse":
            return func(self, *args)
        previous = conn.force_mutations_sync
        conn.force_mutations_sync = 2
        try:
            return func(self, *args)
        finally:
            conn.force_mutations_sync = previous

    def record_unapplied(self, app, name):
        return _sync(self, original_unapplied, app, name)

    def flush(self):
        return _sync(self, original_flush)

    original_applied = MigrationRecorder.record_applied

    def record_applied(self, app, name):
        if not whole_seconds(self.connection):
            return original_applied(self, app, name)
        self.ensure_schema()
        self.migration_qs.create(app=app, name=name,
                                 applied=timezone.now().replace(microsecond=0))

    original_qs = MigrationRecorder.migration_qs

    @property
    def migration_qs(self):
        qs = original_qs.fget(self)
        if self.connection.vendor == "clickhouse":
            qs = qs.order_by("id")
        return qs

    MigrationRecorder.migration_qs = migration_qs
    MigrationRecorder.record_unapplied = record_unapplied
    MigrationRecorder.record_applied = record_applied
    MigrationRecorder.flush = flush
