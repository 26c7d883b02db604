"""The benchmark tables (created by benchmarks/run.py with the same DDL for both
backends, hence managed = False: the two backends' migrations differ, the tables
must not)."""
from clickhouse_backend import models


class Row(models.ClickhouseModel):
    id = models.UInt64Field(primary_key=True)
    s = models.StringField()
    f = models.Float64Field()
    dt = models.DateTimeField()
    n = models.Int32Field(null=True)

    class Meta:
        managed = False
        db_table = "events"
        app_label = "djbench"


class RowIns(models.ClickhouseModel):
    id = models.UInt64Field(primary_key=True)
    s = models.StringField()
    f = models.Float64Field()
    dt = models.DateTimeField()
    n = models.Int32Field(null=True)

    class Meta:
        managed = False
        db_table = "ins_django"
        app_label = "djbench"
