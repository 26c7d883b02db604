"""Views as models: ``Meta.view = View(query)`` or ``MaterializedView(query,
to=Target)``. The model's table is then a (materialized) view; its fields are the
query's columns, so querying it is ordinary ORM. Migrations create it
(CreateModel), drop it (DeleteModel) and recreate it when the query changes
(AlterModelOptions); see backend/schema.py (view_sql, alter_model_view).

The query is a QuerySet (compiled on its database, parameters inlined, when the
migration is made: the SQL text is what migrations store and compare), a function
returning one (in models.py, where a QuerySet that filters or annotates cannot be
built yet: ``lambda: Event.objects.values("day").annotate(...)``), or SQL."""
from django.db import connections
from django.db.models import Func, Value

from .engines import Deconstructed
from .functions.base import require

__all__ = ["View", "MaterializedView", "Dictionary", "dictGet", "compiled_sql"]


def compiled_sql(queryset, connection=None):
    """A QuerySet's SELECT with its parameters inlined (DDL takes none), without
    the per-query SETTINGS the -State/-Merge aggregates add (the schema editor
    adds what the server needs; the SQL stays the same across versions)."""
    from clickhouse_backend.backend.operations import quote_literal

    connection = connection or connections[queryset.db]
    compiler = queryset.query.get_compiler(connection=connection)
    compiler.ch_for_view = True
    sql, params = compiler.as_sql()
    return sql % tuple(quote_literal(p) for p in params)


class View(Deconstructed):
    """A plain VIEW: the query runs at each read."""
    materialized = False
    drop_keyword = "TABLE"

    def __init__(self, query):
        if not isinstance(query, str) and not hasattr(query, "query") and not callable(query):
            raise TypeError("%s() takes a QuerySet, a function returning one, or SQL text, "
                            "not %r." % (type(self).__name__, query))
        self.query = query

    @property
    def sql(self):
        """The SELECT, compiled on the QuerySet's database."""
        return self.sql_for(None)

    def sql_for(self, connection):
        """The SELECT, compiled for ``connection``."""
        query = self.query
        if callable(query) and not hasattr(query, "query"):
            # A function: a QuerySet that filters or annotates cannot be built
            # while models.py is imported (the app registry is not ready).
            query = query()
        return query if isinstance(query, str) else compiled_sql(query, connection)

    def _kwargs(self):
        return {}

    def deconstruct(self):
        return ("clickhouse_backend.models.%s" % type(self).__name__, (self.sql,),
                self._kwargs())



class MaterializedView(View):
    """CREATE MATERIALIZED VIEW ... TO target AS query: each INSERT into the
    query's table also inserts the query's result over the inserted rows into
    ``to`` (a model or a table name), e.g. an AggregatingMergeTree rollup.
    ``populate=True`` also inserts the query's result over the rows already there
    when the view is created (ClickHouse refuses POPULATE with TO; rows inserted
    while that runs may be counted twice)."""
    materialized = True

    def __init__(self, query, to, populate=False):
        super().__init__(query)
        self.to = to
        self.populate = bool(populate)

    @property
    def to_table(self):
        return self.to if isinstance(self.to, str) else self.to._meta.db_table

    def _kwargs(self):
        kwargs = {"to": self.to_table}
        if self.populate:
            kwargs["populate"] = True
        return kwargs


class Dictionary(View):
    """``Meta.view = Dictionary(source, layout="HASHED", lifetime=300)``: the model
    is a dictionary (an in-memory key -> attributes map ClickHouse loads from
    ``source``, a model or table of this database, and reloads every ``lifetime``
    seconds, or (min, max)); its primary key is the key, its other fields the
    attributes. Read it as a table, or with ``dictGet`` in any query.
    ``layout``: FLAT, HASHED, COMPLEX_KEY_HASHED (for a non-integer key)...
    ClickHouse 19.17+ (DDL dictionaries)."""
    drop_keyword = "DICTIONARY"

    def __init__(self, source, layout="HASHED", lifetime=300):
        self.source, self.layout = source, layout.upper()
        self.lifetime = tuple(lifetime) if isinstance(lifetime, (list, tuple)) else lifetime

    @property
    def source_table(self):
        return self.source if isinstance(self.source, str) else self.source._meta.db_table

    def deconstruct(self):
        return ("clickhouse_backend.models.Dictionary", (self.source_table,),
                {"layout": self.layout, "lifetime": self.lifetime})

    @property
    def complex_key(self):
        return self.layout.startswith("COMPLEX_KEY")


class dictGet(Func):
    """dictGet(dictionary, "attribute", key): the attribute of ``key`` in a
    Dictionary model (or a dictionary by name, with output_field=). A key of a
    COMPLEX_KEY_* layout is passed as tuple(key)."""
    function = "dictGet"

    def __init__(self, dictionary, attribute, key, **extra):
        self.dictionary = dictionary
        name = dictionary if isinstance(dictionary, str) else dictionary._meta.db_table
        if not isinstance(dictionary, str):
            extra.setdefault("output_field", dictionary._meta.get_field(attribute).clone())
            view = getattr(dictionary._meta, "view", None)
            if getattr(view, "complex_key", False):
                key = Func(key, function="tuple")
        super().__init__(Value(name), Value(attribute), key, **extra)

    def as_clickhouse(self, compiler, connection, **extra):
        require(connection, "supports_dictionaries", "dictGet()")
        return self.as_sql(compiler, connection, **extra)
