import logging
import time

from django.db import IntegrityError, NotSupportedError
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import CheckConstraint, UniqueConstraint
from django.db.models.expressions import Value
from django.db.models.fields import NOT_PROVIDED
from django.db.models.sql import Query


from clickhouse_backend.tables import engines
from clickhouse_backend.tables.indexes import Index as SkippingIndex

from . import cluster_ddl
from .datetimes import cut_generated
from .operations import quote_literal

NULL_FOR_EMPTY = "aggregate_functions_null_for_empty"

logger = logging.getLogger("django.db.backends.schema")

# Types that cannot be wrapped in Nullable().
_NO_NULLABLE_PREFIXES = ("Nullable(", "Array(", "Map(", "Tuple(", "LowCardinality(", "JSON",
                         "Object(", "Nested(")


def _is_skipping_index(index):
    return isinstance(index, SkippingIndex)


def nullable(db_type):
    if db_type.startswith(_NO_NULLABLE_PREFIXES):
        return db_type
    return "Nullable(%s)" % db_type


class DatabaseSchemaEditor(BaseDatabaseSchemaEditor):
    # Django (and its tests) format these with table names only; ON CLUSTER
    # is appended by delete_model/alter_db_table.
    sql_delete_table = "DROP TABLE %(table)s"
    sql_rename_table = "RENAME TABLE %(old_table)s TO %(new_table)s"

    def effective_default(self, field):
        value = super().effective_default(field)
        if not field.has_default() and (getattr(field, "auto_now", False)
                                        or getattr(field, "auto_now_add", False)):
            # Django's "now" for filling an auto_now column: generated here.
            value = cut_generated(field, value, self.connection)
        return value

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
        return engine if engine is not None else self._default_engine(model)

    def _default_engine(self, model):
        """Tables of plain Django models (contrib apps, django_migrations):
        MergeTree ordered by the primary key."""
        pk = model._meta.pk
        if pk is not None and pk.column:
            order = (pk.name,)
        elif getattr(pk, "field_names", None):  # CompositePrimaryKey
            order = tuple(pk.field_names)
        else:
            order = ("tuple()",)
        return engines.MergeTree(order_by=order)

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
        if engines.is_expression(expr):
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
            if engine.arg_kind(i) == engines.COLUMN:
                args.append(self._expr_sql(model, arg))
            else:
                args.append(quote_literal(arg))
        sql = "ENGINE = %s" % engine.name
        if args or engine.is_merge_tree() or isinstance(engine, engines.Distributed):
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
            ttl = self.ttl_sql(model, engine)
            if ttl:
                sql += " TTL %s" % ttl
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
        computed = self._computed_sql(model, field)
        default = None if computed else self._column_default(field, include_default)
        if computed:
            sql += computed
        elif default:
            sql += " DEFAULT " + default
        if field.db_comment and self.connection.features.supports_comments:
            sql += " COMMENT " + quote_literal(field.db_comment)
        return sql + self._column_options_sql(model, field), []

    def _column_default(self, field, include_default):
        if field.db_default is not NOT_PROVIDED:
            return self._db_default_sql(field)
        if include_default:
            value = self.effective_default(field)
            if value is not None:
                # A DEFAULT is cast to the column's type: wrapped if it does not fit.
                self.connection.ops.check_write_range([value], field)
                return quote_literal(value)
        return None

    def _db_default_sql(self, field):
        db_default = field._db_default_expression
        # A plain Value; subclasses compile themselves (Django 6.1's JSONNull
        # is the JSON text null, not SQL NULL).
        if type(db_default) is Value:
            value = field.get_db_prep_save(db_default.value, self.connection)
            self.connection.ops.check_write_range([value], field)
            return quote_literal(value)
        query = Query(field.model, alias_cols=False)
        compiler = query.get_compiler(connection=self.connection)
        # compile(), not as_sql(): the ClickHouse spelling (as_clickhouse), e.g.
        # now() for Now(), not CURRENT_TIMESTAMP (unknown to 18.16).
        sql, params = compiler.compile(db_default.resolve_expression(query))
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
        return items + self._extra_items(model)

    def _extra_items(self, model):
        """The indexes, constraints and projections of CREATE TABLE."""
        items = [self._projection_sql(model, p)
                 for p in getattr(model._meta, "projections", None) or ()]
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
        # Compiled all the same, so that a wrong definition (unknown field,
        # misplaced ordering) fails here as on other databases.
        index.create_sql(model, self)
        logger.warning(
            "Index %r on %s not created: ClickHouse has only data skipping indexes; use "
            "clickhouse_backend.models.Index(fields=..., type=MinMax()|Set(n)|BloomFilter()|"
            "NgrambfV1(...)|TokenbfV1(...), granularity=N, name=...) instead.",
            index.name, model._meta.label)

    def _skip_constraint(self, model, constraint):
        if isinstance(constraint, UniqueConstraint) and constraint.expressions:
            constraint.create_sql(model, self)  # validates the expressions
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
        if getattr(model._meta, "view", None) is not None:
            return self._create_view(model, model._meta.view)
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
        if getattr(model._meta, "view", None) is not None:
            return self._drop_view(model)
        for field in model._meta.local_many_to_many:
            if field.remote_field.through._meta.auto_created:
                self.delete_model(field.remote_field.through)
        self.execute(self.sql_delete_table % {
            "table": self.quote_name(model._meta.db_table)} + self._on_cluster(model))

    def alter_db_table(self, model, old_db_table, new_db_table):
        if old_db_table == new_db_table:
            return
        view = getattr(model._meta, "view", None)
        if view is not None and view.drop_keyword == "DICTIONARY":
            self.execute("RENAME DICTIONARY %s TO %s%s" % (
                self.quote_name(old_db_table), self.quote_name(new_db_table),
                self._on_cluster(model)))
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

    def _table_has_rows(self, model):
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT count() FROM %s" % self.quote_name(model._meta.db_table))
            return cursor.fetchone()[0] > 0

    def _simple_table(self, model):
        """True for a table the backend may rewrite (mutations, rebuild): a
        non-replicated MergeTree (or Log/Memory) table, not ON CLUSTER."""
        engine = self._engine(model)
        return (not self._cluster(model) and not engine.name.startswith("Replicated")
                and not isinstance(engine, engines.Distributed))

    def _mutate(self, model, sql):
        """Run ALTER TABLE ... UPDATE and wait until ClickHouse has applied it
        (the compilers' wait steps, compiler.mutation_wait_steps)."""
        from .compiler import mutation_wait_steps, run_steps
        table = self.quote_name(model._meta.db_table)
        self.execute("ALTER TABLE %s%s UPDATE %s" % (table, self._on_cluster(model), sql))
        if self.collect_sql:
            return
        with self.connection.cursor() as cursor:
            run_steps(mutation_wait_steps(self.connection, table), cursor)

    def _has_remove_property(self):
        return self.connection.features.supports_modify_column_remove

    def add_field(self, model, field):
        if getattr(model._meta, "view", None) is not None:
            return  # a view's columns are its query's
        if field.many_to_many and field.remote_field.through._meta.auto_created:
            return self.create_model(field.remote_field.through)
        definition, _ = self.column_sql(model, field)
        if definition is None:
            return
        table = self.quote_name(model._meta.db_table)
        column = self.quote_name(field.column)
        cluster = self._on_cluster(model)
        fill = None
        if field.db_default is NOT_PROVIDED:
            value = self.effective_default(field)
            if value is not None:
                self.connection.ops.check_write_range([value], field)
                fill = quote_literal(value)
        if fill is None or not self._simple_table(model) or \
                not self._engine(model).supports_mutations():
            if fill is not None:
                # A cluster/replicated/Log table: ClickHouse computes the DEFAULT
                # for the existing rows when they are read, so it stays.
                definition, _ = self.column_sql(model, field, include_default=True)
            self.execute("ALTER TABLE %s%s ADD COLUMN %s %s" % (table, cluster, column,
                                                               definition))
            return
        if not self.collect_sql and not self._table_has_rows(model):
            self.execute("ALTER TABLE %s%s ADD COLUMN %s %s" % (table, cluster, column,
                                                               definition))
            return
        # Existing rows get Django's default (as on other databases) and the
        # column keeps no DEFAULT: parts written before ADD COLUMN do not store
        # it (ClickHouse computes DEFAULT when reading them), so it is written
        # into them by a mutation before the DEFAULT is dropped.
        with_default, _ = self.column_sql(model, field, include_default=True)
        self.execute("ALTER TABLE %s%s ADD COLUMN %s %s" % (table, cluster, column,
                                                           with_default))
        self._mutate(model, "%s = %s WHERE 1" % (column, column))
        self._drop_default(model, field, definition)

    def _drop_default(self, model, field, definition):
        table = self.quote_name(model._meta.db_table)
        column = self.quote_name(field.column)
        if self._has_remove_property():
            self.execute("ALTER TABLE %s%s MODIFY COLUMN %s REMOVE DEFAULT" % (
                table, self._on_cluster(model), column))
        else:
            self.execute("ALTER TABLE %s%s MODIFY COLUMN %s %s" % (
                table, self._on_cluster(model), column, definition))

    def remove_field(self, model, field):
        if getattr(model._meta, "view", None) is not None:
            return
        if field.many_to_many and field.remote_field.through._meta.auto_created:
            return self.delete_model(field.remote_field.through)
        if field.db_parameters(connection=self.connection)["type"] is None:
            return
        if self._column_info(model, field.column)[1]:
            return self._rebuild_table(model, field, None)  # a key column
        self.execute("ALTER TABLE %s%s DROP COLUMN %s" % (
            self.quote_name(model._meta.db_table), self._on_cluster(model),
            self.quote_name(field.column)))

    def _column_info(self, model, column):
        """(default_kind, is a key column) of a column as the server has it."""
        if self.collect_sql:
            return "", False
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT default_kind, is_in_sorting_key OR is_in_primary_key OR "
                "is_in_partition_key OR is_in_sampling_key FROM system.columns "
                "WHERE database = currentDatabase() AND table = %s AND name = %s",
                [model._meta.db_table, column])
            row = cursor.fetchone()
        return (row[0], bool(row[1])) if row else ("", False)

    def alter_field(self, model, old_field, new_field, strict=False):
        if getattr(model._meta, "view", None) is not None:
            return
        if not self._field_should_be_altered(old_field, new_field):
            return
        old_type = old_field.db_parameters(connection=self.connection)["type"]
        new_type = new_field.db_parameters(connection=self.connection)["type"]
        if old_type is None and new_type is None:
            if (old_field.many_to_many and new_field.many_to_many
                    and old_field.remote_field.through._meta.auto_created
                    and new_field.remote_field.through._meta.auto_created):
                return self._alter_many_to_many(model, old_field, new_field, strict)
            if (old_field.many_to_many and new_field.many_to_many
                    and old_field.remote_field.through
                    and new_field.remote_field.through
                    and not old_field.remote_field.through._meta.auto_created
                    and not new_field.remote_field.through._meta.auto_created):
                return  # both use through= models: nothing to do
            raise ValueError(
                "Cannot alter field %s into %s - they are not compatible types "
                "(you cannot alter to or from M2M fields, or add or remove "
                "through= on M2M fields)" % (old_field, new_field))
        if old_type is None or new_type is None:
            raise ValueError(
                "Cannot alter field %s into %s - they are not compatible types "
                "(you cannot alter to or from M2M fields, or add or remove "
                "through= on M2M fields)" % (old_field, new_field))
        table = self.quote_name(model._meta.db_table)
        cluster = self._on_cluster(model)
        renamed = old_field.column != new_field.column
        old_def, _ = self.column_sql(model, old_field)
        new_def, _ = self.column_sql(model, new_field)
        retyped = self.column_type(old_field) != self.column_type(new_field)
        pk_changed = (old_field.primary_key != new_field.primary_key
                      and getattr(model._meta, "engine", None) is None)
        if not (renamed or pk_changed or old_def != new_def or old_field.null != new_field.null):
            return  # e.g. only the Python-side default changed
        default_kind, is_key = self._column_info(model, old_field.column)
        if pk_changed or (is_key and retyped) or (renamed and (
                is_key or not self.connection.features.supports_rename_column)):
            return self._rebuild_table(model, old_field, new_field)
        if renamed:
            self.execute("ALTER TABLE %s%s RENAME COLUMN %s TO %s" % (
                table, cluster, self.quote_name(old_field.column),
                self.quote_name(new_field.column)))
        column = self.quote_name(new_field.column)
        drop_default = default_kind == "DEFAULT" and new_field.db_default is NOT_PROVIDED
        if drop_default and old_field.db_default is NOT_PROVIDED and \
                self._engine(model).supports_mutations() and self._table_has_rows(model):
            # A DEFAULT from an earlier AddField that was not written into the
            # older parts: write it before dropping it.
            self._mutate(model, "%s = %s WHERE 1" % (column, column))
        if old_field.null and not new_field.null:
            fill = self._not_null_fill(model, old_field, new_field)
            if self._has_remove_property():
                # ClickHouse wants a DEFAULT to replace NULLs, even when there are none.
                if fill is None:
                    fill = "defaultValueOfTypeName(%s)" % quote_literal(
                        self.column_type(new_field))
                if new_field.db_default is NOT_PROVIDED:
                    self.execute("ALTER TABLE %s%s MODIFY COLUMN %s %s DEFAULT %s" % (
                        table, cluster, column, self.column_type(new_field), fill))
                    drop_default = True
            elif fill is not None and self._null_count(model, old_field.column):
                # ClickHouse before 21.x refuses MODIFY COLUMN to T while the
                # part still has a null map, even after an UPDATE replaced the
                # NULLs: copy the rows with coalesce() instead.
                return self._rebuild_table(model, old_field, new_field)
        if old_def != new_def or drop_default:
            commands = ["MODIFY COLUMN %s %s" % (column, new_def)]
            if (old_field.db_comment and not new_field.db_comment
                    and self.connection.features.supports_comments):
                commands[0] += " COMMENT ''"
            if drop_default and self._has_remove_property():
                commands.append("MODIFY COLUMN %s REMOVE DEFAULT" % column)
            commands.extend(self._removed_column_options(old_field, new_field))
            for command in commands:
                self.execute("ALTER TABLE %s%s %s" % (table, cluster, command))

    def _null_count(self, model, column):
        if self.collect_sql:
            return 0
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT count() FROM %s WHERE %s IS NULL" % (
                self.quote_name(model._meta.db_table), self.quote_name(column)))
            return cursor.fetchone()[0]

    def _not_null_fill(self, model, old_field, new_field):
        """The SQL value that replaces NULLs when a column becomes NOT NULL
        (None: no default; NULLs then make it fail with IntegrityError)."""
        if new_field.db_default is not NOT_PROVIDED:
            return self._db_default_sql(new_field)
        value = self.effective_default(new_field)
        if value is not None:
            self.connection.ops.check_write_range([value], new_field)
            return quote_literal(value)
        nulls = self._null_count(model, old_field.column)
        if nulls:
            raise IntegrityError(
                "Column %s of %s holds %d NULL value(s) and the field has no default to "
                "replace them: it cannot become NOT NULL."
                % (old_field.column, model._meta.db_table, nulls))
        return None

    def _rebuild_table(self, model, old_field=None, new_field=None, engine_sql=None):
        """Changes ClickHouse cannot make in place (the type or name of a
        sorting/primary key column, dropping it, which column is the primary
        key, RENAME COLUMN before 20.4, another engine): a new table with the
        new definition, the rows copied over, the old table dropped and the
        new one renamed. new_field None drops old_field's column; engine_sql
        replaces the engine."""
        label = model._meta.label
        if not self._simple_table(model):
            raise NotSupportedError(
                "Changing %s of %s needs the table rebuilt (a key column, the engine, or "
                "RENAME COLUMN before ClickHouse 20.4); the backend does that only for "
                "non-replicated tables without ON CLUSTER." % (
                    "column %s" % old_field.column if old_field else "the engine", label))
        engine = getattr(model._meta, "engine", None)
        if engine is not None and old_field is not None and new_field is None:
            raise NotSupportedError(
                "Column %s of %s is part of the table's key (engine %s); change the engine's "
                "order_by/primary_key/partition_by first." % (old_field.column, label,
                                                              engine.name))
        table = model._meta.db_table
        tmp = "%s__rebuild" % table
        by_column = {f.column: f for f in model._meta.local_concrete_fields}
        with self.connection.cursor() as cursor:
            comment = "comment" if self.connection.features.supports_comments else "''"
            cursor.execute(
                "SELECT name, type, default_kind, default_expression, %s FROM system.columns "
                "WHERE database = currentDatabase() AND table = %%s" % comment, [table])
            existing = cursor.fetchall()
            table_comment = ""
            if self.connection.features.supports_comments:
                cursor.execute("SELECT comment FROM system.tables WHERE database = "
                               "currentDatabase() AND name = %s", [table])
                table_comment = cursor.fetchone()[0]
        new_pk = new_field is not None and new_field.primary_key and not old_field.primary_key
        columns, selects = [], []
        for name, type_name, default_kind, default_expr, col_comment in existing:
            source = self.quote_name(name)
            if old_field is not None and name == old_field.column:
                if new_field is None:
                    continue
                definition, _ = self.column_sql(model, new_field)
                name = new_field.column
                if old_field.null and not new_field.null:
                    fill = self._not_null_fill(model, old_field, new_field)
                    if fill is not None:
                        source = "coalesce(%s, CAST(%s AS %s))" % (
                            source, fill, self.column_type(new_field))
                elif self.column_type(old_field) != self.column_type(new_field):
                    source = "CAST(%s AS %s)" % (source, self.column_type(new_field))
            else:
                field = by_column.get(name)
                if new_pk and field is not None and field.primary_key and field.auto_created:
                    continue  # the automatic id gives way to the new primary key
                definition = type_name
                if default_kind:
                    definition += " %s %s" % (default_kind, default_expr)
                if col_comment:
                    definition += " COMMENT " + quote_literal(col_comment)
            columns.append("%s %s" % (self.quote_name(name), definition))
            selects.append((self.quote_name(name), source))
        if engine_sql is not None:
            pass
        elif engine is None:
            if new_field is not None and new_field.primary_key:
                pk_column = new_field.column
            elif old_field is not None and old_field.primary_key:
                pk_column = None  # no primary key any more
            else:
                pk = model._meta.pk
                names = {row[0] for row in existing}
                pk_column = pk.column if pk is not None and pk.column in names else None
            engine_sql = "ENGINE = MergeTree() ORDER BY %s" % (
                self.quote_name(pk_column) if pk_column else "tuple()")
        else:
            engine_sql = self.engine_sql(model)
        extra = self._extra_items(model)
        sql = "CREATE TABLE %s (%s) %s" % (
            self.quote_name(tmp), ", ".join(columns + extra), engine_sql)
        if table_comment:
            sql += " COMMENT %s" % quote_literal(table_comment)
        if new_field is not None and old_field.column != new_field.column:
            # Indexes, constraints and an explicit engine name the old column.
            sql = sql.replace(self.quote_name(old_field.column),
                              self.quote_name(new_field.column))
        self.execute("DROP TABLE IF EXISTS %s" % self.quote_name(tmp))
        self.execute(sql)
        self.execute("INSERT INTO %s (%s) SELECT %s FROM %s" % (
            self.quote_name(tmp), ", ".join(c for c, _ in selects),
            ", ".join(s for _, s in selects), self.quote_name(table)))
        self.execute("DROP TABLE %s" % self.quote_name(table))
        self.execute("RENAME TABLE %s TO %s" % (self.quote_name(tmp), self.quote_name(table)))

    def alter_model_engine(self, model, old_engine, new_engine):
        """AlterModelOptions changed Meta.engine (model has the new one):
        MODIFY SETTING when only settings were added or changed (ClickHouse
        19.14+, used from 20.1), else the table is rebuilt with the new engine."""
        if old_engine == new_engine:
            return
        default = self._default_engine(model)
        old, new = old_engine or default, new_engine or default

        def without_settings(engine):
            _, args, kwargs = engine.deconstruct()
            kwargs.pop("settings", None)
            return type(engine), args, kwargs

        old_settings, new_settings = old.settings or {}, new.settings or {}
        if (without_settings(old) == without_settings(new)
                and set(old_settings) <= set(new_settings)
                and self.connection.features.supports_modify_setting):
            changed = {k: v for k, v in new_settings.items() if old_settings.get(k) != v}
            self.execute("ALTER TABLE %s%s MODIFY SETTING %s" % (
                self.quote_name(model._meta.db_table), self._on_cluster(model),
                ", ".join("%s = %s" % (k, quote_literal(int(v) if isinstance(v, bool) else v))
                          for k, v in changed.items())))
            return
        for engine in (old, new):
            if engine.name.startswith("Replicated") or isinstance(engine, engines.Distributed):
                raise NotSupportedError(
                    "Changing the engine of %s from %s to %s needs the table recreated; the "
                    "backend does that only for non-replicated, non-distributed tables."
                    % (model._meta.label, old.name, new.name))
        self._rebuild_table(model, engine_sql=self.engine_sql(model, new))

    def _field_should_be_altered(self, old_field, new_field, ignore=None):
        # Django's version ignores attributes that matter only for
        # validation; so do we, plus index/unique flags (no-ops here). A new
        # target ("to") may change the column type or, for a many-to-many
        # field, the through table's columns: alter_field compares those.
        ignore = set(ignore or ()) | {"db_index", "unique", "db_constraint",
                                      "on_delete", "related_name"}
        return super()._field_should_be_altered(old_field, new_field, ignore=ignore)

    def _model_indexes_sql(self, model):
        return []

    def _field_indexes_sql(self, model, field):
        return []

    # ---- column options and TTL (models/ttl.py) ---------------------------------

    def _require(self, flag, what):
        from .features import require
        require(self.connection, flag, what)

    def _computed_sql(self, model, field):
        for kind in ("materialized", "alias"):
            expr = getattr(field, kind, None)
            if expr is not None:
                return " %s %s" % (kind.upper(), self._expr_sql(model, expr))
        ephemeral = getattr(field, "ephemeral", None)
        if ephemeral is not None:
            self._require("supports_ephemeral_columns", "ephemeral= (column %s)" % field.column)
            return " EPHEMERAL" + ("" if ephemeral is True else
                                   " " + self._expr_sql(model, ephemeral))
        return ""

    def _column_options_sql(self, model, field):
        sql = ""
        codec = getattr(field, "codec", None)
        if codec:
            self._require("supports_column_codecs", "codec= (column %s)" % field.column)
            sql += " CODEC(%s)" % codec
        ttl = getattr(field, "ttl", None)
        if ttl is not None:
            self._require("supports_ttl", "ttl= (column %s)" % field.column)
            sql += " TTL %s" % self._expr_sql(model, ttl)
        return sql

    def _ttl_rule_sql(self, model, rule):
        if isinstance(rule, str):
            return rule
        for flag, what in rule.requirements():
            self._require(flag, what)
        sql = self._expr_sql(model, rule.expression)
        if rule.to_disk is not None:
            sql += " TO DISK %s" % quote_literal(rule.to_disk)
        elif rule.to_volume is not None:
            sql += " TO VOLUME %s" % quote_literal(rule.to_volume)
        if rule.where is not None:
            sql += " WHERE %s" % self._expr_sql(model, rule.where)
        if rule.group_by is not None:
            sql += " GROUP BY %s" % ", ".join(
                self._expr_sql(model, k) for k in (rule.group_by if isinstance(
                    rule.group_by, tuple) else (rule.group_by,)))
            if rule.set:
                sql += " SET %s" % ", ".join(
                    "%s = %s" % (self._expr_sql(model, k), self._expr_sql(model, v))
                    for k, v in rule.set.items())
        return sql

    def ttl_sql(self, model, engine=None, rules=None):
        """The table's TTL clause: the engine's ttl= and Meta.ttl's rules."""
        engine = engine or self._engine(model)
        if rules is None:
            rules = list(getattr(model._meta, "ttl", None) or ())
        if getattr(engine, "ttl", None) is not None:
            rules = [engine.ttl, *rules]
        if not rules:
            return ""
        self._require("supports_ttl", "TTL of %s" % model._meta.label)
        return ", ".join(self._ttl_rule_sql(model, r) for r in rules)

    def alter_model_ttl(self, model, old_rules, new_rules):
        """Meta.ttl changed: MODIFY TTL (or REMOVE TTL when none is left)."""
        table = self.quote_name(model._meta.db_table) + self._on_cluster(model)
        ttl = self.ttl_sql(model, rules=list(new_rules or ()))
        if ttl:
            self.execute("ALTER TABLE %s MODIFY TTL %s" % (table, ttl))
        else:
            self._require("supports_remove_ttl", "removing the TTL of %s" % model._meta.label)
            self.execute("ALTER TABLE %s REMOVE TTL" % table)

    def _removed_column_options(self, old_field, new_field):
        """MODIFY COLUMN c REMOVE <property> for the options new_field drops."""
        removed = []
        # MATERIALIZED/ALIAS share the column's one default slot: another kind
        # (or a DEFAULT) in the new definition replaced it; nothing to remove.
        kinds = ("materialized", "alias", "ephemeral")
        replaced = any(getattr(new_field, k, None) is not None for k in kinds) or \
            new_field.db_default is not NOT_PROVIDED
        for attr, keyword in (("codec", "CODEC"), ("ttl", "TTL"),
                              ("materialized", "MATERIALIZED"), ("alias", "ALIAS")):
            if attr in kinds and replaced:
                continue
            if getattr(old_field, attr, None) is not None and \
                    getattr(new_field, attr, None) is None:
                self._require("supports_remove_ttl", "removing %s of column %s"
                              % (keyword, new_field.column))
                removed.append("MODIFY COLUMN %s REMOVE %s" % (
                    self.quote_name(new_field.column), keyword))
        return removed

    def _projection_sql(self, model, projection):
        self._require("supports_projections", "projection %r" % projection.name)
        return "PROJECTION %s (%s)" % (self.quote_name(projection.name), projection.query)

    def alter_model_projections(self, model, old, new):
        """Meta.projections changed: DROP the removed or changed ones, ADD the new
        ones and MATERIALIZE them for the rows already there (waited for)."""
        from .compiler import mutation_wait_steps, run_steps
        old = {p.name: p for p in old or ()}
        new = {p.name: p for p in new or ()}
        table = self.quote_name(model._meta.db_table)
        alter = "ALTER TABLE %s%s " % (table, self._on_cluster(model))
        for name, projection in old.items():
            if new.get(name) != projection:
                self._require("supports_projections", "projection %r" % name)
                self.execute(alter + "DROP PROJECTION %s" % self.quote_name(name))
        for name, projection in new.items():
            if old.get(name) != projection:
                self.execute(alter + "ADD " + self._projection_sql(model, projection))
                self.execute(alter + "MATERIALIZE PROJECTION %s" % self.quote_name(name))
                if not self.collect_sql:
                    with self.connection.cursor() as cursor:
                        run_steps(mutation_wait_steps(self.connection, table), cursor)

    # ---- views (models/views.py: Meta.view) ------------------------------------

    def _dictionary_sql(self, model, view, name):
        self._require("supports_dictionaries", "Dictionary %s" % model._meta.label)
        pk = model._meta.pk
        columns = ", ".join("%s %s" % (self.quote_name(f.column), self.column_type(f))
                            for f in model._meta.local_concrete_fields)
        settings = self.connection.settings_dict
        source = "TABLE %s DB %s USER %s" % (
            quote_literal(view.source_table), quote_literal(settings["NAME"]),
            quote_literal(settings.get("USER") or "default"))
        if settings.get("PASSWORD"):
            source += " PASSWORD %s" % quote_literal(settings["PASSWORD"])
        lifetime = ("MIN %d MAX %d" % view.lifetime if isinstance(view.lifetime, tuple)
                    else "%d" % view.lifetime)
        return "CREATE DICTIONARY %s (%s) PRIMARY KEY %s SOURCE(CLICKHOUSE(%s)) LAYOUT(%s()) " \
               "LIFETIME(%s)" % (name, columns, self.quote_name(pk.column), source,
                                 view.layout, lifetime)

    def view_sql(self, model, view):
        """CREATE [MATERIALIZED] VIEW (or DICTIONARY) of ``view`` (models/views.py)."""
        on_cluster = self._on_cluster(model)
        name = self.quote_name(model._meta.db_table) + on_cluster
        if view.drop_keyword == "DICTIONARY":
            return self._dictionary_sql(model, view, name)
        if on_cluster:
            from .clauses import qualified_tables
            with qualified_tables(self.connection):
                sql = view.sql_for(self.connection)
        else:
            sql = view.sql_for(self.connection)
        if NULL_FOR_EMPTY in self.connection.server_settings():
            # -State/-Merge aggregates need it off (see models/aggregates.py); in
            # the view's own SELECT, it also applies when inserts run the query.
            sql += "%s%s = 0" % (", " if " SETTINGS " in sql.upper() else " SETTINGS ",
                                 NULL_FOR_EMPTY)
        if view.materialized:
            target = self.quote_name(view.to_table)
            if on_cluster:
                target = "%s.%s" % (self.quote_name(self.connection.settings_dict["NAME"]), target)
            return "CREATE MATERIALIZED VIEW %s TO %s AS %s" % (name, target, sql)
        return "CREATE VIEW %s AS %s" % (name, sql)

    def _create_view(self, model, view):
        # Deferred to the end of the migration (the schema editor's exit): the
        # query's tables and the target may be created later in it.
        self.deferred_sql.append(self.view_sql(model, view))
        if getattr(view, "populate", False):
            self.deferred_sql.append(_Populate(self, model, view))

    def _drop_view(self, model):
        pending = [s for s in self.deferred_sql
                   if (s == self.view_sql(model, model._meta.view)
                       or (isinstance(s, _Populate) and s.model is model))]
        for statement in pending:
            self.deferred_sql.remove(statement)
        if not pending:
            self.execute("DROP %s %s%s" % (model._meta.view.drop_keyword,
                                           self.quote_name(model._meta.db_table),
                                           self._on_cluster(model)))

    def alter_model_view(self, model, old_view, new_view):
        """The query (or target) changed: the view is dropped and created again
        (without populate: the target keeps its rows)."""
        if old_view is not None:
            self.execute("DROP %s IF EXISTS %s%s" % (
                old_view.drop_keyword, self.quote_name(model._meta.db_table),
                self._on_cluster(model)))
        if new_view is not None:
            self.execute(self.view_sql(model, new_view))

    def _populate_view(self, model, view):
        """What POPULATE would do for a view TO a table: the query's result over
        the rows already there, inserted by column name."""
        sql = self.view_sql(model, view).split(" AS ", 1)[1]
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT * FROM (%s) LIMIT 0" % sql)
            names = [d[0] for d in cursor.description]
        self.execute("INSERT INTO %s (%s) %s" % (
            self.quote_name(view.to_table), ", ".join(self.quote_name(n) for n in names), sql))

    def execute(self, sql, params=()):
        if isinstance(sql, _Populate):
            if self.collect_sql:
                return super().execute(str(sql), None)
            return sql.run()
        if params == ():
            params = None
        if not self.collect_sql and not params and isinstance(sql, str) and \
                cluster_ddl.run_per_shard(self.connection, sql):
            return
        if self.collect_sql or NULL_FOR_EMPTY not in self.connection.server_settings():
            return super().execute(sql, params)
        # DDL is stored as declared: with the backend's default
        # aggregate_functions_null_for_empty=1 the server would store a TTL's
        # "SET v = sum(v)" as sumOrNull(v). Django's execute() (its checks and
        # log), with the setting off for this statement (the driver's settings=).
        with self.connection.execute_wrapper(_with_settings({NULL_FOR_EMPTY: 0})):
            super().execute(sql, params)


def _with_settings(settings):
    """A connection.execute_wrapper() that sends ``settings`` with the statement
    (the driver cursor's settings=)."""
    def run(execute, sql, params, many, context):
        if many:
            return execute(sql, params, many, context)
        with context["connection"].wrap_database_errors:
            return context["cursor"].cursor.execute(sql, params, settings=settings)
    return run


class _Populate:
    """A deferred statement (schema editor's deferred_sql) filling a materialized
    view's target from the rows already in its source."""

    def __init__(self, editor, model, view):
        self.editor, self.model, self.view = editor, model, view

    def run(self):
        self.editor._populate_view(self.model, self.view)

    def __str__(self):
        return "INSERT INTO %s ... (populate)" % self.view.to_table
