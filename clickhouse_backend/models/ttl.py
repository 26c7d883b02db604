"""Table TTL rules (``Meta.ttl = [TTL(...), "raw rule", ...]``), projections
(``Meta.projections``) and the column
options every ClickHouse field takes (``codec=``, ``ttl=``, ``materialized=``,
``alias=``): backend/schema.py writes them, migrations carry them (a changed
Meta.ttl is ALTER TABLE ... MODIFY TTL, a changed column option MODIFY COLUMN)."""
from django.utils.deconstruct import deconstructible

from clickhouse_backend.tables.engines import Deconstructed

__all__ = ["TTL", "Projection"]


@deconstructible(path="clickhouse_backend.models.TTL")
class TTL(Deconstructed):
    """One TTL rule: ``expression`` (SQL text such as "day + INTERVAL 1 MONTH", a
    field name, or a Django expression) and what happens to rows past it:
    deleted (the default; ``where=`` limits which), moved ``to_disk=``/
    ``to_volume=`` (a storage policy's), or rolled up: ``group_by=`` (a prefix of
    the sorting key) with ``set={column: aggregate SQL}``."""

    def __init__(self, expression, *, to_disk=None, to_volume=None, where=None,
                 group_by=None, set=None):
        if sum(x is not None for x in (to_disk, to_volume, group_by)) > 1:
            raise TypeError("TTL() takes one of to_disk, to_volume, group_by.")
        if set and group_by is None:
            raise TypeError("TTL(set=...) needs group_by.")
        self.expression = expression
        self.to_disk, self.to_volume, self.where = to_disk, to_volume, where
        self.group_by = tuple(group_by) if isinstance(group_by, (list, tuple)) else group_by
        self.set = dict(set or {})

    # Which features flag each part needs (backend/features.py).
    def requirements(self):
        if self.to_disk is not None or self.to_volume is not None:
            yield "supports_ttl_move", "TTL ... TO DISK/VOLUME"
        if self.group_by is not None:
            yield "supports_ttl_group_by", "TTL ... GROUP BY"
        if self.where is not None:
            yield "supports_ttl_group_by", "TTL ... WHERE"



@deconstructible(path="clickhouse_backend.models.Projection")
class Projection(Deconstructed):
    """``Meta.projections = [Projection("by_user", "SELECT user, count() GROUP BY
    user")]``: a projection (ClickHouse 21.6+), a copy of the table's rows in
    another order or pre-aggregated that queries use when it helps. ``query`` is
    the projection's SELECT (no FROM). Migrations ADD it (and MATERIALIZE it for
    the rows already there) or DROP it."""

    def __init__(self, name, query):
        self.name, self.query = name, query

