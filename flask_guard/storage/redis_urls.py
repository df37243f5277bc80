"""The Redis URLs ``GUARD_BREAKER_STORAGE`` accepts: one server, a Cluster, or Sentinel.

Parsing needs no redis package, so configuration is checked before anything connects::

    redis://[[user]:password@]host[:port][/db]            one server (rediss:// for TLS,
    unix:///path/to/socket                                 or a socket), as redis-py reads it
    redis+cluster://[[user]:password@]host[:port][,host[:port]...]
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]

``rediss+cluster://`` and ``rediss+sentinel://`` use TLS. Cluster nodes default to port
6379 and need only one reachable node to find the others; Sentinels default to port 26379.
The credentials are those of the Redis servers (Sentinels without a password).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

SINGLE = ("redis", "rediss", "unix")
CLUSTER = ("redis+cluster", "rediss+cluster")
SENTINEL = ("redis+sentinel", "rediss+sentinel")
ALLOWED = (
    '"memory", a redis://, rediss:// or unix:// URL, a redis+cluster:// or '
    "redis+sentinel:// URL (rediss+ for TLS), or a redis.Redis client"
)


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where Redis is, as a URL says."""

    topology: Literal["single", "cluster", "sentinel"]
    url: str = field(repr=False)
    nodes: tuple[tuple[str, int], ...] = ()
    """Cluster nodes or Sentinels to start from."""
    service: str = ""
    """The name Sentinel monitors the primary by."""
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_url(url: str) -> RedisAddress:
    """Return the address ``url`` names; raise ValueError saying what is wrong with it."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in SINGLE:
        return RedisAddress("single", url)
    if scheme not in CLUSTER + SENTINEL:
        raise ValueError(f"must be {ALLOWED}")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError("takes no ?options: pass a redis client for those")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinel = scheme in SENTINEL
    nodes = tuple(_node(host, 26379 if sentinel else 6379) for host in hosts.split(","))
    segments = [unquote(s) for s in parts.path.split("/")[1:] if s]
    if sentinel:
        if not 1 <= len(segments) <= 2:
            raise ValueError("must name the Sentinel service: redis+sentinel://host:26379/name")
        service, db = segments[0], _db(segments[1:])
    else:
        service, db = "", _db(segments)
        if db:
            raise ValueError("must not name a database: a Redis Cluster has only database 0")
    return RedisAddress(
        "sentinel" if sentinel else "cluster",
        url,
        nodes,
        service,
        db,
        tls=scheme.startswith("rediss"),
        username=unquote(username) or None,
        password=unquote(password) if userinfo and password else None,
    )


def redacted(url: str) -> str:
    """Return ``url`` with its password hidden, to show in a message."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if not separator or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{hosts}{slash}{path}"


def _node(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):  # an IPv6 address
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    if not host or (port and not port.isdigit()) or not 0 < int(port or default_port) < 65536:
        raise ValueError(f"has a host that is not host[:port]: {text!r}")
    return host, int(port or default_port)


def _db(segments: list[str]) -> int:
    if not segments:
        return 0
    if len(segments) > 1 or not segments[0].isdigit():
        raise ValueError("has a path that is not a database number")
    return int(segments[0])
