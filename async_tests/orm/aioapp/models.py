from django.db import models as dj
from django.utils import timezone

from clickhouse_backend import models
from clickhouse_backend.models.aio import AsyncManager


class Event(models.ClickhouseModel):
    name = models.StringField(low_cardinality=True, default="")
    value = models.Int64Field(default=0)
    score = models.Float64Field(default=0)
    amount = dj.DecimalField(max_digits=12, decimal_places=3, default=0)
    day = dj.DateField(null=True)
    ts = dj.DateTimeField(default=timezone.now)
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


class Chapter(dj.Model):
    """A nullable foreign key: its related manager has add/set/remove/clear."""
    book = dj.ForeignKey(Book, null=True, on_delete=dj.SET_NULL, related_name="chapters")
    title = dj.CharField(max_length=50)
    objects = AsyncManager()


class Many(models.ClickhouseModel):
    """A view of many rows (created by test_async_claims.py)."""
    id = dj.BigIntegerField(primary_key=True)

    class Meta:
        managed = False
        db_table = "aio_many"
