from django.db import models as dj
from django.utils import timezone

from clickhouse_backend import models


class Event(models.ClickhouseModel):
    ip = models.GenericIPAddressField(default="::")
    ipv4 = models.IPv4Field(default="127.0.0.1")
    port = models.UInt16Field(default=0)
    protocol = models.StringField(default="", low_cardinality=True)
    content = models.StringField(default="")
    timestamp = models.DateTimeField(default=timezone.now)
    created_at = dj.DateTimeField(auto_now_add=True)
    action = models.EnumField(choices=[(1, "Pass"), (2, "Drop"), (3, "Alert")], default=1)
    tags = models.ArrayField(models.StringField(), default=list)
    note = models.StringField(null=True)

    class Meta:
        ordering = ["-id"]
        engine = models.MergeTree(
            order_by=("timestamp", "id"),
            partition_by=models.toYYYYMM("timestamp"),
            settings={"index_granularity": 1024},
        )


class Plain(dj.Model):
    """A plain Django model stored on ClickHouse."""
    name = dj.CharField(max_length=50)
    value = dj.IntegerField(default=0)
    flag = dj.BooleanField(default=False)
    amount = dj.DecimalField(max_digits=10, decimal_places=2, default=0)
    day = dj.DateField(null=True)
    uid = dj.UUIDField(null=True)
    data = dj.JSONField(null=True)
    stamp = dj.DateTimeField(null=True)
    counter = dj.IntegerField(db_default=7)


class Numbers(models.ClickhouseModel):
    i8 = models.Int8Field(default=0)
    u64 = models.UInt64Field(default=0)
    f32 = models.Float32Field(default=0)
    dec = models.DecimalField(max_digits=9, decimal_places=3, default=0)
    flag = models.BoolField(default=False)
    fixed = models.FixedStringField(max_bytes=4, default=b"")
    day = models.DateField(null=True)
    tup = models.TupleField([("a", models.Int32Field()), ("b", models.StringField())],
                            default=(0, ""))

    class Meta:
        engine = models.ReplacingMergeTree(order_by="id")
