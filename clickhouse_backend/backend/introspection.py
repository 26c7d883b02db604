import re
from collections import namedtuple

from django.db import DatabaseError
from django.db.backends.base.introspection import BaseDatabaseIntrospection
from django.db.backends.base.introspection import FieldInfo as BaseFieldInfo
from django.db.backends.base.introspection import TableInfo as BaseTableInfo

from clickhouse_backend.tables import engines

# inspectdb reads .comment (db_comment=...), and writes the column options:
# .default_kind/.default_expression (MATERIALIZED, ALIAS, EPHEMERAL) and .codec
# (the text inside CODEC(...)).
FieldInfo = namedtuple("FieldInfo", BaseFieldInfo._fields + (
    "comment", "default_kind", "default_expression", "codec"))
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
        comment = "comment" if self.connection.features.supports_comments else "''"
        cursor.execute(
            "SELECT name, engine, %s FROM system.tables WHERE database = currentDatabase() "
            "AND NOT is_temporary ORDER BY name" % comment)
        return [TableInfo(name, "v" if engine in ("View", "MaterializedView") else "t",
                          comment or None)
                for name, engine, comment in cursor.fetchall()]

    def get_table_description(self, cursor, table_name):
        # system.columns.compression_codec came with codecs (19.1).
        codec = "compression_codec" if self.connection.features.supports_column_codecs else "''"
        cursor.execute(
            "SELECT name, type, default_kind, default_expression, comment, %s FROM system.columns "
            "WHERE database = currentDatabase() AND table = %%s" % codec, [table_name])
        rows = cursor.fetchall()
        if not rows:
            raise DatabaseError("Table %s does not exist." % table_name)
        result = []
        for name, type_name, default_kind, default_expr, comment, codec in rows:
            kind_expr = default_expr
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
                default_expr if default_kind == "DEFAULT" else None, None, comment or None,
                default_kind or None, kind_expr or None,
                codec[len("CODEC("):-1] if codec.startswith("CODEC(") else None))
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
        if self.connection.features.supports_data_skipping_indexes:
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
        if self.connection.features.supports_table_check_constraints:
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


# ---- inspectdb: ClickHouse types and engines as clickhouse_backend.models code ----

_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"""
                    r"""|(?P<ident>[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`|"(?:[^"\\]|\\.)*")"""
                    r"""|(?P<punct>[(),=]))""")


def _tokens(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError("cannot parse ClickHouse type %r at %d" % (text, pos))
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def unquote_literal(literal):
    """A ClickHouse string literal ('...' with backslash escapes) as bytes."""
    body, out, i = literal[1:-1], bytearray(), 0
    simple = {"n": b"\n", "t": b"\t", "r": b"\r", "0": b"\0", "b": b"\b", "f": b"\f",
              "a": b"\a", "v": b"\v", "e": b"\x1b"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "x":
                out.append(int(body[i + 2:i + 4], 16))
                i += 4
                continue
            out += simple.get(nxt, nxt.encode())
            i += 2
            continue
        if c == "'" and body[i + 1:i + 2] == "'":  # '' inside a literal
            out += b"'"
            i += 2
            continue
        out += c.encode("utf-8", "surrogateescape")  # bytes the driver escaped
        i += 1
    return bytes(out)


def _unquote_ident(ident):
    if ident[:1] in "`\"":
        return unquote_literal("'" + ident[1:-1] + "'").decode()
    return ident


class _Parser:
    """A ClickHouse type as (name, [arguments]): an argument is a type, a
    number, a str literal (as bytes), an enum item (bytes, int) or a named
    tuple element (name, type)."""

    def __init__(self, text):
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self, offset=0):
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else (None, None)

    def take(self):
        token = self.tokens[self.i]
        self.i += 1
        return token

    def type(self):
        kind, value = self.take()
        if kind != "ident":
            raise ValueError("a type name expected, got %r" % value)
        args = []
        if self.peek() == ("punct", "("):
            self.take()
            while self.peek() != ("punct", ")"):
                args.append(self.argument())
                if self.peek() == ("punct", ","):
                    self.take()
            self.take()
        return _unquote_ident(value), args

    def argument(self):
        kind, value = self.peek()
        if kind == "str":
            self.take()
            if self.peek() == ("punct", "="):
                self.take()
                return unquote_literal(value), int(self.take()[1])
            return unquote_literal(value)
        if kind == "num":
            self.take()
            return int(value) if value.lstrip("-").isdigit() else float(value)
        if kind == "ident" and self.peek(1)[0] == "ident":  # a named tuple element
            self.take()
            return _unquote_ident(value), self.type()
        return self.type()


def parse_type(text):
    parser = _Parser(text)
    node = parser.type()
    if parser.i != len(parser.tokens):
        raise ValueError("trailing text in ClickHouse type %r" % text)
    return node


_SIMPLE_FIELDS = {
    **{t: t + "Field" for t in ("Int8", "Int16", "Int32", "Int64", "Int128", "Int256", "UInt8",
                                "UInt16", "UInt32", "UInt64", "UInt128", "UInt256", "Float32",
                                "Float64", "Date32", "IPv4", "IPv6")},
    "Bool": "BoolField", "String": "StringField", "UUID": "UUIDField", "Date": "DateField",
    "JSON": "JSONField",
}
_DECIMAL_DIGITS = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}


