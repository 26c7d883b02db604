"""Django database backend for ClickHouse (ENGINE "clickhouse_backend.backend")."""
import functools
import logging
import threading
import warnings

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.asyncio import async_unsafe
from django.utils.functional import cached_property

from clickhouse_backend import driver as Database

from .client import DatabaseClient
from .creation import DatabaseCreation
from .debug import ClickHouseCursorDebugWrapper
from .features import DEFAULT_SETTINGS, EMULATED_SETTINGS, DatabaseFeatures
from .introspection import DatabaseIntrospection
from .operations import DatabaseOperations
from .schema import DatabaseSchemaEditor

# Registers the "engine"/"cluster" Meta options before any model is built.
from . import meta as _meta  # noqa: F401
from . import bridge
from . import django_patches


logger = logging.getLogger("django.db.backends.clickhouse")

# OPTIONS accepted here -> name of the driver's connect() keyword (None: consumed
# by the backend itself, never passed on).
OPTION_NAMES = {
    "settings": None,
    "dsn": "dsn",
    "secure": "secure",
    "verify": "verify",
    "ca_certs": "ca_certs",
    "certfile": "certfile",
    "keyfile": "keyfile",
    "server_hostname": "server_hostname",
    "ciphers": "ciphers",
    "connect_timeout": "connect_timeout",
    "send_receive_timeout": "send_receive_timeout",
    "query_timeout": "query_timeout",
    "pool_size": "pool_size",
    "pool_timeout": "pool_timeout",
    "compression": "compression",
    "embedded": "embedded",
    "timezone": "timezone",
    "http2": "http2",
    "idle_timeout": "idle_timeout",
    "stream_buffer_bytes": "stream_buffer_bytes",
    "max_block_bytes": "max_block_bytes",
    "max_decompression_ratio": "max_decompression_ratio",
    "auth": "auth",
    "strings_as_bytes": "strings_as_bytes",
    # several hosts (docs/cluster.md); HOST may also be "a:8123,b:8123"
    "hosts": "hosts",
    "load_balancing": "load_balancing",
    "host_backoff": "host_backoff",
    "host_backoff_max": "host_backoff_max",
    "dns_refresh": "dns_refresh",
    "retry_replicated_inserts": "retry_replicated_inserts",
    "health_check": "health_check",
    "health_check_interval": "health_check_interval",
    "max_replica_delay": "max_replica_delay",
    # clickhouse-client's native-protocol port, for dbshell only.
    "native_port": None,
    # django-clickhouse-backend compatible names.
    "connections_min": None,  # the driver's pool grows on demand
    "connections_max": "pool_size",
    "migration_cluster": None,
    "distributed_migrations": None,
    "fake_transaction": None,
}
TEST_NAMES = {
    "NAME", "CHARSET", "COLLATION", "MIGRATE", "MIRROR", "SERIALIZE",
    "TEMPLATE", "CREATE_DB", "USER", "PASSWORD",
    "DEPENDENCIES",
    "managed", "cluster", "engine", "fake_transaction",
    # The module listing the tests of Django's own suite that fail for
    # ClickHouse reasons (DatabaseFeatures.django_test_skips).
    "django_suite_listing",
}

# Sent with every query unless OPTIONS["settings"] says otherwise.
_server_info_lock = threading.Lock()
# (host, port, user, dsn, embedded) -> (version tuple, frozenset of setting names)
_server_info = {}


