import logging

from django.db import NotSupportedError
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import CheckConstraint, UniqueConstraint
from django.db.models import Index as DjangoIndex
from django.db.models.expressions import Value
from django.db.models.fields import NOT_PROVIDED
from django.db.models.sql import Query


from .operations import quote_literal

logger = logging.getLogger("django.db.backends.schema")

# Types that cannot be wrapped in Nullable().
_NO_NULLABLE_PREFIXES = ("Nullable(", "Array(", "Map(", "Tuple(", "LowCardinality(", "JSON",
                         "Object(", "Nested(")


def _eng():
    # Imported late: clickhouse_backend.models defines models, which need
    # this backend loaded first.
    from clickhouse_backend.models import engines
    return engines


def _is_skipping_index(index):
    # Duck-typed: importing clickhouse_backend.models here would be circular.
    return hasattr(index, "granularity") and hasattr(index, "type")


def nullable(db_type):
    if db_type.startswith(_NO_NULLABLE_PREFIXES):
        return db_type
    return "Nullable(%s)" % db_type


class DatabaseSchemaEditor(BaseDatabaseSchemaEditor):
    # Django (and its tests) format these with table names only; ON CLUSTER
    # is appended by delete_model/alter_db_table.
    sql_delete_table = "DROP TABLE IF EXISTS %(table)s"
    sql_rename_table = "RENAME TABLE %(old_table)s TO %(new_table)s"

    def __init__(self, connection, collect_sql=False, atomic=True):
        super().__init__(connection, collect_sql, atomic=False)

    # ---- helpers -------------------------------------------------------------

    def quote_value(self, value):
        return quote_literal(value)

    def prepare_default(self, value):
        return quote_literal(value)

    def _cluster(self, model):
        cluster = getattr(model._meta, "cluster", None) or self.connection.migration_cluster
        return cluster

    def _on_cluster(self, model):
        cluster = self._cluster(model)
        return " ON CLUSTER %s" % self.quote_name(cluster) if cluster else ""

    def _engine(self, model):
        engine = getattr(model._meta, "engine", None)
        if engine is None:
            # Tables of plain Django models (contrib apps, django_migrations).
            pk = model._meta.pk
            order = (pk.name,) if pk is not None and pk.column else ("tuple()",)
            engine = _eng().MergeTree(order_by=order)
        return engine

    def _expr_sql(self, model, expr):
        """Compile a field name, Django expression or raw SQL string to SQL
        with parameters inlined (DDL takes no parameters)."""
        if isinstance(expr, str):
            try:
                field = model._meta.get_field(expr)
            except Exception:
                return expr  # raw ClickHouse SQL such as "toYYYYMM(date)"
            if getattr(field, "column", None):
                return self.quote_name(field.column)
            return expr
        if _eng().is_expression(expr):
            query = Query(model, alias_cols=False)
            compiler = query.get_compiler(connection=self.connection)
            resolved = expr.resolve_expression(query, allow_joins=False)
            sql, params = resolved.as_sql(compiler, self.connection)
            return sql % tuple(self.quote_value(p) for p in params)
        return quote_literal(expr)

    def _expr_list_sql(self, model, value):
        if isinstance(value, (list, tuple)):
            if not value:
                return "tuple()"
            parts = [self._expr_sql(model, v) for v in value]
            return parts[0] if len(parts) == 1 else "(%s)" % ", ".join(parts)
        return self._expr_sql(model, value)

    def engine_sql(self, model, engine=None):
        engine = engine or self._engine(model)
        args = []
        for i, arg in enumerate(engine.args):
            if engine.arg_kind(i) == _eng().COLUMN:
                args.append(self._expr_sql(model, arg))
            else:
                args.append(quote_literal(arg))
        sql = "ENGINE = %s" % engine.name
        if args or engine.is_merge_tree() or isinstance(engine, _eng().Distributed):
            sql += "(%s)" % ", ".join(args)
        if engine.is_merge_tree():
            if engine.partition_by is not None:
                sql += " PARTITION BY %s" % self._expr_list_sql(model, engine.partition_by)
            if engine.primary_key is not None:
                sql += " PRIMARY KEY %s" % self._expr_list_sql(model, engine.primary_key)
            order_by = engine.order_by if engine.order_by is not None else ("tuple()",)
            sql += " ORDER BY %s" % self._expr_list_sql(model, order_by)
            if engine.sample_by is not None:
                sql += " SAMPLE BY %s" % self._expr_list_sql(model, engine.sample_by)
            if engine.ttl is not None:
                sql += " TTL %s" % (engine.ttl if isinstance(engine.ttl, str)
                                    else self._expr_sql(model, engine.ttl))
        if engine.settings:
            sql += " SETTINGS %s" % ", ".join(
                "%s = %s" % (k, quote_literal(int(v) if isinstance(v, bool) else v))
                for k, v in engine.settings.items())
        return sql

    def column_type(self, field):
        db_type = field.db_type(self.connection)
        if db_type is None:
            return None
        if field.null:
            db_type = nullable(db_type)
        return db_type

    def column_sql(self, model, field, include_default=False):
        db_type = self.column_type(field)
        if db_type is None:
            return None, None
        sql = db_type
        default = self._column_default(field, include_default)
        if default:
            sql += " DEFAULT " + default
        if field.db_comment and self.connection.features.supports_comments:
            sql += " COMMENT " + quote_literal(field.db_comment)
        return sql, []

    def _column_default(self, field, include_default):
        if field.db_default is not NOT_PROVIDED:
            return self._db_default_sql(field)
        if include_default:
            value = self.effective_default(field)
            if value is not None:
                return quote_literal(value)
        return None

    def _db_default_sql(self, field):
        db_default = field._db_default_expression
        if isinstance(db_default, Value):
            value = field.get_db_prep_save(db_default.value, self.connection)
            return quote_literal(value)
        query = Query(field.model, alias_cols=False)
        compiler = query.get_compiler(connection=self.connection)
        sql, params = db_default.resolve_expression(query).as_sql(compiler, self.connection)
        return sql % tuple(quote_literal(p) for p in params)

    def _skipping_index_definition(self, model, index):
        if not self.connection.features.supports_data_skipping_indexes:
            raise NotSupportedError(
                "Data skipping index %r needs ClickHouse 20.1 or later (server is %s)."
                % (index.name, ".".join(map(str, self.connection.server_version))))
        if index.fields:
            expr = self._expr_list_sql(model, list(index.fields))
        else:
            expr = self._expr_list_sql(model, list(index.expressions))
        return "INDEX %s %s TYPE %s GRANULARITY %d" % (
            self.quote_name(index.name), expr, index.type.sql(), index.granularity)

    def _add_skipping_index_sql(self, model, index):
        return "ALTER TABLE %s%s ADD %s" % (
            self.quote_name(model._meta.db_table), self._on_cluster(model),
            self._skipping_index_definition(model, index))

    def _drop_skipping_index_sql(self, model, name):
        return "ALTER TABLE %s%s DROP INDEX %s" % (
            self.quote_name(model._meta.db_table), self._on_cluster(model),
            self.quote_name(name))

    def _check_sql(self, name, check):
        return "CONSTRAINT %s CHECK (%s)" % (self.quote_name(name), check)

    def _require_checks(self, constraint):
        if not self.connection.features.supports_table_check_constraints:
            raise NotSupportedError(
                "CHECK constraint %r needs ClickHouse 19.14 or later (server is %s)."
                % (constraint.name, ".".join(map(str, self.connection.server_version))))

    def _table_items(self, model):
        items = []
        for field in model._meta.local_fields:
            definition, _ = self.column_sql(model, field)
            if definition is None:
                continue
            items.append("%s %s" % (self.quote_name(field.column), definition))
        for index in model._meta.indexes:
            items.append(self._index_item(model, index))
        for constraint in model._meta.constraints:
            if isinstance(constraint, CheckConstraint):
                self._require_checks(constraint)
                items.append(constraint.constraint_sql(model, self))
            else:
                self._skip_constraint(model, constraint)
        return [i for i in items if i]

    def _index_item(self, model, index):
        if _is_skipping_index(index):
            return self._skipping_index_definition(model, index)
        self._reject_django_index(model, index)

    def _reject_django_index(self, model, index):
        # Like unique constraints: accepted (Django's and third-party apps
        # declare them) and not created, with the ClickHouse way in the log.
        logger.warning(
            "Index %r on %s not created: ClickHouse has only data skipping indexes; use "
            "clickhouse_backend.models.Index(fields=..., type=MinMax()|Set(n)|BloomFilter()|"
            "NgrambfV1(...)|TokenbfV1(...), granularity=N, name=...) instead.",
            index.name, model._meta.label)

    def _skip_constraint(self, model, constraint):
        # ClickHouse cannot enforce uniqueness; Django's own apps declare
        # unique constraints, so they are accepted and not created.
        logger.info("Unique constraint %s on %s not created: ClickHouse has no unique "
                    "constraints.", getattr(constraint, "name", constraint), model._meta.label)

    def table_sql(self, model):
        items = self._table_items(model)
        sql = "CREATE TABLE %s%s (%s) %s" % (
            self.quote_name(model._meta.db_table), self._on_cluster(model),
            ", ".join(items), self.engine_sql(model))
        if model._meta.db_table_comment and self.connection.features.supports_comments:
            sql += " COMMENT %s" % quote_literal(model._meta.db_table_comment)
        return sql, ()

    # ---- models ---------------------------------------------------------------

    def create_model(self, model):
        sql, params = self.table_sql(model)
        self.execute(sql, params or None)
        self._wait_replica_active(model)
        for field in model._meta.local_many_to_many:
            if field.remote_field.through._meta.auto_created:
                self.create_model(field.remote_field.through)

    def _wait_replica_active(self, model, timeout=30.0):
        """A new Replicated*MergeTree table turns active in ZooKeeper a moment after
        CREATE returns; an ALTER before that fails ("some replicas are inactive"),
        and migrations often ALTER right after creating. Wait for the local replica
        (a table this server does not hold, e.g. created ON CLUSTER elsewhere, is
        not waited for)."""
        name = getattr(getattr(model._meta, "engine", None), "name", "") or ""
        if self.collect_sql or not name.startswith("Replicated"):
            return
        import time
        deadline = time.monotonic() + timeout
        with self.connection.cursor() as cur:
            while True:
                cur.execute("SELECT is_readonly, active_replicas FROM system.replicas "
                            "WHERE database = currentDatabase() AND table = %s",
                            [model._meta.db_table])
                row = cur.fetchone()
                if row is None or (not row[0] and row[1] > 0) or time.monotonic() > deadline:
                    return
                time.sleep(0.05)

    def delete_model(self, model):
        for field in model._meta.local_many_to_many:
            if field.remote_field.through._meta.auto_created:
                self.delete_model(field.remote_field.through)
        self.execute(self.sql_delete_table % {
            "table": self.quote_name(model._meta.db_table)} + self._on_cluster(model))

    def alter_db_table(self, model, old_db_table, new_db_table):
        if old_db_table == new_db_table:
            return
        self.execute(self.sql_rename_table % {
            "old_table": self.quote_name(old_db_table),
            "new_table": self.quote_name(new_db_table)} + self._on_cluster(model))

    def alter_db_table_comment(self, model, old_db_table_comment, new_db_table_comment):
        if not self.connection.features.supports_comments:
            return
        self.execute("ALTER TABLE %s%s MODIFY COMMENT %s" % (
            self.quote_name(model._meta.db_table), self._on_cluster(model),
            quote_literal(new_db_table_comment or "")))

    def alter_db_tablespace(self, model, old_db_tablespace, new_db_tablespace):
        pass

    def alter_unique_together(self, model, old_unique_together, new_unique_together):
        # Not enforceable on ClickHouse; nothing to do.
        pass

    def alter_index_together(self, model, old_index_together, new_index_together):
        pass

    # ---- indexes and constraints ---------------------------------------------

    def add_index(self, model, index):
        if _is_skipping_index(index):
            self.execute(index.create_sql(model, self))
        else:
            self._reject_django_index(model, index)

    def remove_index(self, model, index):
        if _is_skipping_index(index):
            self.execute(index.remove_sql(model, self))
        else:
            self._reject_django_index(model, index)

    def rename_index(self, model, old_index, new_index):
        if not (_is_skipping_index(old_index) or _is_skipping_index(new_index)):
            return  # plain Django indexes are not created
        raise NotSupportedError("ClickHouse cannot rename an index; remove and re-add it.")

    def add_constraint(self, model, constraint):
        if isinstance(constraint, CheckConstraint):
            self._require_checks(constraint)
            self.execute("ALTER TABLE %s%s ADD %s" % (
                self.quote_name(model._meta.db_table), self._on_cluster(model),
                constraint.constraint_sql(model, self)))
        elif isinstance(constraint, UniqueConstraint):
            self._skip_constraint(model, constraint)
        else:
            raise NotSupportedError("Constraint %r is not supported on ClickHouse." % constraint)

    def remove_constraint(self, model, constraint):
        if isinstance(constraint, CheckConstraint):
            self._require_checks(constraint)
            self.execute("ALTER TABLE %s%s DROP CONSTRAINT %s" % (
                self.quote_name(model._meta.db_table), self._on_cluster(model),
                self.quote_name(constraint.name)))
        elif isinstance(constraint, UniqueConstraint):
            pass
        else:
            raise NotSupportedError("Constraint %r is not supported on ClickHouse." % constraint)

    # ---- fields ---------------------------------------------------------------

    def add_field(self, model, field):
        if field.many_to_many and field.remote_field.through._meta.auto_created:
            return self.create_model(field.remote_field.through)
        definition, _ = self.column_sql(model, field, include_default=True)
        if definition is None:
            return
        self.execute("ALTER TABLE %s%s ADD COLUMN %s %s" % (
            self.quote_name(model._meta.db_table), self._on_cluster(model),
            self.quote_name(field.column), definition))

    def remove_field(self, model, field):
        if field.many_to_many and field.remote_field.through._meta.auto_created:
            return self.delete_model(field.remote_field.through)
        if field.db_parameters(connection=self.connection)["type"] is None:
            return
        self.execute("ALTER TABLE %s%s DROP COLUMN %s" % (
            self.quote_name(model._meta.db_table), self._on_cluster(model),
            self.quote_name(field.column)))

    def alter_field(self, model, old_field, new_field, strict=False):
        if not self._field_should_be_altered(old_field, new_field):
            return
        old_type = old_field.db_parameters(connection=self.connection)["type"]
        new_type = new_field.db_parameters(connection=self.connection)["type"]
        if old_type is None and new_type is None:
            if (old_field.many_to_many and new_field.many_to_many
                    and old_field.remote_field.through._meta.auto_created
                    and new_field.remote_field.through._meta.auto_created):
                return self._alter_many_to_many(model, old_field, new_field, strict)
            return
        if old_type is None or new_type is None:
            raise ValueError(
                "Cannot alter field %s into %s - they are not compatible types "
                "(you cannot alter to or from M2M fields, or add or remove "
                "through= on M2M fields)" % (old_field, new_field))
        table = self.quote_name(model._meta.db_table)
        cluster = self._on_cluster(model)
        if old_field.column != new_field.column:
            if not self.connection.features.supports_rename_column:
                raise NotSupportedError(
                    "Renaming column %s to %s needs ClickHouse 20.4 or later (server is %s)."
                    % (old_field.column, new_field.column,
                       ".".join(map(str, self.connection.server_version))))
            self.execute("ALTER TABLE %s%s RENAME COLUMN %s TO %s" % (
                table, cluster, self.quote_name(old_field.column),
                self.quote_name(new_field.column)))
        old_def, _ = self.column_sql(model, old_field)
        new_def, _ = self.column_sql(model, new_field)
        if old_def != new_def:
            pk = model._meta.pk
            if new_field.primary_key or (pk is not None and pk.column == new_field.column) \
                    and self.column_type(old_field) != self.column_type(new_field):
                engine = self._engine(model)
                key_cols = []
                if engine.is_merge_tree():
                    for v in (engine.order_by or ()), (engine.primary_key or ()):
                        key_cols.extend(v if isinstance(v, tuple) else (v,))
                if new_field.name in key_cols or new_field.column in key_cols:
                    raise NotSupportedError(
                        "Cannot change the type of key column %s of %s on ClickHouse."
                        % (new_field.column, model._meta.label))
            self.execute("ALTER TABLE %s%s MODIFY COLUMN %s %s" % (
                table, cluster, self.quote_name(new_field.column), new_def))

    def _field_should_be_altered(self, old_field, new_field, ignore=None):
        # Django's version ignores attributes that matter only for
        # validation; so do we, plus index/unique flags (no-ops here).
        ignore = set(ignore or ()) | {"db_index", "unique", "db_constraint",
                                      "on_delete", "related_name", "to"}
        return super()._field_should_be_altered(old_field, new_field, ignore=ignore)

    def _alter_many_to_many(self, model, old_field, new_field, strict):
        if old_field.remote_field.through._meta.db_table != \
                new_field.remote_field.through._meta.db_table:
            self.alter_db_table(old_field.remote_field.through,
                                old_field.remote_field.through._meta.db_table,
                                new_field.remote_field.through._meta.db_table)

    def _model_indexes_sql(self, model):
        return []

    def _field_indexes_sql(self, model, field):
        return []

    def execute(self, sql, params=()):
        if params == ():
            params = None
        super().execute(sql, params)
