"""QuerySet with ClickHouse extras: .settings(...), .prewhere(...), explain(type=...),
columnar results (.to_numpy(), .to_dataframe(), .to_arrow() and their async twins);
FINAL, SAMPLE, LIMIT BY, ARRAY JOIN and query_id come from clauses.py."""
from django.db.models import Q, query
from django.db.models.sql import query as sql_query
from django.db.models.sql.where import AND, WhereNode

from .clauses import ClausesQuerySetMixin


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


# -- columnar results: to_numpy / to_dataframe / to_arrow (docs/columnar.md) ------------
def _result_names(queryset):
    """Column names of a values()/values_list() queryset, in the order the rows give them."""
    q = queryset.query
    names = [*q.extra_select, *q.values_select, *q.annotation_select]
    if queryset._iterable_class is not query.ValuesIterable and queryset._fields:
        fields = [*queryset._fields, *(f for f in q.annotation_select if f not in queryset._fields)]
        return names, fields
    return names, names


# Converters that leave the values the columnar calls give as they are: a date stays a
# date, text stays text, a UUID a UUID, a Decimal a Decimal (they change only what a
# column of another type would give, which then arrives as Python objects anyway).
_NO_OP_ON_TYPED = {"convert_datefield_value", "convert_textfield_value", "convert_uuidfield_value",
                   "convert_datetimefield_value", "convert_decimalfield_value", "convert_binaryfield_value"}


class _Columns:
    """Django's converters of each result column, applied a column at a time: object
    columns value by value (as the row path does), typed arrays vectorised."""

    def __init__(self, compiler, connection):
        fields = [s[0] for s in compiler.select[:compiler.col_count]]
        self.converters = compiler.get_converters(fields)
        self.connection = connection

    def per_value(self, i, values):
        convs, expr = self.converters[i]
        out = []
        for v in values:
            for conv in convs:
                v = conv(v, expr, self.connection)
            out.append(v)
        return out

    def kinds(self, i):
        """('bool' | 'datetime' | 'values', ...) of column i's converters."""
        convs, expr = self.converters.get(i, ((), None))
        names = {getattr(c, "__name__", "") for c in convs}
        internal = expr.output_field.get_internal_type() if expr is not None else ""
        if internal in ("BooleanField", "BoolField", "NullBooleanField") and names <= {
                "convert_booleanfield_value", "from_db_value"}:
            return "bool"
        if names and names <= _NO_OP_ON_TYPED:
            return "datetime" if "convert_datetimefield_value" in names else "typed"
        return "values" if convs else None


def _use_tz():
    from django.conf import settings

    return settings.USE_TZ


def _numpy_columns(np, arrays, cols, order):
    out = {}
    for i, name in order:
        a = arrays[i]
        kind = cols.kinds(i)
        if kind == "bool":
            a = a.astype(bool)
        elif kind == "values" or (kind == "typed" and a.dtype == object):
            mask = np.ma.getmaskarray(a) if isinstance(a, np.ma.MaskedArray) else None
            values = [None if mask is not None and m else v for v, m in
                      zip(a.data if mask is not None else a, mask if mask is not None else [False] * len(a))]
            a = np.fromiter(cols.per_value(i, values), dtype=object, count=len(values))
        out[name] = a
    return out


def _pandas_columns(pd, df, cols, order):
    series = {}
    for i, name in order:
        s = df.iloc[:, i]
        kind = cols.kinds(i)
        if kind == "bool":
            s = s.astype("boolean" if s.isna().any() else bool)
        elif kind == "datetime" and hasattr(s, "dt"):
            aware = s.dt.tz is not None
            if _use_tz():
                s = s.dt.tz_convert("UTC") if aware else s.dt.tz_localize("UTC")
            elif aware:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        elif kind == "values" or (kind == "typed" and s.dtype == object):
            values = [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in s.tolist()]
            s = pd.Series(cols.per_value(i, values), dtype=object)
        series[name] = s.reset_index(drop=True)
    return pd.DataFrame(series)


def _arrow_columns(pa, table, cols, order, types):
    arrays, names = [], []
    for i, name in order:
        a = table.column(i)
        kind = cols.kinds(i)
        if kind == "bool":
            a = a.cast(pa.bool_())
        elif kind == "datetime" and pa.types.is_timestamp(a.type):
            a = a.cast(pa.timestamp(a.type.unit, tz="UTC" if _use_tz() else None))
        elif kind == "values":
            from ..driver.columnar import row_value, to_arrow_value

            values = cols.per_value(i, [row_value(v, types[i]) for v in a.to_pylist()])
            try:  # the type of the converted values (an Enum's choice values, say)
                a = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                # values Arrow does not infer (tuples of mixed types...): the column's type
                a = pa.array([to_arrow_value(v, a.type, pa) for v in values], type=a.type)
        arrays.append(a)
        names.append(name)
    return pa.table(arrays, names=names)


class ColumnarMixin:
    """QuerySet.to_numpy() / to_dataframe() / to_arrow() and their async twins: a
    values()/values_list() queryset (a model queryset: its concrete fields) read as
    columns, with Django's field converters applied column-wise (the values the
    row path gives, as columns)."""

    def _columnar(self, fetch, build, empty):
        from django.core.exceptions import EmptyResultSet
        from django.db import connections

        qs = self
        if qs._iterable_class is query.ModelIterable:
            qs = qs.values(*[f.attname for f in qs.model._meta.concrete_fields])
        names, fields = _result_names(qs)
        order = [(names.index(f), f) for f in fields]
        compiler = qs.query.get_compiler(using=qs.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return empty(fields)
        connection = connections[qs.db]
        cols = _Columns(compiler, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            data = fetch(cursor.cursor)
            types = [d[1] for d in cursor.description or ()]
        return build(data, cols, order, types)

    def to_numpy(self):
        """{field name: NumPy array} (masked arrays for nullable columns)."""
        from ..driver.columnar import need

        np = need("numpy")
        return self._columnar(lambda c: list(c.fetchnumpy().values()),
                              lambda data, cols, order, types: _numpy_columns(np, data, cols, order),
                              lambda fields: {f: np.array([], dtype=object) for f in fields})

    def to_dataframe(self):
        """A pandas DataFrame with a column per field."""
        from ..driver.columnar import need

        pd = need("pandas")
        return self._columnar(lambda c: c.fetch_df(),
                              lambda df, cols, order, types: _pandas_columns(pd, df, cols, order),
                              lambda fields: pd.DataFrame({f: pd.Series([], dtype=object) for f in fields}))

    def to_arrow(self):
        """A pyarrow Table with a column per field."""
        from ..driver.columnar import need

        pa = need("pyarrow")
        return self._columnar(lambda c: c.fetch_arrow_table(),
                              lambda t, cols, order, types: _arrow_columns(pa, t, cols, order, types),
                              lambda fields: pa.table({f: pa.array([], pa.null()) for f in fields}))

    async def ato_numpy(self):
        from ..backend import bridge

        return await bridge.sync_to_async(self.to_numpy)()

    async def ato_dataframe(self):
        from ..backend import bridge

        return await bridge.sync_to_async(self.to_dataframe)()

    async def ato_arrow(self):
        from ..backend import bridge

        return await bridge.sync_to_async(self.to_arrow)()


class QuerySet(ColumnarMixin, ClausesQuerySetMixin, query.QuerySet):
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
