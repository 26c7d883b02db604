"""``manage.py inspectdb`` for ClickHouse databases (with "clickhouse_backend"
in INSTALLED_APPS, as for django-clickhouse-backend): ClickhouseModel classes
with ClickHouse field classes (UInt32Field, Nullable as null=True,
LowCardinality, arrays, tuples, maps, enums, decimals, DateTime64…) and the
table's engine with its keys and settings, Meta.ttl, the column options
(codec=, ttl=, materialized=/alias=/ephemeral=) and AggregateFunction /
SimpleAggregateFunction fields, so that the module imports and creates the
same tables. Other databases get Django's command unchanged."""
from django.core.management.commands import inspectdb
from django.db import connections

from clickhouse_backend.backend.introspection import (
    column_ttls, engine_code, field_code, index_code, parse_type, ttl_rules)

# EPHEMERAL without a default: system.columns shows the type's default value.
_PLAIN_EPHEMERAL = "defaultValueOfTypeName("


class Command(inspectdb.Command):
    db_module = "clickhouse_backend"

    def handle_inspection(self, options):
        connection = connections[options["database"]]
        if connection.vendor != "clickhouse":
            yield from super().handle_inspection(options)
            return
        table_name_filter = options.get("table_name_filter")  # a stealth option
        with connection.cursor() as cursor:
            yield "# This is an auto-generated Django model module."
            yield "# Each model's primary key is a column of the table's sorting key (or its"
            yield "# first column): ClickHouse enforces no uniqueness, check it is unique."
            yield ("# Remove `managed = False` lines if you wish to allow Django to create, "
                   "modify, and delete the table")
            yield ("# Feel free to rename the models, but don't rename db_table values or "
                   "field names.")
            yield "from %s import models" % self.db_module
            types = {"t", "v"} if options["include_views"] else {"t"}
            tables = {t.name: t for t in connection.introspection.get_table_list(cursor)
                      if t.type in types}
            for table_name in options["table"] or sorted(tables):
                if callable(table_name_filter) and not table_name_filter(table_name):
                    continue
                try:
                    lines = list(self._model(connection, cursor, table_name,
                                             tables.get(table_name)))
                except Exception as e:
                    yield "# Unable to inspect table '%s'" % table_name
                    yield "# The error was: %s" % e
                    continue
                yield from lines

    def _model(self, connection, cursor, table_name, info):
        intro = connection.introspection
        description = intro.get_table_description(cursor, table_name)
        cursor.execute(
            "SELECT engine, engine_full, partition_key, sorting_key, primary_key, sampling_key, "
            "create_table_query FROM system.tables WHERE database = currentDatabase() "
            "AND name = %s", [table_name])
        engine_row = cursor.fetchone()
        # Not a primary key: Nullable and computed (never inserted) columns.
        unfit = {row.name for row in description if row.type_code.startswith("Nullable(")
                 or row.default_kind in ("MATERIALIZED", "ALIAS", "EPHEMERAL")}
        key_columns = [c for c in intro.get_primary_key_columns(cursor, table_name)
                       if c not in unfit]
        pk = key_columns[0] if key_columns else next(
            (row.name for row in description if row.name not in unfit), None)

        yield ""
        yield ""
        yield "class %s(models.ClickhouseModel):" % self.normalize_table_name(table_name)
        ttls = column_ttls(engine_row[6]) if engine_row else {}
        used, column_to_field = [], {}
        for row in description:
            att_name, params, notes = self.normalize_col_name(row.name, used, False)
            used.append(att_name)
            column_to_field[row.name] = att_name
            extra = ["%s=%r" % kv for kv in params.items()]
            if row.name == pk:
                extra.append("primary_key=True")
            if connection.features.supports_comments and row.comment:
                extra.append("db_comment=%r" % row.comment)
            extra += self._column_options(row, ttls.get(row.name))
            code, type_notes = field_code(parse_type(row.type_code), extra)
            notes = list(notes) + type_notes
            if row.default:
                notes.append("DEFAULT %s (not written)." % row.default)
            yield "    %s = %s%s" % (att_name, code, "  # " + " ".join(notes) if notes else "")

        yield ""
        yield "    class Meta:"
        yield "        managed = False%s" % (
            "  # Created from a view. Don't remove." if info and info.type == "v" else "")
        yield "        db_table = %r" % table_name
        if connection.features.supports_comments and info and info.comment:
            yield "        db_table_comment = %r" % info.comment
        if not engine_row:
            return
        engine = engine_code(engine_row[:6], column_to_field)
        if engine:
            yield "        engine = %s" % engine
        else:
            yield "        # engine %s: no clickhouse_backend.models class" % engine_row[1]
        rules = ttl_rules(engine_row[1]) if engine else []
        if rules:
            yield "        ttl = %r" % rules
        indexes, comments = index_code(engine_row[6], column_to_field)
        for comment in comments:
            yield "        %s" % comment
        if indexes:
            yield "        indexes = ["
            for index in indexes:
                yield "            %s," % index
            yield "        ]"

    @staticmethod
    def _column_options(row, ttl):
        """codec=, ttl=, materialized=/alias=/ephemeral= of a column, as SQL text."""
        options = []
        if row.codec:
            options.append("codec=%r" % row.codec)
        if ttl:
            options.append("ttl=%r" % ttl)
        if row.default_kind in ("MATERIALIZED", "ALIAS"):
            options.append("%s=%r" % (row.default_kind.lower(), row.default_expression))
        elif row.default_kind == "EPHEMERAL":
            plain = (row.default_expression or "").startswith(_PLAIN_EPHEMERAL)
            options.append("ephemeral=%s" % ("True" if plain else repr(row.default_expression)))
        return options
