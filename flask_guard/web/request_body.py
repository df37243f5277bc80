"""Request bodies a client can craft never crash a request: too deep is malformed JSON, and
a body the server cannot read (a broken chunked encoding, an upload the client abandoned, a
body shorter than its ``Content-Length``) is a 400, never a 500 that a breaker would count,
and never reaches the view as if it were whole."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import IO, Any

from flask import Flask
from werkzeug.exceptions import ClientDisconnected, HTTPException

TOO_DEEP_MESSAGE = "JSON nested too deeply"
_READ_BYTES = 64 * 1024
SHORT_BODY_MESSAGE = "The request body ended before the length its Content-Length header gave."


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

    With a ``Content-Length`` (``length``), a body that ends before it is one too: gunicorn's
    reader returns what arrived when the client half-closes, and marks the input terminated
    so werkzeug does not count, so a truncated form or JSON would reach the view as whole.
    """

    __slots__ = ("_left", "_stream")

    def __init__(self, stream: IO[bytes], length: int | None) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int | None = -1) -> bytes:
        left = self._left
        if left is None:
            with _read_by_client():
                return self._stream.read(-1 if size is None else size)
        size = left if size is None or size < 0 else min(size, left)
        parts = []
        got = 0
        with _read_by_client():
            # In bounded reads: a server's reader may allocate what it is asked for, and the
            # length is the client's word. A short read means more is coming or the end.
            while got < size and (part := self._stream.read(min(size - got, _READ_BYTES))):
                parts.append(part)
                got += len(part)
        return self._counted(b"".join(parts), ended=got < size)

    def readline(self, size: int | None = -1) -> bytes:
        left = self._left
        if left is None:
            with _read_by_client():
                return self._stream.readline(-1 if size is None else size)
        size = left if size is None or size < 0 else min(size, left)
        if not size:
            return b""
        with _read_by_client():
            line = self._stream.readline(size)
        return self._counted(line, ended=len(line) < size and not line.endswith(b"\n"))

    def _counted(self, data: bytes, ended: bool) -> bytes:
        """Return ``data``, read from a body with a length; raise if the body ``ended``
        before it (the server met the end of the input first)."""
        if ended:
            raise ClientDisconnected(SHORT_BODY_MESSAGE)
        self._left = max((self._left or 0) - len(data), 0)
        return data

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
    """Make a failure to read this request's body, or a body shorter than its
    ``Content-Length``, a 400 (requests without a body are left be)."""
    chunked = "HTTP_TRANSFER_ENCODING" in environ
    declared = environ.get("CONTENT_LENGTH")
    if declared or chunked:
        stream = environ.get("wsgi.input")
        if stream is not None:
            length = int(declared) if declared and declared.isdigit() and not chunked else None
            environ["wsgi.input"] = _ClientInput(stream, length)