def _data_types(features):
    dt = "DateTime64(6, 'UTC')" if features.supports_datetime64 else "DateTime('UTC')"
    date = "Date32" if features.supports_date32 else "Date"
    boolean = "Bool" if features.supports_bool_type else "UInt8"
    ipv4 = "IPv4" if features.supports_ip_types else "String"
    ipv6 = "IPv6" if features.supports_ip_types else "String"
    return {
        # Django built-in fields.  Auto fields hold client-side snowflake ids,
        # which need 63 bits whatever the Django field's nominal size.
        "AutoField": "Int64",
        "BigAutoField": "Int64",
        "SmallAutoField": "Int64",
        "BinaryField": "String",
        "BooleanField": boolean,
        "CharField": "String",
        "DateField": date,
        "DateTimeField": dt,
        "DecimalField": "Decimal(%(max_digits)s, %(decimal_places)s)",
        "DurationField": "Int64",
        "FileField": "String",
        "FilePathField": "String",
        "FloatField": "Float64",
        "IntegerField": "Int32",
        "BigIntegerField": "Int64",
        "IPAddressField": ipv4,
        "GenericIPAddressField": ipv6,
        "JSONField": "String",
        "OneToOneField": None,
        "PositiveBigIntegerField": "UInt64",
        "PositiveIntegerField": "UInt32",
        "PositiveSmallIntegerField": "UInt16",
        "SlugField": "String",
        "SmallIntegerField": "Int16",
        "TextField": "String",
        "TimeField": "String",
        "UUIDField": "UUID",
        # ClickHouse fields (clickhouse_backend.models).
        "Int8Field": "Int8",
        "Int16Field": "Int16",
        "Int32Field": "Int32",
        "Int64Field": "Int64",
        "Int128Field": "Int128",
        "Int256Field": "Int256",
        "UInt8Field": "UInt8",
        "UInt16Field": "UInt16",
        "UInt32Field": "UInt32",
        "UInt64Field": "UInt64",
        "UInt128Field": "UInt128",
        "UInt256Field": "UInt256",
        "Float32Field": "Float32",
        "Float64Field": "Float64",
        "BoolField": boolean,
        "StringField": "String",
        "FixedStringField": "FixedString(%(max_bytes)s)",
        "ClickhouseDateField": "Date",
        "Date32Field": "Date32",
        "ClickhouseDateTimeField": "DateTime('UTC')",
        "DateTime64Field": "DateTime64(%(precision)s, 'UTC')",
        "Enum8Field": "Enum8",
        "Enum16Field": "Enum16",
        "IPv4Field": ipv4,
        "IPv6Field": ipv6,
        "ClickhouseJSONField": "JSON" if features.supports_json_type else "String",
    }


