from clickhouse_backend import models


class Event(models.ClickhouseModel):
    timestamp = models.DateTime64Field(precision=3)
    kind = models.StringField(low_cardinality=True)
    country = models.StringField(low_cardinality=True)
    user_id = models.UInt32Field()
    duration_ms = models.UInt32Field()
    revenue = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    class Meta:
        engine = models.MergeTree(order_by=("timestamp", "id"),
                                  partition_by=models.toYYYYMM("timestamp"))
