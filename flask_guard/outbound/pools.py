"""What a session needs below requests: one deadline per call, pools that obey it, and a
bounded cache of per-host objects."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.timeout import Timeout

T = TypeVar("T")

#: The most hosts a session keeps a breaker or a bulkhead for; the least recently used go.
MAX_HOSTS = 1024

# A socket timeout of 0 would mean non-blocking; the smallest wait that still times out.
_MIN_TIMEOUT = 0.001


class OutboundCall:
    """One call through a session, redirects and retries included, and its deadline.

    Its pools give each attempt at most the time left. When the deadline passes,
    :meth:`expire` shuts the connection down so a trickling or hung read ends at once.
    """

    __slots__ = ("attempt_started", "by_client", "cut_reason", "deadline", "expired", "sock")

    def __init__(self, deadline: float, by_client: bool = False) -> None:
        self.deadline = deadline
        #: Whether the deadline is the client's budget, shorter than the call's own limit.
        self.by_client = by_client
        self.expired = False
        #: Why the call was cut short before its deadline, if it was (see :meth:`cut`).
        self.cut_reason: str | None = None
        # The socket of the current attempt. Kept here, not read from the connection: for a
        # body that ends with the connection, http.client drops the connection's reference.
        self.sock: socket.socket | None = None
        self.attempt_started = time.monotonic()

    def left(self) -> float:
        """Return the seconds until the deadline (negative once it passed)."""
        return self.deadline - time.monotonic()

    def expire(self) -> None:
        """Mark the call late and shut down its connection's socket, if it has one."""
        self.expired = True
        sock = self.sock
        if sock is not None:
            # The plain socket's method: SSLSocket.shutdown would drop its SSL object under
            # a read that another thread is still in.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cut(self, reason: str) -> None:
        """End the call now, before its deadline, for ``reason``: as :meth:`expire` does."""
        self.cut_reason = reason
        self.expire()

    def bound(self, timeout: Timeout) -> Timeout:
        """Return ``timeout`` with connect and read limited to the time left."""
        left = max(self.left(), _MIN_TIMEOUT)
        connect, read = timeout.connect_timeout, timeout.read_timeout
        if _within(connect, left) and _within(read, left):
            return timeout  # the common case: a Timeout costs microseconds to build
        return Timeout(connect=_at_most(connect, left), read=_at_most(read, left))


def _within(value: object, limit: float) -> bool:
    return isinstance(value, int | float) and value <= limit


def _at_most(value: object, limit: float) -> float:
    return min(value, limit) if isinstance(value, int | float) else limit


#: The call under way in this thread or task, if any.
CURRENT_CALL: ContextVar[OutboundCall | None] = ContextVar(
    "flask_guard.outbound_call", default=None
)


# urlopen(method, url, body, headers, retries, redirect, assert_same_host, timeout, ...):
# where ``timeout`` falls among the positional arguments after ``url``.
_TIMEOUT_POSITION = 5


def _start_attempt(
    pool: HTTPConnectionPool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Start an attempt of the current call: limit its timeout to the time left; return the
    positional arguments of ``urlopen`` (``kwargs`` is changed in place)."""
    call = CURRENT_CALL.get()
    if call is None:
        return args
    call.sock = None  # the previous attempt's socket may be back in the pool, someone else's
    call.attempt_started = time.monotonic()
    if len(args) > _TIMEOUT_POSITION:
        bounded = call.bound(_as_timeout(pool, args[_TIMEOUT_POSITION]))
        return (*args[:_TIMEOUT_POSITION], bounded, *args[_TIMEOUT_POSITION + 1 :])
    kwargs["timeout"] = call.bound(_as_timeout(pool, kwargs.get("timeout", pool.timeout)))
    return args


def _as_timeout(pool: HTTPConnectionPool, timeout: object) -> Timeout:
    """Return ``timeout`` as urllib3 reads it: a ``Timeout``, seconds or None (no limit);
    anything else is its marker for the pool's own default."""
    if isinstance(timeout, Timeout):
        return timeout
    if timeout is None or isinstance(timeout, int | float):
        return Timeout.from_float(timeout)
    return pool.timeout


def _connected(sock: socket.socket | None) -> None:
    call = CURRENT_CALL.get()
    if call is not None:
        call.sock = sock


class _HandsOverSockets:
    """Tell the current call the socket of each attempt (mixed into urllib3's connections)."""

    sock: socket.socket | None

    def connect(self) -> None:
        """Connect, and hand the socket to the current call."""
        super().connect()  # type: ignore[misc]
        _connected(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Send a request; a connection from the pool hands its socket to the current call."""
        if self.sock is not None:
            _connected(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class DeadlineHTTPConnection(_HandsOverSockets, HTTPConnection):
    """An ``HTTPConnection`` that tells the current call the socket of each attempt."""


class DeadlineHTTPSConnection(_HandsOverSockets, HTTPSConnection):
    """An ``HTTPSConnection`` that tells the current call the socket of each attempt."""


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    """An ``HTTPConnectionPool`` whose attempts stop at the current call's deadline."""

    ConnectionCls: type[HTTPConnection] | type[HTTPSConnection] = DeadlineHTTPConnection

    def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Make one attempt (urllib3 calls this again for each retry), within the time left."""
        args = _start_attempt(self, args, kwargs)
        return super().urlopen(method, url, *args, **kwargs)


class DeadlineHTTPSConnectionPool(DeadlineHTTPConnectionPool, HTTPSConnectionPool):
    """An ``HTTPSConnectionPool`` whose attempts stop at the current call's deadline."""

    ConnectionCls: type[HTTPSConnection] = DeadlineHTTPSConnection


POOL_CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}


class HostCache(Mapping[str, T]):
    """Per-host objects made on first use, at most ``max_hosts`` of them (least recently
    used dropped first), so a session called with many hosts keeps bounded memory."""

    def __init__(self, make: Callable[[str], T], max_hosts: int = MAX_HOSTS) -> None:
        self._make = make
        self._max_hosts = max_hosts
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, host: str) -> T:
        """Return the object for ``host``, making it if needed."""
        items = self._items
        item = items.get(host)
        if item is not None:
            # Dropped meanwhile by another thread: it stays usable for this call.
            with contextlib.suppress(KeyError):
                items.move_to_end(host)
            return item
        with self._lock:
            item = items.get(host)
            if item is None:
                item = items[host] = self._make(host)
                while len(items) > self._max_hosts:
                    items.popitem(last=False)
            return item

    def __getitem__(self, host: str) -> T:
        return self._items[host]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)
