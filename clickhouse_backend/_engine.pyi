"""Type stubs for the C extension clickhouse_backend._engine (built from ext/*.c)."""
import asyncio
import datetime
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

DEBUG: int

Block = tuple[tuple[str, ...], tuple[str, ...], list[tuple[Any, ...]] | list[list[Any]]]
# columnar 0: rows; 1: a list per column; 2 (NumPy) / 3 (Arrow) / 4 (NumPy, String as
# StringDType through np_strings_pack): each column as buffers,
# ('b', bytes) | ('s', data, offsets) | ('S', native, n) (mode 4: String as its wire bytes)
# | ('n', nullmap, inner) | ('l', dictionary, indexes, width) | ('a', ndarray) | ('o', list)
# -- see clickhouse_backend/driver/columnar.py
Columnar = Literal[0, 1, 2, 3, 4] | bool

Http2Mode = int
HTTP2_OFF: Http2Mode  # never (plain HTTP/1.1)
HTTP2_AUTO: Http2Mode  # h2 when the server offers it through ALPN
HTTP2_REQUIRED: Http2Mode  # fail unless ALPN chooses h2

def set_exceptions(classes: Mapping[str, type[Exception]],
                   factory: Callable[[str, int, str, int, str], Exception]) -> None: ...

# -- engine -----------------------------------------------------------------
class Notifier:
    """Wakes one asyncio loop from the engine thread (an eventfd)."""
    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def dispatch(self) -> int: ...

