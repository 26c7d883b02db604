from django.db import models

from clickhouse_backend.backend import meta as _meta  # noqa: F401  (Meta.engine)

from .query import QuerySet


class ClickhouseManager(models.Manager.from_queryset(QuerySet)):
    pass


def _key_names(engine):
    names = set()
    if engine is None or not engine.is_merge_tree():
        return names
    for value in (engine.order_by, engine.partition_by, engine.primary_key, engine.sample_by):
        if value is None:
            continue
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, str):
                names.add(item)
    return names


class ClickhouseModel(models.Model):
    objects = ClickhouseManager()

    class Meta:
        abstract = True

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update,
                   returning_fields=None):
        """save() on an existing row: an ALTER TABLE ... UPDATE mutation,
        waited for so that the change is visible when save() returns.
        Sorting/partition key columns cannot be updated by ClickHouse and are
        left out (they are assumed unchanged)."""
        keys = _key_names(getattr(self._meta, "engine", None))
        values = [v for v in values if v[0].name not in keys and v[0].column not in keys]
        filtered = base_qs.filter(pk=pk_val)
        if not values:
            updated = 1 if update_fields is not None or filtered.exists() else 0
        else:
            if hasattr(filtered, "settings"):
                filtered = filtered.settings(mutations_sync=1)
            updated = filtered._update(values)
        if returning_fields is None:  # Django 5.2: whether a row was updated
            return updated > 0
        # Django 6.x: a row of returned values per updated row; ClickHouse has no
        # UPDATE ... RETURNING (features.can_return_rows_from_update), so empty ones.
        return [()] * updated
