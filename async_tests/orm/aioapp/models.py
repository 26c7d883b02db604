from django.db import models as dj

from clickhouse_backend import models
from clickhouse_backend.models.aio import AsyncManager
from clickhouse_backend.utils.timezone import whole_second_now


class Event(models.ClickhouseModel):
    name = models.StringField(low_cardinality=True, default="")
    value = models.Int64Field(default=0)
    score = models.Float64Field(default=0)
    amount = dj.DecimalField(max_digits=12, decimal_places=3, default=0)
    day = dj.DateField(null=True)
    # whole seconds: 18.16 refuses the microseconds of timezone.now (docs/django.md)
    ts = dj.DateTimeField(default=whole_second_now)
    uid = dj.UUIDField(null=True)
    tags = models.ArrayField(models.StringField(), default=list)
    touched = dj.DateTimeField(auto_now=True)

    class Meta:
        get_latest_by = "ts"
        engine = models.MergeTree(order_by=("id",))


class Slow(models.ClickhouseModel):
    """A view whose every SELECT sleeps (created by conftest.py)."""
    id = dj.BigIntegerField(primary_key=True)

    class Meta:
        managed = False
        db_table = "aio_slow"


class Author(dj.Model):
    name = dj.CharField(max_length=50)
    objects = AsyncManager()


class Book(dj.Model):
    author = dj.ForeignKey(Author, on_delete=dj.CASCADE, related_name="books")
    title = dj.CharField(max_length=50)
    pages = dj.IntegerField(default=0)
    objects = AsyncManager()


class Note(dj.Model):
    """A plain model with Django's own manager: reached through aio(qs)."""
    title = dj.CharField(max_length=50)
    n = dj.IntegerField(default=0)
    seven = dj.IntegerField(db_default=7)  # evaluated with a SELECT before the INSERT


class Leaf(dj.Model):
    """A nullable foreign key: its related manager has add/set/remove/clear."""
    book = dj.ForeignKey(Book, null=True, on_delete=dj.SET_NULL, related_name="leaves")
    title = dj.CharField(max_length=50)
    objects = AsyncManager()


class Many(models.ClickhouseModel):
    """A view of many rows (created by test_async_claims.py)."""
    id = dj.BigIntegerField(primary_key=True)

    class Meta:
        managed = False
        db_table = "aio_many"


# ---- async_tests/orm/test_bridge.py ------------------------------------------------

class Chapter(dj.Model):
    """Two levels under Author: prefetch_related("books__chapters"), cascades."""
    book = dj.ForeignKey(Book, on_delete=dj.CASCADE, related_name="chapters")
    title = dj.CharField(max_length=50)


class Place(dj.Model):
    name = dj.CharField(max_length=50)


class Restaurant(Place):
    """Multi-table inheritance: save() writes the parent row, then this one."""
    seats = dj.IntegerField(default=0)


class Audited(models.ClickhouseModel):
    """save() with extra queries of its own (a read before, a write after)."""
    name = models.StringField(default="")
    rank = models.Int64Field(default=0)

    def save(self, *args, **kwargs):
        self.rank = type(self).objects.using(kwargs.get("using") or "default").count() + 1
        super().save(*args, **kwargs)
        AuditLog.objects.using(kwargs.get("using") or self._state.db).create(
            what="saved %s as %d" % (self.name, self.rank))

    def delete(self, *args, **kwargs):
        AuditLog.objects.using(kwargs.get("using") or self._state.db).create(what="deleted %s" % self.name)
        return super().delete(*args, **kwargs)

    class Meta:
        engine = models.MergeTree(order_by=("id",))


class AuditLog(models.ClickhouseModel):
    what = models.StringField(default="")

    class Meta:
        engine = models.MergeTree(order_by=("id",))


class Million(models.ClickhouseModel):
    """A view of 1,000,000 rows (created by test_bridge.py)."""
    id = dj.BigIntegerField(primary_key=True)
    label = dj.CharField(max_length=20)

    class Meta:
        managed = False
        db_table = "aio_million"