class DatabaseWrapper(BaseDatabaseWrapper):
    vendor = "clickhouse"
    display_name = "ClickHouse"

    # ClickHouse has no ILIKE before 20.6: case-insensitive lookups lower both sides.
    # regex/iregex use ops.regex_lookup (match()); pattern lookups against an
    # expression are compiled by SQLCompiler.compile (no LIKE with a
    # non-constant pattern before 20.x).
    operators = {
        "exact": "= %s",
        "iexact": "= lowerUTF8(%s)",
        "contains": "LIKE %s",
        "icontains": "LIKE lowerUTF8(%s)",
        "gt": "> %s",
        "gte": ">= %s",
        "lt": "< %s",
        "lte": "<= %s",
        "startswith": "LIKE %s",
        "endswith": "LIKE %s",
        "istartswith": "LIKE lowerUTF8(%s)",
        "iendswith": "LIKE lowerUTF8(%s)",
    }
    # Right-hand side is an expression: escape LIKE wildcards server-side.
    pattern_esc = r"replaceRegexpAll({}, '([\\\\_%%])', '\\\\\\1')"
    pattern_ops = {
        "contains": "LIKE concat('%%', {}, '%%')",
        "icontains": "LIKE concat('%%', lowerUTF8({}), '%%')",
        "startswith": "LIKE concat({}, '%%')",
        "istartswith": "LIKE concat(lowerUTF8({}), '%%')",
        "endswith": "LIKE concat('%%', {})",
        "iendswith": "LIKE concat('%%', lowerUTF8({}))",
    }

    Database = Database
    SchemaEditorClass = DatabaseSchemaEditor
    client_class = DatabaseClient
    creation_class = DatabaseCreation
    features_class = DatabaseFeatures
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations

    def __init__(self, settings_dict, alias="default"):
        settings_dict = dict(settings_dict)
        options = settings_dict.get("OPTIONS") or {}
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise ImproperlyConfigured(
                "Unknown OPTIONS for ClickHouse database %r: %s. Valid options: %s."
                % (alias, ", ".join(unknown), ", ".join(sorted(OPTION_NAMES)))
            )
        test = settings_dict.get("TEST") or {}
        unknown = sorted(set(test) - TEST_NAMES)
        if unknown:
            raise ImproperlyConfigured(
                "Unknown TEST keys for ClickHouse database %r: %s. Valid keys: %s."
                % (alias, ", ".join(unknown), ", ".join(sorted(TEST_NAMES)))
            )
        s = options.get("settings") or {}
        if not isinstance(s, dict):
            raise ImproperlyConfigured(
                "OPTIONS['settings'] must be a dict of ClickHouse settings, got %r."
                % type(s).__name__
            )
        super().__init__(settings_dict, alias)
        bridge.install()  # contenttypes' generic relations once that app is loaded
        self.migration_cluster = options.get("migration_cluster")
        self.distributed_migrations = bool(options.get("distributed_migrations"))
        self.fake_transaction = bool(
            options.get("fake_transaction") or test.get("fake_transaction")
            or settings_dict.get("fake_transaction")
        )
        # Settings actually sent (unsupported ones removed) once connected.
        self.effective_settings = None
        self.dropped_settings = {}

    # ---- server information -------------------------------------------------

    def _server_key(self):
        sd = self.settings_dict
        opts = sd.get("OPTIONS") or {}
        return (sd.get("HOST"), sd.get("PORT"), sd.get("USER"), opts.get("dsn"),
                opts.get("embedded"))

    def _load_server_info(self, conn=None):
        key = self._server_key()
        with _server_info_lock:
            info = _server_info.get(key)
        if info is not None:
            return info
        params = self._driver_params(with_settings=False)
        try:
            raw, names = self._query_server_info(params, conn)
        except Database.Error as exc:
            if getattr(exc, "code", None) != 81:  # UNKNOWN_DATABASE
                raise
            # The configured database may not exist yet (test runs, first
            # migrate): ask through the always-present "default" database.
            raw, names = self._query_server_info(dict(params, database="default"))
        version = tuple(int(p) for p in raw.split(".") if p.isdigit())
        info = (version, names)
        with _server_info_lock:
            _server_info[key] = info
        return info

    @staticmethod
    def _query_server_info(params, conn=None):
        if bridge.active():  # the async ORM's first call: awaited on the loop
            return bridge.await_only(_aquery_server_info(params))
        cur = (conn or Database.connect(**params)).cursor()
        try:
            cur.execute("SELECT version()")
            raw = cur.fetchone()[0]
            cur.execute("SELECT name FROM system.settings")
            names = frozenset(r[0] for r in cur.fetchall())
        finally:
            cur.close()
        return raw, names

    @property
    def server_version(self):
        """The server's version as a tuple of ints (cached per server)."""
        override = self.__dict__.get("_server_version_override")
        if override is not None:
            return override
        return self._load_server_info()[0]

    @server_version.setter
    def server_version(self, value):
        # Lets SQL generation be exercised offline (tests, sqlmigrate on a
        # machine without the server).
        self.__dict__["_server_version_override"] = tuple(value) if value else None
        self.__dict__.pop("data_types", None)
        self.features = self.features_class(self)  # version-dependent flags

    def get_database_version(self):
        return self.server_version

    def server_settings(self):
        return self._load_server_info()[1]

    @cached_property
    def data_types(self):
        return _data_types(self.features)

    # ---- connection ---------------------------------------------------------

    def _driver_params(self, with_settings=True):
        sd = self.settings_dict
        options = dict(sd.get("OPTIONS") or {})
        if len(sd.get("NAME") or "") > self.ops.max_name_length():
            raise ImproperlyConfigured(
                "The database name %r is longer than %d characters."
                % (sd["NAME"], self.ops.max_name_length())
            )
        secure = bool(options.get("secure"))
        params = {
            "host": sd.get("HOST") or "localhost",
            "port": int(sd.get("PORT") or (8443 if secure else 8123)),
            "database": sd.get("NAME") or "default",
            "user": sd.get("USER") or "default",
            "password": sd.get("PASSWORD") or "",
        }
        for key, value in options.items():
            target = OPTION_NAMES[key]
            if target is not None:
                params[target] = value
        from django.conf import settings as django_settings
        # USE_TZ off: naive datetimes from every DateTime column, as Django
        # expects of a raw cursor (the ORM's converters make them naive too).
        params["naive_datetimes"] = not django_settings.USE_TZ
        # DATABASES TIME_ZONE (USE_TZ on): the zone of DateTime values without
        # their own (now(), toDateTime(...)), unless OPTIONS gives one.
        if django_settings.USE_TZ and sd.get("TIME_ZONE") and "timezone" not in options:
            params["timezone"] = sd["TIME_ZONE"]
        if with_settings and self.effective_settings:
            params["settings"] = dict(self.effective_settings)
        return params

    def get_connection_params(self):
        return self._driver_params(with_settings=False)

    def _filter_settings(self, requested, known, where):
        """Split requested settings into (kept, dropped) for this server."""
        kept, dropped = {}, {}
        for name, value in requested.items():
            if name in known:
                kept[name] = value
            else:
                dropped[name] = value
        version = ".".join(map(str, self.server_version))
        emulated = sorted(n for n in dropped if n in EMULATED_SETTINGS)
        ignored = sorted(n for n in dropped if n not in EMULATED_SETTINGS)
        if emulated:
            # Behaves as asked: worth a debug line, not a warning.
            logger.debug("ClickHouse %s does not know setting(s) %s given in %s; "
                         "emulated by the backend", version, ", ".join(emulated), where)
        if ignored:
            msg = "ClickHouse %s does not know setting(s) %s given in %s; not sent" % (
                version, ", ".join(ignored), where)
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
            logger.warning(msg)
        return kept, dropped

    def driver_settings(self):
        """The ClickHouse settings sent with every query (the sync and the
        async connections both use this): OPTIONS["settings"] the server
        knows, plus DEFAULT_SETTINGS not overridden there. Sets
        effective_settings/dropped_settings."""
        requested = (self.settings_dict.get("OPTIONS") or {}).get("settings") or {}
        _, known = self._load_server_info()
        kept, dropped = self._filter_settings(
            requested, known, "DATABASES[%r]['OPTIONS']['settings']" % self.alias)
        self.effective_settings, self.dropped_settings = dict(kept), dropped
        for name, value in DEFAULT_SETTINGS.items():
            if name in known and name not in requested:
                kept[name] = value
        return kept

    @async_unsafe
    def get_new_connection(self, conn_params):
        return Database.connect(**conn_params, settings=self.driver_settings())

    def init_connection_state(self):
        # No session state: the HTTP interface is stateless.
        pass

    def make_debug_cursor(self, cursor):
        return ClickHouseCursorDebugWrapper(cursor, self)

    @async_unsafe
    def create_cursor(self, name=None):
        if bridge.active():  # the async ORM: I/O awaited on the driver's AsyncCursor
            return bridge.Cursor(self._async_connection().cursor())
        return self.connection.cursor()

    def _async_connection(self):
        """This wrapper's AsyncConnection (only options: HTTP connections come from
        the process-wide pool shared with the sync path): the same DATABASES entry
        and ClickHouse settings as the sync connection."""
        conn = self.__dict__.get("_chb_async_connection")
        if conn is None:
            conn = bridge.await_only(Database.connect_async(
                **self.get_connection_params(), settings=self.driver_settings()))
            self.__dict__["_chb_async_connection"] = conn
        return conn

    def _set_autocommit(self, autocommit):
        pass

    def _commit(self):
        pass

    def _start_transaction_under_autocommit(self):
        # atomic() enters through here: there is no transaction to begin, so
        # nothing is sent (and no "BEGIN" pseudo-query is logged).
        pass

    def _rollback(self):
        pass

    def _savepoint_allowed(self):
        return False

    def is_usable(self):
        try:
            cur = self.create_cursor()
            try:
                cur.execute("SELECT 1")
                cur.fetchall()
            finally:
                cur.close()
        except Database.Error:
            return False
        return True

    def mutations_sync_requested(self, query_settings=None):
        """The mutations_sync level wanted for this statement (0 = async)."""
        level = 0
        for source in ((self.settings_dict.get("OPTIONS") or {}).get("settings") or {},
                       query_settings or {}):
            if "mutations_sync" in source:
                level = int(source["mutations_sync"])
        return max(level, self.force_mutations_sync)

    # Set (e.g. by the migration recorder) to make every mutation synchronous.
    force_mutations_sync = 0


async def _aquery_server_info(params):
    conn = await Database.connect_async(**params)
    async with conn.cursor() as cur:
        await cur.execute("SELECT version()")
        raw = (await cur.fetchone())[0]
        await cur.execute("SELECT name FROM system.settings")
        names = frozenset(r[0] for r in await cur.fetchall())
    return raw, names


def _let_bridge_through(cls):
    """Django's async_unsafe methods (connect, cursor, commit ...) refuse to run
    with an event loop in the thread; the async ORM's bridge greenlet runs them on
    the loop with its I/O awaited, so it alone is let through."""
    guard = async_unsafe(lambda: None).__code__
    for name in dir(cls):
        guarded = getattr(cls, name, None)
        if getattr(guarded, "__code__", None) is not guard:
            continue
        unguarded = guarded.__wrapped__

        def method(self, *args, _guarded=guarded, _unguarded=unguarded, **kwargs):
            return (_unguarded if bridge.active() else _guarded)(self, *args, **kwargs)

        setattr(cls, name, functools.wraps(guarded)(method))


_let_bridge_through(DatabaseWrapper)
# Every Django class the backend changes, and why: django_patches.py.
django_patches.install()
