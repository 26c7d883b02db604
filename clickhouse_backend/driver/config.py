"""Connection options: DSN parsing, validation, and the static parts of every
HTTP request (URL parameters, headers) computed once per connection."""
import logging
import datetime
import ipaddress
import re
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qsl, unquote, urlsplit

from .exceptions import InterfaceError, ProgrammingError
from . import hosts as _hosts
from .native_insert import INSERT_FORMATS

logger = logging.getLogger("clickhouse_backend.driver")

USER_AGENT = "clickhouse_backend/0.1"


@dataclass
class Options:
    host: str = "localhost"
    port: int = None  # 8123, or 8443 when secure
    database: str = "default"
    user: str = "default"
    password: str = field(default="", repr=False)
    settings: dict = field(default_factory=dict)
    connect_timeout: float = 10.0
    send_receive_timeout: float = 300.0
    query_timeout: float = 0.0
    pool_size: int = 16
    pool_timeout: float = 30.0
    idle_timeout: float = 9.0
    pool_name: str = ""  # connections with different pool names never share a pool
    stream_buffer_bytes: int = 8 * 1024 * 1024
    timezone: object = None
    # DateTime/DateTime64 values as naive UTC datetimes even when the column has a
    # time zone (Django with USE_TZ off); timezone is then unused.
    naive_datetimes: bool = False
    strings_as_bytes: bool = False
    auth: str = "basic"  # or "headers": X-ClickHouse-User / X-ClickHouse-Key
    session_id: str = None
    session_timeout: float = None
    secure: bool = False
    verify: bool = True  # verify the server certificate and name (secure=True)
    ca_certs: str = None  # CA file or directory; default: the system store
    certfile: str = None  # client certificate (mutual TLS)
    keyfile: str = None
    server_hostname: str = None  # name for SNI and verification (e.g. when host is an IP)
    # OpenSSL cipher list for TLS 1.2; TLS_* names restrict the TLS 1.3 suites
    ciphers: str = None
    http2: object = "auto"  # "auto": use h2 when ALPN offers it; True: require it; False: never
    # Response compression: None = on (gzip) for non-loopback hosts; True/"gzip",
    # "deflate", "zstd" (servers >= 21), or False. Large INSERT bodies are compressed too.
    compression: object = None
    # a compressed answer may grow an unfinished block by at most this factor (0 = off)
    max_decompression_ratio: float = 1000.0
    # the largest Native block held while it arrives (a block is decoded only whole,
    # so backpressure cannot bound it); 0 = no limit
    max_block_bytes: int = 1 << 30
    # ClickHouse in-process through chDB: a data directory, or True/":memory:"/"temp"
    # for a throwaway one (clickhouse_backend/driver/embedded.py, docs/embedded.md).
    embedded: object = None
    # A callable given each Progress of every query of the connection (execute's
    # progress= overrides it); asking for progress adds PROGRESS_SETTINGS to the query.
    progress: object = field(default=None, repr=False)
    # Several endpoints (docs/cluster.md): a list of 'h', 'h:p' or (h, p), or
    # "a:8123,b:8123" (host accepts the same); port is their default port.
    hosts: object = None
    load_balancing: str = "random"  # ClickHouse's names: hosts.LOAD_BALANCING
    host_backoff: float = _hosts.HOST_BACKOFF
    host_backoff_max: float = _hosts.HOST_BACKOFF_MAX
    dns_refresh: float = _hosts.DNS_REFRESH  # re-resolve host names this often (s); 0: never
    # executemany INSERTs into Replicated*MergeTree tables may be sent again to another
    # host when no answer came (the server deduplicates the same block): opt-in, for
    # host lists that are replicas of one shard (docs/cluster.md)
    retry_replicated_inserts: bool = False
    # executemany INSERTs: "auto" sends the rows as one typed Native block when every
    # column type and value allows it, else VALUES text; "values": always text;
    # "native": Native or NotSupportedError (driver/native_insert.py, docs/driver.md)
    insert_format: str = "auto"
    health_check: str = None  # active checks: None, "ping", "replicas_status" (hosts.HEALTH_CHECKS)
    health_check_interval: float = _hosts.HEALTH_CHECK_INTERVAL
    max_replica_delay: float = _hosts.MAX_REPLICA_DELAY

    def __post_init__(self):
        if not self.host and not self.hosts:
            raise InterfaceError("host must not be empty")
        self.port = int(self.port) if self.port is not None else (8443 if self.secure else 8123)
        if not 0 < self.port < 65536:
            raise InterfaceError(f"port {self.port} out of range")
        self.endpoints = _hosts.parse_hosts(self.host, self.hosts, self.port)
        self.host, self.port = self.endpoints[0]
        self.lb_policy = _hosts.check_load_balancing(self.load_balancing)
        if self.host_backoff < 0 or self.host_backoff_max < self.host_backoff:
            raise InterfaceError("host_backoff must be >= 0 and host_backoff_max >= host_backoff")
        self.health_check_kind = _hosts.check_health_check(self.health_check)
        if self.health_check_interval <= 0 or self.max_replica_delay < 0:
            raise InterfaceError("health_check_interval must be > 0 and max_replica_delay >= 0")
        if self.dns_refresh < 0:
            raise InterfaceError("dns_refresh must be >= 0 (0: resolve once)")
        if self.insert_format not in INSERT_FORMATS:
            raise InterfaceError(f"insert_format must be one of {', '.join(map(repr, INSERT_FORMATS))}")
        if self.auth not in ("basic", "headers"):
            raise InterfaceError("auth must be 'basic' or 'headers'")
        if self.max_block_bytes < 0:
            raise InterfaceError("max_block_bytes must be >= 0 (0 = no limit)")
        if self.pool_size < 1:
            raise InterfaceError("pool_size must be at least 1")
        if self.http2 not in ("auto", True, False):
            raise InterfaceError("http2 must be 'auto', True or False")
        if self.http2 is True and not self.secure:
            raise InterfaceError("http2=True needs secure=True: HTTP/2 is negotiated through TLS (ALPN)")
        if self.secure and not self.verify:
            logger.warning("TLS certificate verification is disabled for %s:%s (verify=False)", self.host, self.port)
        self.settings = dict(self.settings or {})
        self.tzinfo = False if self.naive_datetimes else _tzinfo(self.timezone)
        self.encoding = _encoding(self.compression, self.host)

    def url_params(self):
        """The URL parameters of every request (the engine encodes them)."""
        params = {"database": self.database, "default_format": "Native"}
        if self.session_id:
            params["session_id"] = self.session_id
            if self.session_timeout:
                params["session_timeout"] = int(self.session_timeout)
        if self.encoding:
            params["enable_http_compression"] = 1
        params.update(encode_settings(self.settings))
        return params

    def headers(self):
        """The headers of every request as (name, value) pairs; credentials travel
        apart (credentials()), so that the engine knows what to keep out of messages."""
        pairs = [("User-Agent", USER_AGENT)]
        if self.encoding:
            pairs.append(("Accept-Encoding", self.encoding))
        return pairs

    def check_credentials(self):
        """user and password travel apart from headers() (Client(user=, password=,
        auth=)); as X-ClickHouse-User/Key they must be valid header values."""
        if self.auth == "headers":
            _check_header_value(self.user)
            _check_header_value(self.password)


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _encoding(compression, host):
    if compression is None:  # worth it over a network, not on loopback
        return None if _is_loopback(host) else "gzip"
    if compression is False:
        return None
    if compression is True:
        return "gzip"
    if compression in ("gzip", "deflate", "zstd"):
        return compression
    raise InterfaceError(f"compression must be None, True, False, 'gzip', 'deflate' or 'zstd', not {compression!r}")