class Stream:
    """The response of one query, decoded block by block."""
    @property
    def query_id(self) -> str: ...
    @property
    def http_status(self) -> int | None: ...
    @property
    def summary(self) -> str | None: ...
    @property
    def server_query_id(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def content_encoding(self) -> Literal["gzip", "zstd", "identity"] | None: ...
    @property
    def state(self) -> Literal["new", "wait_pool", "connecting", "sending", "await_headers", "streaming",
                               "paused", "done", "failed", "cancelled"]: ...
    @property
    def raw(self) -> bytes | None: ...
    columnar: int
    """How the next blocks are decoded (settable between blocks)."""
    def redecode(self) -> Block | None:
        """The last block handed out, decoded again in the current `columnar` mode."""
    @property
    def progress(self) -> str | None:
        """The latest X-ClickHouse-Progress (JSON text)."""
    @property
    def progress_seq(self) -> int:
        """How many X-ClickHouse-Progress headers arrived."""
    def next_block(self) -> Block | None: ...
    def next_block_progress(self, callback: Callable[[str], object]) -> Block | None:
        """next_block(), calling callback(progress JSON text) on this thread with each newer update."""
    def poll(self) -> Block | None | Literal[False]: ...
    def arm(self, fut: asyncio.Future[None]) -> None: ...
    def close(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def attempt(self) -> int:
        """How often the read had moved to another host when the last block was taken."""
    def deliver(self) -> bool:
        """Rows are about to reach the caller: the read stays on its host from now on.
        False if it moved since the last block taken (those blocks are stale)."""

# Client(load_balancing=): ClickHouse's policy names (driver/hosts.py LOAD_BALANCING)
LoadBalancing = int
LB_RANDOM: LoadBalancing
LB_IN_ORDER: LoadBalancing
LB_FIRST_OR_RANDOM: LoadBalancing
LB_ROUND_ROBIN: LoadBalancing
LB_NEAREST_HOSTNAME: LoadBalancing
# Client(health_check=): active checks of each host (driver/hosts.py HEALTH_CHECKS)
HealthCheck = int
CHECK_NONE: HealthCheck
CHECK_PING: HealthCheck  # GET /ping
CHECK_REPLICAS_STATUS: HealthCheck  # GET /replicas_status?verbose=1

AuthMode = int
AUTH_NONE: AuthMode  # no credentials
AUTH_BASIC: AuthMode  # Authorization: Basic
AUTH_HEADERS: AuthMode  # X-ClickHouse-User / X-ClickHouse-Key

# URL parameters: a dict or (name, value) pairs; values str, int or float (bool as 0/1)
Params = Mapping[str, str | int | float] | Sequence[tuple[str, str | int | float]]
# headers: (name, value) pairs, written as given (no CR/LF; no colon or blank in a name)
Headers = Sequence[tuple[str, str]]

class Client:
    """One HTTP endpoint with its credentials; requests share the endpoint's pool."""
    # pool_size, the timeouts, http2, the host options (and request()'s buffer_limit, max_ratio and
    # max_block_bytes) have no default here: the driver passes the ones of
    # clickhouse_backend.driver.config.Options (defined there only); a missing one is a TypeError.
    # The request is passed as parts (params, headers, credentials) and each protocol
    # writes it for the host it is sent to (Host / :authority).
    def __init__(self, host: str, port: int, params: Params | None = None, headers: Headers | None = None, *,
                 user: str = "", password: str = "", auth: AuthMode = ..., pool_size: int,
                 pool_timeout: float, idle_timeout: float, connect_timeout: float,
                 send_receive_timeout: float, pool_name: str = "", secure: bool = False,
                 verify: bool = True, ca_certs: str = "", certfile: str = "", keyfile: str = "",
                 server_hostname: str = "", http2: Http2Mode, ciphers: str = "",
                 alt_hosts: Sequence[tuple[str, int]] | None = None, load_balancing: LoadBalancing,
                 host_backoff: float, host_backoff_max: float, dns_refresh: float,
                 health_check: HealthCheck, health_check_interval: float,
                 max_replica_delay: float) -> None: ...
    def request(self, body: bytes, params: Params | None = None, query_id: str | None = None,
                retryable: bool = False, raw: bool = False, notifier: Notifier | None = None,
                query_timeout: float = 0.0, *, buffer_limit: int, tz: datetime.tzinfo | None | Literal[False] = None,
                strings_as_bytes: bool = False, columnar: Columnar = 0, headers: Headers | None = None,
                max_ratio: float, max_block_bytes: int, progress: bool = False) -> Stream: ...
    def pool_stats(self) -> dict[str, int]: ...
    def host_stats(self) -> list[dict[str, Any]]:
        """Per endpoint: host, port, in_use, idle, waiting, open, requests, failures, failovers,
        peak_open, down_for (seconds still skipped), max_size, addresses, checks, check_failures,
        pings, pings_unanswered (the liveness probe of silent hosts, docs/cluster.md)."""
    def close(self) -> None:
        """Let go of the pool (idempotent; results being read keep it). Later requests raise InterfaceError."""

def engine_stats() -> dict[str, int]:
    """Process-wide: live pools, their open connections, pools lingering unused before they are freed."""

# -- Native format decoder (I/O-free) -----------------------------------------
class NativeDecoder:
    def __init__(self, tz: datetime.tzinfo | None | Literal[False] = None, strings_as_bytes: bool = False,
                 columnar: Columnar = 0) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> None: ...
    def get(self) -> Block | Literal[False]: ...
    def get_raw(self) -> bytes | Literal[False]:
        """The next complete block's bytes, undecoded (for decode_block())."""
    @property
    def buffered(self) -> int: ...

def np_strings_pack(parts: Sequence[tuple[bytes, bytes | int, bytes | None, int]], na: bool,
                    column: str) -> Any:
    """[(native wire bytes, n, null map or None, start row) | (data, n+1 int64 offsets,
    null map or None, start row)] -> one numpy StringDType array (na_object=None when na)
    of each part's rows from its start; InterfaceError naming the column and row for a
    value that is not UTF-8, ValueError for buffers that do not agree."""
    ...

def np_strings_direct(on: bool | None = None) -> bool:
    """Whether np_strings_pack writes short strings and NULLs into their slots itself
    (on after a probe shows NumPy's NpyString_pack lays them out the same); on=False
    turns it off, True back on if the probe passed (for tests)."""
    ...

def decode_block(data: bytes | bytearray | memoryview, tz: datetime.tzinfo | None | Literal[False] = None,
                 strings_as_bytes: bool = False, columnar: Columnar = 0) -> Block: ...
def encode_strings(values: Sequence[str | bytes]) -> bytes:
    """A Native String column (varint length + bytes per value); TypeError(msg, row) for a value
    that is neither str nor bytes."""
def encode_string_buffers(data: bytes | memoryview, offsets: Any) -> bytes:
    """The same from Arrow's layout: value data + n+1 int32 or int64 offsets (a buffer)."""

# -- literals and client-side binding ------------------------------------------
# server_version: None -> a current server; (18, 16, 1) -> that server (an aware datetime
# with microseconds raises NotSupportedError before 20.1: no DateTime64); () -> unknown:
# such a datetime raises ServerVersionNeeded (the cursor then asks the server and retries).
ServerVersion = tuple[int, ...] | None
class ServerVersionNeeded(Exception): ...
def quote(value: Any, *, server_version: ServerVersion = None) -> str: ...
def format_query(query: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                 server_version: ServerVersion = None) -> str: ...
# checks: per column None or (name, type, spec) from driver/typecheck.py column_checks(): a value
# its column would not store exactly raises DataError naming row, column and value.
def format_rows(rows: Iterable[Sequence[Any]], *, server_version: ServerVersion = None,
                checks: Sequence[tuple[str, str, tuple[Any, ...]] | None] | None = None) -> bytes: ...

def native_rows(rows: Sequence[Sequence[Any]],
                columns: Sequence[tuple[str, str, str, bool, int, Any]], *,
                checks: Sequence[tuple[str, str, tuple[Any, ...]] | None] | None = None,
                head: bytes = b"") -> bytes | None: ...

# -- Content-Encoding of request bodies ------------------------------------------
def compress(kind: Literal["gzip", "zstd"], data: bytes, level: int = 0) -> bytes: ...
