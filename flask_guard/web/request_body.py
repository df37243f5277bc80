"""Request bodies a client can craft never crash a request: too deep is malformed JSON, and
a body the server cannot read (a broken chunked encoding, an upload the client abandoned) is
a 400, never a 500 that a breaker would count."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import IO, Any

from flask import Flask
from werkzeug.exceptions import ClientDisconnected, HTTPException

TOO_DEEP_MESSAGE = "JSON nested too deeply"


def install_safe_json(app: Flask) -> None:
    """Make ``app.json.loads`` report JSON nested too deeply as malformed (a ``ValueError``).

    Python's decoder raises :class:`RecursionError` a few thousand levels down (a 6 KB body
    of ``[[[[``). ``request.get_json()`` turns only a ``ValueError`` into a 400, so the
    loader of the app's own JSON provider (a custom one included) is wrapped in place; the
    provider object stays the app's.
    """
    provider = app.json
    loads = provider.loads
    if getattr(loads, "_flask_guard_safe", False):
        return

    def safe_loads(s: str | bytes, **kwargs: Any) -> Any:
        try:
            return loads(s, **kwargs)
        except RecursionError:
            raise ValueError(TOO_DEEP_MESSAGE) from None

    safe_loads._flask_guard_safe = True  # type: ignore[attr-defined]
    provider.loads = safe_loads  # type: ignore[method-assign]


class _ClientInput:
    """A request's ``wsgi.input`` whose read failures are the client's: a 400.

    Servers raise their own exceptions for a body they cannot read: werkzeug's an
    ``OSError("Invalid chunk header")``, gunicorn's ``InvalidChunkSize``,
    ``ChunkMissingTerminator`` or ``NoMoreData``. Each becomes werkzeug's
    :class:`~werkzeug.exceptions.ClientDisconnected` (a ``BadRequest``).
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def read(self, size: int | None = -1) -> bytes:
        with _read_by_client():
            return self._stream.read(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        with _read_by_client():
            return self._stream.readline(-1 if size is None else size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _read_by_client() -> Iterator[None]:
    """Turn a server's failure to read the body into the client's 400."""
    try:
        yield
    except HTTPException:
        raise
    except Exception as error:
        raise ClientDisconnected() from error


def guard_request_body(environ: MutableMapping[str, Any]) -> None:
    """Make a failure to read this request's body a 400 (requests without one are left be)."""
    if environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ:
        stream = environ.get("wsgi.input")
        if stream is not None:
            environ["wsgi.input"] = _ClientInput(stream)
