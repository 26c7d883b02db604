from django.db.models.functions import TruncDate

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


# The "Events per day" chart reads this rollup, kept up to date on every insert
# into Event by the materialized view below (ClickHouse pre-aggregates on insert).
class EventDaily(models.ClickhouseModel):
    day = models.DateField(primary_key=True)
    events = models.AggregateFunctionField("count")

    class Meta:
        engine = models.AggregatingMergeTree(order_by="day")


class EventDailyMV(models.ClickhouseModel):
    day = models.DateField(primary_key=True)
    events = models.AggregateFunctionField("count")

    class Meta:
        view = models.MaterializedView(
            lambda: Event.objects.annotate(day=TruncDate("timestamp")).values("day")
            .annotate(events=models.countState()),
            to=EventDaily)
