import datetime
import re
import decimal
import ipaddress
import uuid

from django.conf import settings
from django.db import DataError, DatabaseError, IntegrityError, NotSupportedError
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.expressions import Col
from django.utils import timezone
from django.utils.encoding import force_str

from clickhouse_backend import _engine

UTC = datetime.timezone.utc

_INT_RANGES = {
    "Int8Field": (-(2**7), 2**7 - 1),
    "Int16Field": (-(2**15), 2**15 - 1),
    "Int32Field": (-(2**31), 2**31 - 1),
    "Int64Field": (-(2**63), 2**63 - 1),
    "Int128Field": (-(2**127), 2**127 - 1),
    "Int256Field": (-(2**255), 2**255 - 1),
    "UInt8Field": (0, 2**8 - 1),
    "UInt16Field": (0, 2**16 - 1),
    "UInt32Field": (0, 2**32 - 1),
    "UInt64Field": (0, 2**64 - 1),
    "UInt128Field": (0, 2**128 - 1),
    "UInt256Field": (0, 2**256 - 1),
    "SmallIntegerField": (-(2**15), 2**15 - 1),
    "IntegerField": (-(2**31), 2**31 - 1),
    "BigIntegerField": (-(2**63), 2**63 - 1),
    "PositiveSmallIntegerField": (0, 2**16 - 1),
    "PositiveIntegerField": (0, 2**32 - 1),
    "PositiveBigIntegerField": (0, 2**64 - 1),
    # Snowflake ids: all auto fields are Int64 columns.
    "SmallAutoField": (-(2**63), 2**63 - 1),
    "AutoField": (-(2**63), 2**63 - 1),
    "BigAutoField": (-(2**63), 2**63 - 1),
}

_TEMPORAL_KINDS = {"DateField", "ClickhouseDateField", "Date32Field", "DateTimeField",
                   "ClickhouseDateTimeField", "DateTime64Field"}

_STRING_TYPES = {
    "CharField", "TextField", "SlugField", "EmailField", "URLField",
    "FilePathField", "FileField", "StringField", "FixedStringField",
}


# What the C escaper (ext/escape.c) renders itself; anything else is rendered
# as its str(), as a string literal.
_LITERAL_TYPES = (bool, int, float, decimal.Decimal, bytes, bytearray, str, datetime.date,
                  datetime.time, uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)


def _literal_value(value):
    if value is None or isinstance(value, _LITERAL_TYPES):
        return value
    if isinstance(value, list):
        return [_literal_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_literal_value(v) for v in value)
    if isinstance(value, dict):
        return {_literal_value(k): _literal_value(v) for k, v in value.items()}
    return str(value)


def quote_literal(value):
    """Render a Python value as a ClickHouse literal (DDL only: defaults,
    settings, engine arguments; queries use driver parameters). The one
    literal renderer is the driver's (ext/escape.c), so DDL spells a value as
    a query parameter is spelled (an aware datetime is toDateTime('...', 'UTC'))."""
    return _engine.quote(_literal_value(value))


def _field_label(field, name=None):
    """'app.Model.field' (or the given name) for messages."""
    model = getattr(field, "model", None)
    if model is not None and getattr(field, "name", None):
        return "%s.%s" % (model._meta.label, name or field.name)
    return name or getattr(field, "name", None) or field.get_internal_type()


class NegativeUnsignedError(IntegrityError, DataError):
    """A negative value for an unsigned column: it breaks the column's
    "non-negative" rule, an IntegrityError as a CHECK constraint violation is
    elsewhere (Django's PositiveIntegerField tests expect that), and a value out
    of the type's range, a DataError."""


# The ClickHouse integer types a value with no column behind it gets, narrowest
# first (Value(2**40) is no Int32, a snowflake id no UInt32).
_FREE_INT_TYPES = [("Int64", -(2**63), 2**63 - 1), ("UInt64", 0, 2**64 - 1),
                   ("Int128", -(2**127), 2**127 - 1), ("UInt128", 0, 2**128 - 1),
                   ("Int256", -(2**255), 2**255 - 1), ("UInt256", 0, 2**256 - 1)]


