"""Models using what ClickHouse 18.16 lacks (Map, DateTime64, Bool, Date32,
big integers, data skipping indexes, lightweight DELETE, window functions):
migrated only on the embedded engine (see routers.py)."""
from django.db import models as dj

from clickhouse_backend import models


class Metric(models.ClickhouseModel):
    name = models.StringField(low_cardinality=True)
    labels = models.MapField(models.StringField(), models.Int32Field(), default=dict)
    doc = models.JSONField(null=True)
    at = models.DateTime64Field(precision=3)
    ok = models.BoolField(default=True)
    day = models.Date32Field(null=True)
    big = models.Int128Field(default=0)
    ubig = models.UInt256Field(default=0)
    code = models.FixedStringField(max_bytes=3, default=b"")
    value = models.Float64Field(default=0)

    class Meta:
        engine = models.MergeTree(order_by=("name", "id"), partition_by=models.toYYYYMM("at"))
        indexes = [
            models.Index(fields=["value"], name="value_minmax", type=models.MinMax(), granularity=1),
            models.Index(fields=["name"], name="name_set", type=models.Set(100), granularity=2),
        ]
        constraints = [dj.CheckConstraint(condition=dj.Q(value__gte=0), name="value_nonneg")]