def _label(raw):
    """An enum name as Python source: str where it is UTF-8, else bytes."""
    try:
        return repr(raw.decode())
    except UnicodeDecodeError:
        return repr(raw)


def _function_sql(node):
    """An aggregate function of an AggregateFunction type as SQL ("uniq",
    "quantiles(0.5, 0.9)"), or None for parameters other than numbers."""
    name, args = node
    if not all(isinstance(a, (int, float)) for a in args):
        return None
    return "%s(%s)" % (name, ", ".join(map(str, args))) if args else name


def field_code(node, params=()):
    """(Python source of the clickhouse_backend.models field for a parsed
    ClickHouse type, notes for the comment after it)."""
    name, args = node
    params, notes = list(params), []
    if name == "Nullable":
        return field_code(args[0], params + ["null=True", "blank=True"])
    if name == "LowCardinality":
        return field_code(args[0], params + ["low_cardinality=True"])
    if name in _SIMPLE_FIELDS and not args:
        cls = _SIMPLE_FIELDS[name]
    elif name == "FixedString":
        cls, params = "FixedStringField", ["max_bytes=%d" % args[0]] + params
    elif name in ("DateTime", "DateTime64"):
        if name == "DateTime64":
            cls = "DateTime64Field"
            if args[0] != 6:
                params = ["precision=%d" % args[0]] + params
            zone = args[1:]
        else:
            cls, zone = "DateTimeField", args
        if not zone or zone[0] != b"UTC":
            # The fields write the 'UTC' type: the same instants, shown in UTC.
            precision = [str(a) for a in args[:len(args) - len(zone)]]
            given = precision + ["'%s'" % z.decode() for z in zone]
            notes.append("%s%s is created as %s(%s)." % (
                name, "(%s)" % ", ".join(given) if given else "", name,
                ", ".join(precision + ["'UTC'"])))
    elif name == "Decimal" or name in _DECIMAL_DIGITS:
        digits, scale = (args[0], args[1]) if name == "Decimal" else (_DECIMAL_DIGITS[name], args[0])
        cls, params = "DecimalField", ["max_digits=%d" % digits, "decimal_places=%d" % scale] + params
    elif name in ("Enum8", "Enum16"):
        cls = name + "Field"
        params = ["choices=[%s]" % ", ".join("(%d, %s)" % (v, _label(k)) for k, v in args)] + params
    elif name == "Array":
        inner, notes = field_code(args[0])
        cls, params = "ArrayField", [inner] + params
    elif name == "Map":
        (key, n1), (value, n2) = field_code(args[0]), field_code(args[1])
        cls, params, notes = "MapField", [key, value] + params, n1 + n2
    elif name == "Tuple":
        items = []
        for arg in args:
            if isinstance(arg[1], tuple):  # (element name, type)
                code, n = field_code(arg[1])
                items.append("(%r, %s)" % (arg[0], code))
            else:
                code, n = field_code(arg)
                items.append(code)
            notes += n
        cls, params = "TupleField", ["[%s]" % ", ".join(items)] + params
    elif name == "Object" and args == [b"json"]:
        cls = "JSONField"
    elif name in ("AggregateFunction", "SimpleAggregateFunction") and args and \
            isinstance(args[0], tuple) and _function_sql(args[0]):
        items = []
        for arg in args[1:]:
            code, n = field_code(arg)
            items.append(code)
            notes += n
        cls, params = name + "Field", [repr(_function_sql(args[0]))] + items + params
    else:
        notes.append("ClickHouse type %s has no field: read as text." % name)
        cls = "StringField"
    return "models.%s(%s)" % (cls, ", ".join(params)), notes


