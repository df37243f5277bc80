"""The redis client each kind of URL needs, and following a Sentinel failover."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel, SentinelConnectionPool

from .redis_urls import parse_url

Client = redis.Redis | RedisCluster


def client_for(url: str, timeout: float) -> Client | Callable[[], Client]:
    """Return a client for ``url`` with ``timeout`` on every socket, or, for a Cluster, a
    callable that returns one: a cluster client asks its nodes for the slot map as it is
    built, and a Redis down at start must not fail ``init_app``."""
    address = parse_url(url)
    timeouts: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if address.topology == "single":
        return redis.Redis.from_url(url, **timeouts)
    credentials: dict[str, Any] = {
        "username": address.username,
        "password": address.password,
        "ssl": address.tls,
    }
    if address.topology == "sentinel":
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(address.nodes), sentinel_kwargs={**timeouts, "ssl": address.tls}
        )
        primary: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            address.service, db=address.db, **timeouts, **credentials
        )
        return primary
    nodes = [ClusterNode(host, port) for host, port in address.nodes]  # type: ignore[no-untyped-call]
    return lambda: RedisCluster(startup_nodes=nodes, **timeouts, **credentials)


def primary_moved(client: Client) -> bool:
    """Ask Sentinel where the primary of a Sentinel-managed ``client`` is; return whether it
    moved since the client last connected (its idle connections are then dropped, and each
    one in use is dropped when it is given back). False for any other client.

    redis-py finds a new primary only when it opens a connection, and after a failover the
    old primary goes on taking writes until Sentinel demotes it; asking keeps a process
    from writing there meanwhile."""
    pool = getattr(client, "connection_pool", None)
    if not isinstance(pool, SentinelConnectionPool):
        return False
    before = pool.master_address
    after = pool.get_master_address()  # type: ignore[no-untyped-call]
    return before is not None and before != after
