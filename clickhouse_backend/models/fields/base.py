from django.db.models.expressions import RawSQL

from clickhouse_backend.backend.features import require


COLUMN_OPTIONS = ("codec", "ttl", "materialized", "alias", "ephemeral")


class FieldMixin:
    """Common ClickHouse field behaviour: Nullable()/LowCardinality() wrapping
    and server-version checks.  ``null=True`` gives Nullable(T);
    ``low_cardinality=True`` gives LowCardinality(T) (plain T on servers
    without LowCardinality, where it is only a storage optimisation)."""

    # The features flag the type needs (backend/features.py), if any.
    requires = None

    def __init__(self, *args, low_cardinality=False, codec=None, ttl=None, materialized=None,
                 alias=None, ephemeral=None, **kwargs):
        self.low_cardinality = low_cardinality
        # Column options (models/ttl.py, written by backend/schema.py): a
        # compression codec ("ZSTD(3)", "Delta, ZSTD"), a column TTL, a value
        # the server computes (MATERIALIZED: stored; ALIAS: computed when read),
        # or EPHEMERAL (True or a default): inserted, not stored, for the
        # MATERIALIZED/DEFAULT expressions of other columns.
        if sum(x is not None for x in (materialized, alias, ephemeral)) > 1:
            raise TypeError("A column is one of MATERIALIZED, ALIAS, EPHEMERAL.")
        self.codec, self.ttl, self.ephemeral = codec, ttl, ephemeral
        self.materialized, self.alias = materialized, alias
        super().__init__(*args, **kwargs)
        computed = materialized if materialized is not None else alias
        if computed is not None:
            # Left out of INSERT and UPDATE and read back from the server, as
            # Django's GeneratedField (whose expression/output_field the
            # autodetector and constraint validation read).
            self.generated = True
            self.expression = computed if hasattr(computed, "resolve_expression") \
                else RawSQL(computed, ())
            self.output_field = self

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.low_cardinality:
            kwargs["low_cardinality"] = True
        for key in COLUMN_OPTIONS:
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        if path.startswith("clickhouse_backend.models.fields"):
            path = "clickhouse_backend.models." + path.rsplit(".", 1)[1]
        return name, path, args, kwargs

    def check_server(self, connection):
        if self.requires and connection.vendor == "clickhouse":
            require(connection, self.requires, "%s (%s)" % (type(self).__name__, getattr(self, "name", None)))

    def select_format(self, compiler, sql, params):
        if self.ephemeral is not None:
            # Not stored, so not selectable: read as None.
            return "CAST(NULL AS Nullable(%s))" % self.db_type(compiler.connection), []
        return super().select_format(compiler, sql, params)

    def base_db_type(self, connection):
        return super().db_type(connection)

    def db_type(self, connection):
        if connection.vendor != "clickhouse":
            return super().db_type(connection)
        self.check_server(connection)
        db_type = self.base_db_type(connection)
        if db_type is None:
            return None
        if self.null:
            db_type = "Nullable(%s)" % db_type
        if self.low_cardinality and connection.features.supports_low_cardinality:
            db_type = "LowCardinality(%s)" % db_type
        return db_type

    def cast_db_type(self, connection):
        return self.db_type(connection)