def _split_top(text):
    """Split at the commas outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            if c == "\\":
                continue
            if c == quote and text[i - 1] != "\\":
                quote = None
        elif c in "'`\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def _literal(text):
    text = text.strip()
    if text.startswith("'"):
        raw = unquote_literal(text)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def engine_code(info, column_to_field):
    """Python source of Meta.engine from a system.tables row (engine,
    engine_full, partition_key, sorting_key, primary_key, sampling_key), or
    None for an engine clickhouse_backend.models has no class for."""
    engine, full, partition_key, sorting_key, primary_key, sampling_key = info
    cls = getattr(engines, engine, None)
    if not (isinstance(cls, type) and issubclass(cls, engines.Engine)) or cls is engines.Engine:
        return None

    def expr(sql):
        name = _unquote_ident(sql.strip())
        return repr(column_to_field.get(name, sql.strip()))

    def key(sql):
        items = _split_top(sql or "")
        if len(items) == 1:
            return expr(items[0])
        return "(%s)" % "".join(expr(i) + ", " for i in items).rstrip(" ")

    rest = full[len(engine):]
    args = []
    if rest.startswith("("):
        depth = 0
        for i, c in enumerate(rest):
            depth += c == "("
            depth -= c == ")"
            if depth == 0:
                break
        for n, arg in enumerate(_split_top(rest[1:i])):
            kind = cls.arg_kinds[n] if n < len(cls.arg_kinds) else cls.variadic
            args.append(expr(arg) if kind == engines.COLUMN else repr(_literal(arg)))
        rest = rest[i + 1:]
    kwargs = []
    if issubclass(cls, engines.BaseMergeTree):
        kwargs.append("order_by=%s" % (key(sorting_key) if sorting_key else "'tuple()'"))
        if partition_key:
            kwargs.append("partition_by=%s" % key(partition_key))
        if primary_key and primary_key != sorting_key:
            kwargs.append("primary_key=%s" % key(primary_key))
        if sampling_key:
            kwargs.append("sample_by=%s" % expr(sampling_key))
    m = re.search(r" SETTINGS (.*)$", rest)
    if m and cls.accepts_settings:
        settings = {}
        for item in _split_top(m.group(1)):
            name, _, value = item.partition("=")
            settings[name.strip()] = _literal(value)
        kwargs.append("settings=%r" % settings)
    return "models.%s(%s)" % (cls.__name__, ", ".join(args + kwargs))


def ttl_rules(engine_full):
    """A MergeTree table's TTL rules (SQL text, for Meta.ttl) from
    system.tables.engine_full, one per rule."""
    m = re.search(r" TTL (.*?)(?: SETTINGS |$)", engine_full)
    if not m:
        return []
    rules = []
    for part in _split_top(m.group(1)):
        # The assignments after a GROUP BY rule's SET are that rule's.
        if rules and " SET " in rules[-1] and re.match(r"^(`[^`]*`|\w+)\s*=[^=]", part):
            rules[-1] += ", " + part
        else:
            rules.append(part)
    return rules


_INDEX = re.compile(r"INDEX (`(?:[^`\\]|\\.)*`|\w+) (.+?) TYPE (\w+)(?:\(([^)]*)\))? "
                    r"GRANULARITY (\d+)")
_INDEX_TYPES = {"minmax": "MinMax", "set": "Set", "bloom_filter": "BloomFilter",
                "ngrambf_v1": "NgrambfV1", "tokenbf_v1": "TokenbfV1"}


def index_code(create_table_query, column_to_field):
    """(Python source of each data skipping index of a CREATE TABLE as a
    models.Index, comments for those it cannot write: on expressions other
    than columns, of types models has no class for)."""
    indexes, comments = [], []
    for m in _INDEX.finditer(create_table_query):
        name, expr, type_name, type_args, granularity = m.groups()
        items = _split_top(expr[1:-1] if expr.startswith("(") and expr.endswith(")") else expr)
        fields = [column_to_field.get(_unquote_ident(i)) for i in items]
        if None in fields or type_name not in _INDEX_TYPES:
            comments.append("# not written: %s" % m.group(0))
            continue
        indexes.append("models.Index(fields=%r, name=%r, type=models.%s(%s), granularity=%s)" % (
            fields, _unquote_ident(name), _INDEX_TYPES[type_name], type_args or "", granularity))
    return indexes, comments


_MASK = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"")
_COLUMN_NAME = re.compile(r"`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|\w+")


def column_ttls(create_table_query):
    """{column: its TTL expression} from a CREATE TABLE (system.columns has no
    TTL column): the text after a column declaration's last TTL keyword (after
    its type, DEFAULT, COMMENT and CODEC)."""
    # Quoted text masked (same length), so that parentheses and keywords in it
    # are not read.
    masked = _MASK.sub(lambda m: m.group(0)[0] + "x" * (len(m.group(0)) - 2) + m.group(0)[-1],
                       create_table_query)
    start = masked.find("(")
    if start < 0:
        return {}
    depth = 0
    for end in range(start, len(masked)):
        depth += {"(": 1, ")": -1}.get(masked[end], 0)
        if depth == 0:
            break
    ttls, offset = {}, start + 1
    for item in _split_top(masked[start + 1:end]):
        at = masked.index(item, offset)
        offset = at + len(item)
        name = _COLUMN_NAME.match(item)
        ttl = list(re.finditer(r"\sTTL\s", item))
        if name and ttl and name.group(0) not in ("INDEX", "PROJECTION", "CONSTRAINT"):
            original = create_table_query[at:at + len(item)]
            ttls[_unquote_ident(create_table_query[at:at + name.end()])] = \
                original[ttl[-1].end():].strip()
    return ttls
