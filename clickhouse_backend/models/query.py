"""QuerySet with ClickHouse extras: .settings(...), .prewhere(...), explain(type=...)."""
from django.db.models import Q, query
from django.db.models.sql import query as sql_query
from django.db.models.sql.where import AND, WhereNode


class Query(sql_query.Query):
    def __init__(self, model, alias_cols=True):
        super().__init__(model, alias_cols)
        self.setting_info = {}
        self.query_id_info = None
        self.prewhere = WhereNode()

    def clone(self):
        obj = super().clone()
        obj.setting_info = dict(getattr(self, "setting_info", {}) or {})
        prewhere = getattr(self, "prewhere", None)
        obj.prewhere = prewhere.clone() if prewhere is not None else WhereNode()
        return obj

    def relabeled_clone(self, change_map):
        clone = super().relabeled_clone(change_map)
        if getattr(clone, "prewhere", None) is not None:
            clone.prewhere = clone.prewhere.relabeled_clone(change_map)
        return clone

    def add_prewhere(self, q_object):
        clause, _ = self._add_q(q_object, self.used_aliases, allow_joins=False)
        if clause:
            self.prewhere.add(clause, AND)


class QuerySet(query.QuerySet):
    def __init__(self, model=None, query=None, using=None, hints=None):
        super().__init__(model=model, query=query or Query(model), using=using, hints=hints)

    def settings(self, **kwargs):
        """ClickHouse settings for this query (SETTINGS clause).
        mutations_sync=N makes update()/delete() wait for their mutation
        (emulated on servers that do not have the setting)."""
        clone = self._chain()
        if not hasattr(clone.query, "setting_info"):
            clone.query.setting_info = {}
        clone.query.setting_info = {**clone.query.setting_info, **kwargs}
        return clone

    def query_id(self, query_id):
        """Send this QuerySet's SELECT with this ClickHouse query_id (as shown by
        system.processes and system.query_log, and in errors); None: a fresh one
        per query (the default). Two queries with one id must not run at once."""
        if query_id is not None and not isinstance(query_id, str):
            raise TypeError("query_id must be a str or None")
        clone = self._chain()
        clone.query.query_id_info = query_id
        return clone

    def prewhere(self, *args, **kwargs):
        """Filter in a PREWHERE clause (same-table conditions only)."""
        self._not_support_combined_queries("prewhere")
        if (args or kwargs) and self.query.is_sliced:
            raise TypeError("Cannot prewhere a query once a slice has been taken.")
        clone = self._chain()
        if not isinstance(clone.query, Query):
            raise TypeError("prewhere() needs a ClickhouseModel queryset.")
        clone.query.add_prewhere(Q(*args, **kwargs))
        return clone

    def explain(self, *, format=None, type=None, **options):
        if type is not None:
            options["type"] = type
        return super().explain(format=format, **options)
