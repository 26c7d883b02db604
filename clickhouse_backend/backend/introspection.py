import re
from collections import namedtuple

from django.db import DatabaseError
from django.db.backends.base.introspection import BaseDatabaseIntrospection
from django.db.backends.base.introspection import FieldInfo as BaseFieldInfo
from django.db.backends.base.introspection import TableInfo as BaseTableInfo

# inspectdb reads .comment (db_comment=...).
FieldInfo = namedtuple("FieldInfo", BaseFieldInfo._fields + ("comment",))
TableInfo = namedtuple("TableInfo", BaseTableInfo._fields + ("comment",))


def _strip(type_name):
    """Nullable/LowCardinality wrappers removed: (inner type, nullable)."""
    null = False
    changed = True
    while changed:
        changed = False
        for wrapper in ("LowCardinality(", "Nullable("):
            if type_name.startswith(wrapper) and type_name.endswith(")"):
                null = null or wrapper == "Nullable("
                type_name = type_name[len(wrapper):-1]
                changed = True
    return type_name, null


class DatabaseIntrospection(BaseDatabaseIntrospection):
    data_types_reverse = {
        "Int8": "SmallIntegerField",
        "Int16": "SmallIntegerField",
        "Int32": "IntegerField",
        "Int64": "BigIntegerField",
        "UInt8": "PositiveSmallIntegerField",
        "UInt16": "PositiveSmallIntegerField",
        "UInt32": "PositiveIntegerField",
        "UInt64": "PositiveBigIntegerField",
        "Float32": "FloatField",
        "Float64": "FloatField",
        "Bool": "BooleanField",
        "String": "TextField",
        "UUID": "UUIDField",
        "Date": "DateField",
        "Date32": "DateField",
        "DateTime": "DateTimeField",
        "DateTime64": "DateTimeField",
        "IPv4": "GenericIPAddressField",
        "IPv6": "GenericIPAddressField",
        "Decimal": "DecimalField",
    }
    # ClickHouse-specific types inspectdb maps to clickhouse_backend.models
    # fields that take no arguments. Types whose field needs arguments inspectdb
    # cannot write (Array, Map, Tuple, Enum, FixedString) become TextField,
    # which inspectdb marks "This field type is a guess."
    ch_field_types = {
        "Int128": "Int128Field", "Int256": "Int256Field",
        "UInt128": "UInt128Field", "UInt256": "UInt256Field",
    }

    def get_field_type(self, data_type, description):
        base, _ = _strip(data_type)
        head = base.split("(", 1)[0]
        if head in self.ch_field_types:
            return "clickhouse_backend.models." + self.ch_field_types[head]
        if head in self.data_types_reverse:
            return self.data_types_reverse[head]
        return "TextField"

    def get_table_list(self, cursor):
        # system.tables.comment appeared in 21.6.
        comment = "comment" if self.connection.server_version >= (21, 6) else "''"
        cursor.execute(
            "SELECT name, engine, %s FROM system.tables WHERE database = currentDatabase() "
            "AND NOT is_temporary ORDER BY name" % comment)
        return [TableInfo(name, "v" if engine in ("View", "MaterializedView") else "t",
                          comment or None)
                for name, engine, comment in cursor.fetchall()]

    def get_table_description(self, cursor, table_name):
        cursor.execute(
            "SELECT name, type, default_kind, default_expression, comment FROM system.columns "
            "WHERE database = currentDatabase() AND table = %s", [table_name])
        rows = cursor.fetchall()
        if not rows:
            raise DatabaseError("Table %s does not exist." % table_name)
        result = []
        for name, type_name, default_kind, default_expr, comment in rows:
            base, null = _strip(type_name)
            precision = scale = size = None
            m = re.match(r"Decimal(?:\d+)?\((\d+),\s*(\d+)\)", base)
            if m:
                precision, scale = int(m.group(1)), int(m.group(2))
            m = re.match(r"FixedString\((\d+)\)", base)
            if m:
                size = int(m.group(1))
            if default_kind == "DEFAULT" and default_expr:
                # Servers before 20.x store a column default as CAST(v, 'T').
                m = re.match(r"^CAST\((.*), '([^']*)'\)$", default_expr)
                if m and m.group(2) == type_name:
                    default_expr = m.group(1)
            result.append(FieldInfo(
                name, type_name, None, size, precision, scale, null,
                default_expr if default_kind == "DEFAULT" else None, None, comment or None))
        return result

    def get_sequences(self, cursor, table_name, table_fields=()):
        # Auto fields take client-side snowflake ids: the id generator is the
        # table's one "sequence" (nothing to reset: supports_sequence_reset).
        for field in table_fields:
            if getattr(field, "db_returning", False) and field.primary_key:
                return [{"table": table_name, "column": field.column}]
        return []

    def get_relations(self, cursor, table_name):
        return {}

    def get_primary_key_columns(self, cursor, table_name):
        cursor.execute(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = %s AND is_in_primary_key", [table_name])
        return [r[0] for r in cursor.fetchall()]

    def get_constraints(self, cursor, table_name):
        constraints = {}
        cursor.execute(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = %s AND is_in_sorting_key", [table_name])
        key = [r[0] for r in cursor.fetchall()]
        if key:
            constraints["__sorting_key__"] = {
                "columns": key, "primary_key": False, "unique": False, "foreign_key": None,
                "check": False, "index": True, "orders": [], "type": "sorting_key",
                "definition": None, "options": None,
            }
        if self.connection.server_version >= (20, 1):
            cursor.execute(
                "SELECT name, expr, type FROM system.data_skipping_indices "
                "WHERE database = currentDatabase() AND table = %s", [table_name])
            for name, expr, type_name in cursor.fetchall():
                constraints[name] = {
                    "columns": [c.strip().strip('`"') for c in expr.strip("()").split(",")],
                    "primary_key": False, "unique": False, "foreign_key": None,
                    "check": False, "index": True, "orders": [], "type": type_name,
                    "definition": expr, "options": None,
                }
        if self.connection.server_version >= (19, 14):
            cursor.execute(
                "SELECT create_table_query FROM system.tables "
                "WHERE database = currentDatabase() AND name = %s", [table_name])
            row = cursor.fetchone()
            if row:
                for m in re.finditer(r"CONSTRAINT\s+[`\"]?(\w+)[`\"]?\s+CHECK", row[0]):
                    constraints[m.group(1)] = {
                        "columns": [], "primary_key": False, "unique": False,
                        "foreign_key": None, "check": True, "index": False,
                        "orders": [], "type": None, "definition": None, "options": None,
                    }
        return constraints