def _check_header_value(value):
    if any(c in value for c in "\r\n\0"):
        raise InterfaceError("user and password must not contain CR, LF or NUL")


def _tzinfo(tz):
    if tz is None or isinstance(tz, datetime.tzinfo):
        return tz
    if isinstance(tz, str):
        if tz.upper() == "UTC":
            return datetime.timezone.utc
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(tz)
        except Exception as e:
            raise InterfaceError(f"unknown timezone {tz!r}: {e}") from None
    raise InterfaceError(f"timezone must be a name or a tzinfo, not {type(tz).__name__}")


def encode_settings(settings):
    out = {}
    for k, v in (settings or {}).items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)):
            raise ProgrammingError(f"invalid setting name {k!r}")
        if isinstance(v, bool):
            v = int(v)
        out[k] = str(v)
    return out


def settings_query(settings):
    """Per-query settings as URL parameters (sent after the connection's)."""
    return encode_settings(settings) if settings else None


_OPTION_NAMES = {f.name for f in fields(Options)}


def parse_dsn(dsn):
    """``clickhouse://user:password@host:port/database?setting=value&pool_size=8``
    (also ``http://``; ``https://``/``clickhouses://`` mean secure). Query
    parameters that are connection options set them; the rest are ClickHouse settings."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("clickhouse", "http", "https", "clickhouses", "ch"):
        raise InterfaceError(f"unsupported DSN scheme {parts.scheme!r}")
    out = {}
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if "," in hostlist:  # several hosts: clickhouse://u:p@a:8123,b:8123/db
        out["hosts"] = hostlist
        parts = parts._replace(netloc=userinfo + at)
    if parts.scheme in ("https", "clickhouses"):
        out["secure"] = True
    if parts.hostname:
        out["host"] = parts.hostname
    if parts.port:
        out["port"] = parts.port
    if parts.username:
        out["user"] = unquote(parts.username)
    if parts.password is not None:
        out["password"] = unquote(parts.password)
    db = parts.path.lstrip("/")
    if db:
        out["database"] = unquote(db)
    settings = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k in _OPTION_NAMES and k not in ("settings", "password"):
            f = next(f for f in fields(Options) if f.name == k)
            if f.type in (int, "int"):
                v = int(v)
            elif f.type in (float, "float"):
                v = float(v)
            elif f.type in (bool, "bool"):
                v = v.lower() in ("1", "true", "yes", "on")
            elif k == "http2" and v.lower() in ("1", "true", "0", "false"):
                v = v.lower() in ("1", "true")
            out[k] = v
        else:
            settings[k] = v
    if settings:
        out["settings"] = settings
    return out


def version_tuple(text):
    """'18.16.1' / '24.3.2.23' (SELECT version()) -> (18, 16, 1) / (24, 3, 2, 23)."""
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _pool_aliases(kwargs):
    """django-clickhouse-backend's connections_min / connections_max (clickhouse-
    driver's pool): the pool grows on demand up to pool_size, so connections_max is
    pool_size and connections_min is checked and accepted."""
    cmax = kwargs.pop("connections_max", None)
    cmin = kwargs.pop("connections_min", None)
    if cmax is not None:
        if kwargs.get("pool_size") is not None and kwargs["pool_size"] != cmax:
            raise InterfaceError("connections_max is pool_size: give one of them")
        kwargs["pool_size"] = int(cmax)
    if cmin is not None and not 0 <= int(cmin) <= kwargs.get("pool_size", Options.pool_size):
        raise InterfaceError("connections_min must be between 0 and connections_max (pool_size)")


def make_options(dsn=None, **kwargs):
    _pool_aliases(kwargs)
    base = parse_dsn(dsn) if dsn else {}
    unknown = set(kwargs) - _OPTION_NAMES
    if unknown:
        raise InterfaceError(f"unknown connection option(s): {', '.join(sorted(unknown))}")
    if "settings" in base and "settings" in kwargs:
        kwargs["settings"] = {**base.pop("settings"), **(kwargs["settings"] or {})}
    base.update({k: v for k, v in kwargs.items() if v is not None or k in ("timezone",)})
    return Options(**base)