class InvalidLookupType(DataError, ValueError):
    """An unknown Extract/Trunc kind (Django passes it unchecked): a DataError
    as the database would raise, and the ValueError other backends raise."""


def _fixed_offset(tzname):
    """Seconds east of UTC for Django's fixed-offset names ('UTC+05:00',
    '-04:43'), None for a zone name."""
    m = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2}):?(\d\d)?", tzname)
    if m is None:
        return None
    seconds = int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60
    return -seconds if m.group(1) == "-" else seconds


def _zone_name(tzname):
    """Django names fixed offsets 'UTC+05:00'; ClickHouse knows zone names
    only: whole hours become Etc/GMT-5 (POSIX sign, inverted). Offsets with
    minutes have no zone name (see DatabaseOperations._tz)."""
    offset = _fixed_offset(tzname)
    if offset is None:
        return tzname
    if offset % 3600:
        raise NotSupportedError("ClickHouse has no time zone for the offset %s." % tzname)
    hours = offset // 3600
    if hours == 0:
        return "UTC"
    return "Etc/GMT%s%d" % ("-" if hours > 0 else "+", abs(hours))


class DatabaseOperations(BaseDatabaseOperations):
    compiler_module = "clickhouse_backend.backend.compiler"
    explain_prefix = "EXPLAIN"
    cast_char_field_without_max_length = "String"
    cast_data_types = {
        "AutoField": "Int64",
        "BigAutoField": "Int64",
        "SmallAutoField": "Int64",
        "CharField": "String",
        "TextField": "String",
        "IntegerField": "Int32",
        "BigIntegerField": "Int64",
        "SmallIntegerField": "Int16",
        "PositiveBigIntegerField": "UInt64",
        "PositiveIntegerField": "UInt32",
        "PositiveSmallIntegerField": "UInt16",
        "FloatField": "Float64",
    }
    set_operators = {"union": "UNION", "intersection": "INTERSECT", "difference": "EXCEPT"}

    # ---- names / generic SQL ------------------------------------------------

    def quote_name(self, name):
        if name.startswith('"') and name.endswith('"'):
            return name
        return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')

    def max_name_length(self):
        # Not a hard server limit; keeps generated index names readable.
        return 200

    def no_limit_value(self):
        # 2**63 - 1 plus an OFFSET overflows on ClickHouse 18.16 ("Parameters
        # start = 2, length = 9223372036854775809 are out of bound").
        return 2**62

    def pk_default_value(self):
        return "DEFAULT"

    def bulk_batch_size(self, fields, objs):
        # One HTTP request per batch; ClickHouse prefers large inserts.
        return len(objs) or 1

    def max_in_list_size(self):
        return None

    def integer_field_range(self, internal_type):
        try:
            return _INT_RANGES[internal_type]
        except KeyError:
            return super().integer_field_range(internal_type)

    def quote_value(self, value):
        return quote_literal(value)

    def last_executed_query(self, cursor, sql, params):
        if params is None:
            return sql
        fmt = getattr(self.connection.Database, "format_query", None)
        if fmt is not None:
            try:
                return force_str(fmt(sql, params), errors="replace")
            except Exception:  # logging must never break a query
                pass
        try:
            if isinstance(params, dict):
                return sql % {k: quote_literal(v) for k, v in params.items()}
            return sql % tuple(quote_literal(p) for p in params)
        except Exception:
            return "%s -- params: %r" % (sql, params)

    def last_insert_id(self, cursor, table_name, pk_name):
        raise NotSupportedError(
            "ClickHouse has no auto-increment; ids are generated client-side.")

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        return ["%s %s;" % (style.SQL_KEYWORD("TRUNCATE TABLE"),
                            style.SQL_FIELD(self.quote_name(t))) for t in tables]

    def execute_sql_flush(self, sql_list):
        # TRUNCATE only what holds data: tests flush every table after every
        # test, and most tables are empty (one query finds the others).
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT name FROM system.tables WHERE database = currentDatabase() AND "
                "(engine NOT LIKE '%%MergeTree' OR name IN (SELECT table FROM system.parts "
                "WHERE database = currentDatabase() AND active))")
            filled = {self.quote_name(r[0]) for r in cursor.fetchall()}
            for sql in sql_list:
                m = re.match(r'\s*TRUNCATE TABLE (".*");?\s*$', sql, re.S)
                if m is None or m.group(1) in filled:
                    cursor.execute(sql)

    def prepare_sql_script(self, sql):
        return [s.strip() for s in sql.split(";") if s.strip()]

    def start_transaction_sql(self):
        return ""

    def end_transaction_sql(self, success=True):
        return ""

    def for_update_sql(self, *args, **kwargs):
        raise NotSupportedError("SELECT ... FOR UPDATE is not supported on ClickHouse.")

    def regex_lookup(self, lookup_type):
        if lookup_type == "regex":
            return "match(%s, %s)"
        return "match(%s, concat('(?i)', %s))"

    def lookup_cast(self, lookup_type, internal_type=None):
        lhs = "%s"
        if lookup_type in ("contains", "icontains", "startswith", "istartswith",
                           "endswith", "iendswith", "iexact", "regex", "iregex") \
                and internal_type not in _STRING_TYPES:
            lhs = "toString(%s)"
        if lookup_type in ("iexact", "icontains", "istartswith", "iendswith"):
            lhs = "lowerUTF8(%s)" % lhs
        return lhs

    def prep_for_like_query(self, x):
        return str(x).replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")

    def prep_for_iexact_query(self, x):
        # iexact compiles to lowerUTF8(lhs) = lowerUTF8(rhs): no LIKE, so
        # nothing to escape.
        return x

    def combine_expression(self, connector, sub_expressions):
        funcs = {"^": "pow", "#": "bitXor", "&": "bitAnd", "|": "bitOr",
                 "<<": "bitShiftLeft", ">>": "bitShiftRight"}
        if connector in funcs:
            return "%s(%s)" % (funcs[connector], ", ".join(sub_expressions))
        return super().combine_expression(connector, sub_expressions)

    def combine_duration_expression(self, connector, sub_expressions):
        # The duration side is already an interval (format_for_duration_arithmetic).
        if connector not in ("+", "-"):
            raise DatabaseError("Invalid connector for timedelta: %s." % connector)
        lhs, rhs = sub_expressions
        return "(%s %s %s)" % (lhs, connector, rhs)

    def conditional_expression_supported_in_where_clause(self, expression):
        return True

    # EXPLAIN settings (ClickHouse 20.6+ documents these); others are refused
    # here with Django's "Unknown options" ValueError.
    explain_options = {"header", "description", "actions", "indexes", "json", "compact",
                       "graph", "optimize", "projections", "sorting", "keep_logical_steps",
                       "run_passes", "dump_passes", "passes", "oneline", "distributed",
                       "input_headers", "column_structure"}

    def explain_query_prefix(self, format=None, **options):
        if not self.connection.features.supports_explaining_query_execution:
            raise NotSupportedError(
                "This backend does not support explaining query execution. EXPLAIN needs "
                "ClickHouse 20.6 or later (server is %s)."
                % ".".join(map(str, self.connection.server_version)))
        kind = options.pop("type", None)
        settings_ = {k: options.pop(k) for k in list(options) if k.lower() in self.explain_options}
        # Format and unknown options: Django's checks and messages.
        super().explain_query_prefix(format, **options)
        prefix = self.explain_prefix
        if kind:
            kind = str(kind).upper()
            if kind not in ("AST", "SYNTAX", "QUERY TREE", "PLAN", "PIPELINE",
                            "ESTIMATE", "TABLE OVERRIDE"):
                raise ValueError("Unknown EXPLAIN type %r." % kind)
            prefix += " " + kind
        if settings_:
            prefix += " " + ", ".join(
                "%s = %s" % (k.lower(), quote_literal(int(v) if isinstance(v, bool) else v))
                for k, v in sorted(settings_.items()))
        return prefix

    def settings_sql(self, settings_dict):
        if not settings_dict:
            return ""
        return "SETTINGS " + ", ".join(
            "%s = %s" % (name, quote_literal(int(v) if isinstance(v, bool) else v))
            for name, v in settings_dict.items())

    # ---- dates and times ----------------------------------------------------

    def _tz(self, sql, tzname):
        """The wall time of `sql` in `tzname` (as a DateTime whose fields are
        that wall time)."""
        if not (tzname and settings.USE_TZ):
            return sql
        offset = _fixed_offset(tzname)
        if offset is not None and offset % 3600:
            # A fixed offset with minutes (UTC-04:43) has no zone name: shift
            # the UTC wall time by the offset instead.
            return "addSeconds(toTimeZone(%s, 'UTC'), %d)" % (sql, offset)
        return "toTimeZone(%s, %s)" % (sql, quote_literal(_zone_name(tzname)))

    # EXTRACT(... FROM ...) where ClickHouse has it (every version); the other
    # parts are ClickHouse functions.
    _EXTRACT_STANDARD = {"year": "YEAR", "month": "MONTH", "day": "DAY", "hour": "HOUR",
                         "minute": "MINUTE", "second": "SECOND"}

    def _extract(self, lookup_type, sql):
        funcs = {
            "iso_year": "toISOYear", "quarter": "toQuarter", "week": "toISOWeek",
            "iso_week_day": "toDayOfWeek",
        }
        if lookup_type == "week_day":
            # Django: 1 = Sunday ... 7 = Saturday; ClickHouse: 1 = Monday.
            return "(modulo(toDayOfWeek(%s), 7) + 1)" % sql
        if lookup_type in self._EXTRACT_STANDARD:
            return "EXTRACT(%s FROM %s)" % (self._EXTRACT_STANDARD[lookup_type], sql)
        if lookup_type in funcs:
            return "%s(%s)" % (funcs[lookup_type], sql)
        raise InvalidLookupType("Invalid lookup type: %r" % lookup_type)

    def date_extract_sql(self, lookup_type, sql, params):
        return self._extract(lookup_type, sql), params

    def datetime_extract_sql(self, lookup_type, sql, params, tzname):
        return self._extract(lookup_type, self._tz(sql, tzname)), params

    def time_extract_sql(self, lookup_type, sql, params):
        # Times are 'HH:MM:SS[.ffffff]' strings: read the digits (no parsing
        # into a DateTime, which fails on the '' that NULLs hold before 20.x).
        offsets = {"hour": 1, "minute": 4, "second": 7}
        if lookup_type not in offsets:
            raise InvalidLookupType("Invalid lookup type: %r" % lookup_type)
        return "toUInt8OrZero(substring(%s, %d, 2))" % (sql, offsets[lookup_type]), params

    def _trunc(self, lookup_type, sql):
        funcs = {
            "year": "toStartOfYear", "quarter": "toStartOfQuarter",
            "month": "toStartOfMonth", "week": "toMonday", "day": "toDate",
            "hour": "toStartOfHour", "minute": "toStartOfMinute",
            "second": "toStartOfSecond",
        }
        if lookup_type not in funcs:
            # Django passes the kind unchecked (test_trunc_lookup_name_sql_injection).
            raise InvalidLookupType("Invalid lookup type: %r" % lookup_type)
        if lookup_type == "day":
            return self._to_date(sql)
        if lookup_type == "second":
            # toStartOfSecond is DateTime64-only; DateTime has no sub-seconds.
            if self.connection.features.supports_datetime64:
                return "toStartOfSecond(toDateTime64(%s, 6))" % sql
            return "toDateTime(%s)" % sql
        return "%s(%s)" % (funcs[lookup_type], sql)

    def date_trunc_sql(self, lookup_type, sql, params, tzname=None):
        # tzname is given when a datetime is truncated to a DateField.
        return self._trunc(lookup_type, self._tz(sql, tzname)), params

    def datetime_trunc_sql(self, lookup_type, sql, params, tzname):
        # Django expects the truncated *wall time* of the time zone, as a
        # naive value it then makes aware in that zone: the result is the
        # local wall time in a 'UTC' column (the converters read it as UTC).
        inner = self._tz(sql, tzname)
        out = self._trunc(lookup_type, inner)
        if lookup_type in ("year", "quarter", "month", "week", "day"):
            return "toDateTime(%s, 'UTC')" % out, params  # a Date: midnight
        if lookup_type == "second" and self.connection.features.supports_datetime64:
            return "toDateTime64(toString(%s), 6, 'UTC')" % out, params
        return "toDateTime(toString(%s), 'UTC')" % out, params

    def _to_date(self, sql):
        """The date of a Date/DateTime/DateTime64 `sql`. toDate() returns a
        Date (1970-2149) and wraps a DateTime64 outside it (1945 -> 2124):
        where the server has Date32 (21.9+, the DateField column type there),
        toDate32() keeps the whole 1900-2299 range."""
        if self.connection.features.supports_date32:
            return "toDate32(%s)" % sql
        return "toDate(%s)" % sql

    def datetime_cast_date_sql(self, sql, params, tzname):
        return self._to_date(self._tz(sql, tzname)), params

    # Times are 'HH:MM:SS[.ffffff]' strings, as Python's time.isoformat()
    # writes them (no fraction when it is zero), cut from toString() rather
    # than formatDateTime(), whose %M became the month name in ClickHouse 23.x.
    _TIME_OF = r"replaceRegexpAll(toString(%s), '^[^ ]* |\\.0+$', '')"

    def datetime_cast_time_sql(self, sql, params, tzname):
        return self._TIME_OF % self._tz(sql, tzname), params

    def time_trunc_sql(self, lookup_type, sql, params, tzname=None):
        templates = {"hour": "concat(substring(%s, 1, 2), ':00:00')",
                     "minute": "concat(substring(%s, 1, 5), ':00')",
                     "second": "substring(%s, 1, 8)"}
        if lookup_type not in templates:
            raise InvalidLookupType("Invalid lookup type: %r" % lookup_type)
        # The source is a time string, or a datetime (TruncHour(datetime,
        # output_field=TimeField())): its time part, in the time zone.
        time = self._TIME_OF % self._tz(sql, tzname)
        return templates[lookup_type] % time, params

    def subtract_temporals(self, internal_type, lhs, rhs):
        """A DurationField value (Int64 microseconds) from two dates/datetimes."""
        (lhs_sql, lhs_params), (rhs_sql, rhs_params) = lhs, rhs
        if internal_type == "TimeField":  # 'HH:MM:SS[.ffffff]' strings
            if self.connection.features.supports_datetime64:
                lhs_sql, rhs_sql = ("toDateTime64(concat('1970-01-01 ', %s), 6, 'UTC')" % x
                                    for x in (lhs_sql, rhs_sql))
            else:
                lhs_sql, rhs_sql = ("toDateTime(concat('1970-01-01 ', substring(%s, 1, 8)), "
                                    "'UTC')" % x for x in (lhs_sql, rhs_sql))
        if internal_type in ("DateField", "ClickhouseDateField", "Date32Field"):
            sql = "((toInt64(%s) - toInt64(%s)) * 86400000000)" % (
                self._to_date("%s"), self._to_date("%s"))
        elif self.connection.features.supports_datetime64:
            sql = "(toUnixTimestamp64Micro(toDateTime64(%s, 6)) - " \
                  "toUnixTimestamp64Micro(toDateTime64(%s, 6)))"
        else:
            sql = "((toInt64(toDateTime(%s)) - toInt64(toDateTime(%s))) * 1000000)"
        return sql % (lhs_sql, rhs_sql), (*lhs_params, *rhs_params)

    def format_for_duration_arithmetic(self, sql):
        if self.connection.features.supports_subsecond_intervals:
            return "toIntervalMicrosecond(%s)" % sql
        return "toIntervalSecond(intDiv(%s, 1000000))" % sql

    # ---- values -------------------------------------------------------------

    def adapt_datefield_value(self, value):
        return value

    def adapt_datetimefield_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if timezone.is_aware(value):
            if not settings.USE_TZ:
                raise ValueError(
                    "ClickHouse backend does not support timezone-aware datetimes "
                    "when USE_TZ is False.")
            # DateTimeField columns are DateTime('UTC')/DateTime64(6, 'UTC'): a naive UTC
            # literal is exact, and stays on the server's fast VALUES parser (18.16
            # fails on long INSERTs of toDateTime(...) expressions)
            value = timezone.make_naive(value, datetime.timezone.utc)
        # Microseconds stay: a write to a whole-second column refuses them
        # (check_write_range), a lookup rounds its bound (datetime_lookups).
        return value

    def year_lookup_bounds_for_datetime_field(self, value, iso_year=False):
        first, last = super().year_lookup_bounds_for_datetime_field(value, iso_year)
        if not self.connection.features.keeps_subsecond_datetimes and last.microsecond:
            # BETWEEN ... 23:59:59.999999 of a whole-second column: its last second
            last = last.replace(microsecond=0)
        return [first, last]

    def adapt_timefield_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if timezone.is_aware(value):
            raise ValueError("ClickHouse backend does not support timezone-aware times.")
        return value.isoformat()

    def adapt_decimalfield_value(self, value, max_digits=None, decimal_places=None):
        return value

    def adapt_ipaddressfield_value(self, value):
        return value or None

    def integer_type_for(self, value):
        """The narrowest ClickHouse integer type (from Int64 up) that holds
        ``value`` exactly; DataError when none does on this server."""
        for name, lo, hi in _FREE_INT_TYPES:
            if lo <= value <= hi:
                if not name.endswith("64") and not self.connection.features.supports_big_ints:
                    raise DataError(
                        "%d does not fit in 64 bits: %s needs ClickHouse 21.6 or later "
                        "(server is %s)." % (value, name, ".".join(
                            map(str, self.connection.server_version))))
                return name
        raise DataError("%d is out of range for every ClickHouse integer type "
                        "(Int256/UInt256)." % value)

    def _date_bounds(self, field):
        """(min, max) that the field's Date/Date32/DateTime/DateTime64 column
        stores exactly (naive UTC for date-times), None for other columns.
        Outside them ClickHouse stores another value without an error
        (1969-12-31 in a Date is 1970-01-01, 2150-01-01 is 2149-06-06; on
        18.16 anything outside 1970-2105 is 1970-01-01)."""
        if field.get_internal_type() not in _TEMPORAL_KINDS:
            return None
        try:
            db_type = field.db_type(self.connection) or ""
        except Exception:  # a field that needs arguments it lacks
            return None
        db_type = re.sub(r"^(?:LowCardinality|Nullable)\((.*)\)$", r"\1", db_type)
        features = self.connection.features
        if db_type.startswith(("Date32", "DateTime64")):
            lo, hi = datetime.date(1900, 1, 1), datetime.date(2299, 12, 31)
        elif features.date_lut_ends_2105:
            lo, hi = datetime.date(1970, 1, 1), datetime.date(2105, 12, 31)
        elif db_type.startswith("DateTime"):
            return (datetime.datetime(1970, 1, 1),
                    datetime.datetime(2106, 2, 7, 6, 28, 15, 999999))
        elif db_type.startswith("Date"):
            lo, hi = datetime.date(1970, 1, 1), datetime.date(2149, 6, 6)
        else:
            return None
        if db_type.startswith("DateTime"):
            return (datetime.datetime.combine(lo, datetime.time.min),
                    datetime.datetime.combine(hi, datetime.time.max))
        return lo, hi

    def _check_decimal_range(self, values, field, name):
        """A Decimal(P, S) column holds |v| < 10**(P - S): ClickHouse would
        refuse a bigger literal in VALUES but wrap it in a CAST (UPDATE, Case),
        and has no NaN or infinity."""
        digits, places = field.max_digits, field.decimal_places
        if digits is None or places is None:
            return
        limit = decimal.Decimal(10) ** (digits - places)
        found = [v for v in values if isinstance(v, decimal.Decimal)]
        try:
            found = [min(found), max(found)] if found else []
        except decimal.InvalidOperation:  # a NaN: each one
            pass
        for value in found:
            if not value.is_finite() or abs(value) >= limit:
                raise DataError("%s is out of range for %s (Decimal(%d, %d)): |value| < %s."
                                % (value, name or "DecimalField", digits, places, limit))

    def check_write_range(self, values, field, name=None):
        """Refuse written values the field's column cannot store exactly:
        integers outside the column type (check_integer_range), dates and
        date-times outside its range (DataError naming the field and range)."""
        target = field
        while getattr(target, "remote_field", None) is not None and \
                getattr(target, "target_field", None) is not None:
            target = target.target_field
        name = name or getattr(field, "name", None)
        self.check_integer_range(values, target.get_internal_type(), name)
        if target.get_internal_type() == "DecimalField":
            self._check_decimal_range(values, target, name)
            return
        bounds = self._date_bounds(target)
        if bounds is None:
            return
        lo, hi = bounds
        kind = type(lo)
        if kind is datetime.datetime:
            self._check_whole_seconds(values, target, name)
        dates = [v for v in values if isinstance(v, datetime.date)]
        try:
            dates = [min(dates), max(dates)] if dates else []
        except TypeError:  # aware and naive, dates and date-times: each one
            pass
        for value in dates:
            if kind is datetime.datetime:
                if not isinstance(value, datetime.datetime):
                    value = datetime.datetime.combine(value, datetime.time.min)
                elif value.tzinfo is not None:
                    value = value.astimezone(UTC).replace(tzinfo=None)
            elif isinstance(value, datetime.datetime):
                value = value.date()
            if not lo <= value <= hi:
                raise DataError("%s is out of range for %s (%s) [%s, %s]." % (
                    value, name or target.get_internal_type(),
                    target.db_type(self.connection), lo, hi))

    def _check_whole_seconds(self, values, field, name):
        """A DateTime column (not DateTime64) holds whole seconds: ClickHouse
        cuts a value's microseconds (18.16 refuses the text with a cryptic
        "String is too long"). Django's DateTimeField has them from 20.1."""
        if self.connection.features.keeps_subsecond_datetimes and \
                field.get_internal_type() == "DateTimeField":
            return
        db_type = re.sub(r"^(?:LowCardinality|Nullable)\((.*)\)$", r"\1",
                         field.db_type(self.connection) or "")
        if db_type.startswith("DateTime64"):
            return
        for row, value in enumerate(values, 1):
            if isinstance(value, datetime.datetime) and value.microsecond:
                since = type(self.connection.features).keeps_subsecond_datetimes.version
                raise DataError(
                    "%s%s for %s has microseconds, which its column (%s) would drop: "
                    "ClickHouse %s stores whole seconds there; DateTimeField keeps "
                    "microseconds from ClickHouse %s (DateTime64). Write whole seconds "
                    "(value.replace(microsecond=0))." % (
                        value, " (row %d)" % row if len(values) > 1 else "",
                        _field_label(field, name), db_type,
                        ".".join(map(str, self.connection.server_version)),
                        ".".join(map(str, since))))

    def check_integer_range(self, values, internal_type, name=None):
        """Refuse written integers outside the column type (INSERT and UPDATE
        values; the compilers call this on each column). ClickHouse wraps them
        around (-1 into UInt32 is 4294967295); other databases refuse them. A
        negative value in an unsigned column breaks the column's "non-negative"
        rule (IntegrityError, as a CHECK constraint); other overflows are
        DataErrors ("out of range"). Lookups are not checked: a compared value
        out of range matches nothing, as elsewhere (Django's
        IntegerFieldOverflow; `IN` lists of snowflake ids on 32-bit columns)."""
        bounds = _INT_RANGES.get(internal_type)
        if bounds is None:
            return
        ints = [v for v in values if type(v) is int]
        if not ints:
            return
        what = "%s (%s)" % (name, internal_type) if name else internal_type
        for value in (min(ints), max(ints)):
            if not bounds[0] <= value <= bounds[1]:
                if value < 0 and bounds[0] == 0:
                    raise NegativeUnsignedError(
                        "%s cannot hold the negative value %d: out of range [%d, %d]."
                        % (what, value, bounds[0], bounds[1]))
                raise DataError("%d is out of range for %s [%d, %d]."
                                % (value, what, bounds[0], bounds[1]))

    def get_db_converters(self, expression):
        converters = super().get_db_converters(expression)
        internal_type = expression.output_field.get_internal_type()
        if internal_type in ("DateTimeField", "ClickhouseDateTimeField", "DateTime64Field"):
            converters.append(self.convert_datetimefield_value)
        elif internal_type in ("BooleanField", "BoolField", "NullBooleanField"):
            from django.db.models import Avg, Sum
            # Sum/Avg of a boolean keep its output field (Django's rule) but
            # are numbers (a count of true rows, a fraction), not True.
            if not isinstance(expression, (Sum, Avg)):
                converters.append(self.convert_booleanfield_value)
        elif internal_type == "UUIDField":
            converters.append(self.convert_uuidfield_value)
        elif internal_type == "TimeField":
            converters.append(self.convert_timefield_value)
        elif internal_type in ("DateField", "ClickhouseDateField", "Date32Field"):
            converters.append(self.convert_datefield_value)
        elif internal_type in ("GenericIPAddressField", "IPAddressField"):
            converters.append(self.convert_ipfield_value)
        elif internal_type in ("CharField", "TextField", "SlugField", "EmailField",
                               "URLField", "FilePathField", "FileField"):
            converters.append(self.convert_textfield_value)
        elif internal_type == "BinaryField":
            converters.append(self.convert_binaryfield_value)
        elif internal_type == "DecimalField":
            converters.append(self.convert_decimalfield_value)
        return converters

    def convert_decimalfield_value(self, value, expression, connection):
        # Math on Decimals is done in Float64 (pow, fmod, radians...: no
        # Decimal versions): back to Decimal, as the output field says.
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return value
            value = decimal.Decimal(repr(value))
            # Only a column's value is quantized to its decimal_places, as
            # Django's SQLite converter does: an expression keeps its digits
            # (Sum("price", default=Pi()) is pi, not 3.14, when empty).
            places = getattr(expression.output_field, "decimal_places", None)
            if places is not None and isinstance(expression, Col):
                value = value.quantize(decimal.Decimal(1).scaleb(-places),
                                       context=decimal.Context(prec=100))
        return value

    def convert_datetimefield_value(self, value, expression, connection):
        if isinstance(value, datetime.datetime):
            if settings.USE_TZ:
                value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            elif value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
        elif isinstance(value, datetime.date):
            value = datetime.datetime(value.year, value.month, value.day,
                                      tzinfo=UTC if settings.USE_TZ else None)
        return value

    def convert_datefield_value(self, value, expression, connection):
        if isinstance(value, datetime.datetime):
            return value.date()
        return value

    def convert_booleanfield_value(self, value, expression, connection):
        if value is None or isinstance(value, bool):
            return value
        return bool(value)

    def convert_uuidfield_value(self, value, expression, connection):
        if value is not None and not isinstance(value, uuid.UUID):
            value = uuid.UUID(str(value))
        return value

    def convert_timefield_value(self, value, expression, connection):
        if isinstance(value, datetime.datetime):
            return value.time()
        if isinstance(value, str) and value:
            # A datetime cast to a time arrives as 'YYYY-MM-DD HH:MM:SS...'.
            return datetime.time.fromisoformat(value.rsplit(" ", 1)[-1])
        return value

    def convert_ipfield_value(self, value, expression, connection):
        if value is None:
            return value
        if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
            # An IPv6 column stores a written IPv4 address mapped (::ffff:1.1.1.1):
            # read back as written, not as '::ffff:101:101'.
            return str(value.ipv4_mapped)
        return str(value)

    def convert_textfield_value(self, value, expression, connection):
        if isinstance(value, bytes):
            return value.decode("utf-8", "surrogateescape")
        return value

    def convert_binaryfield_value(self, value, expression, connection):
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        return value
