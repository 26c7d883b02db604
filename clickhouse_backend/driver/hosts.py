"""Several endpoints per connection: parsing ``hosts``/``"a:8123,b:8123"`` and the
load-balancing names. The balancing, health and failover themselves run in the C
pool (ext/hosts.c), for sync and async cursors alike."""
from .. import _engine
from .exceptions import InterfaceError

# Active checks (the engine's CHECK_<NAME> constants): None, GET /ping, GET /replicas_status?verbose=1
# (a host is up when it answers 200 and no replicated table lags more than
# max_replica_delay seconds). Every health_check_interval seconds, on the engine thread.
HEALTH_CHECKS = (None, "ping", "replicas_status")
HEALTH_CHECK_INTERVAL = 5.0
MAX_REPLICA_DELAY = 300.0

# ClickHouse's load_balancing names (the engine's LB_<NAME> constants).
LOAD_BALANCING = ("random", "in_order", "first_or_random", "round_robin", "nearest_hostname")
# A host that failed (connect error, reset, or no answer) is skipped for
# host_backoff * 2**(failures in a row - 1) seconds, at most host_backoff_max, each
# delay jittered to 50..100% so hosts that failed together do not come back together.
HOST_BACKOFF = 1.0
HOST_BACKOFF_MAX = 60.0
# Names are looked up again this often (in the background; connections to addresses
# that left the set are closed once their request ends).
DNS_REFRESH = 60.0


def split_host(text, default_port):
    """'a', 'a:8124', '[::1]:8124', '::1' -> (host, port)."""
    text = text.strip()
    if not text:
        raise InterfaceError("empty host in the host list")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InterfaceError(f"unbalanced '[' in host {text!r}")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise InterfaceError(f"bad host {text!r}")
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:  # a name, an IPv4 address, or a bare IPv6 address
        host, port = text, None
    if port is None or port == "":
        return host, default_port
    try:
        port = int(port)
    except ValueError:
        raise InterfaceError(f"bad port in host {text!r}") from None
    if not 0 < port < 65536:
        raise InterfaceError(f"port {port} out of range in host {text!r}")
    return host, port


def parse_hosts(host, hosts, default_port):
    """The endpoints of a connection: ``hosts`` (a list of 'h', 'h:p' or (h, p), or
    a comma-separated string) if given, else ``host`` (which may itself be
    'a:8123,b:8123'). Ports default to default_port; duplicates are refused."""
    spec = hosts if hosts is not None else host
    if isinstance(spec, str):
        spec = spec.split(",")
    out = []
    for item in spec:
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise InterfaceError(f"a host is 'name', 'name:port' or (name, port), not {item!r}")
            h, p = split_host(str(item[0]), default_port)
            p = int(item[1]) if item[1] is not None else p
            if not 0 < p < 65536:
                raise InterfaceError(f"port {p} out of range")
        elif isinstance(item, str):
            h, p = split_host(item, default_port)
        else:
            raise InterfaceError(f"a host is 'name', 'name:port' or (name, port), not {item!r}")
        if (h, p) in out:
            raise InterfaceError(f"host {h}:{p} is listed twice")
        out.append((h, p))
    if not out:
        raise InterfaceError("host must not be empty")
    if len(out) > 64:
        raise InterfaceError("at most 64 hosts")
    return out


def check_load_balancing(name):
    if name not in LOAD_BALANCING:
        raise InterfaceError(f"load_balancing must be one of {', '.join(LOAD_BALANCING)}, not {name!r}")
    return getattr(_engine, "LB_" + name.upper())


def check_health_check(name):
    if name not in HEALTH_CHECKS:
        raise InterfaceError(f"health_check must be None, 'ping' or 'replicas_status', not {name!r}")
    return getattr(_engine, "CHECK_" + (name or "none").upper())
