"""Reading a response body inside the call's deadline, counting decoded bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from ...compat.httpx import keep_read_body
from ...errors.httpx_upstream import HttpxResponseTooLarge

# A gzip or brotli chunk can decode to a thousand times its size: fed to the decoder in
# pieces this small, one piece decodes to a few megabytes at most, and the cap stops the
# read before the next.
_ENCODED_PIECE = 4096


async def read_body(response: httpx.Response, request: httpx.Request, limit: int | None) -> None:
    """Read ``response``'s body; raise :class:`HttpxResponseTooLarge` once more than
    ``limit`` bytes, decoded, have arrived (a 1 MB gzip body can decode to 1 GB)."""
    if limit is None:
        await response.aread()
        return
    encoded = "content-encoding" in response.headers
    length = response.headers.get("content-length", "")
    if not encoded and length.isdigit() and int(length) > limit:
        await response.aclose()
        raise _too_large(limit, request)
    if encoded and isinstance(response.stream, httpx.AsyncByteStream):
        response.stream = _Pieces(response.stream)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            await response.aclose()
            raise _too_large(limit, request)
        chunks.append(chunk)
    keep_read_body(response, b"".join(chunks))


def _too_large(limit: int, request: httpx.Request) -> HttpxResponseTooLarge:
    return HttpxResponseTooLarge(
        f"the response is longer than max_response_bytes={limit}", request=request
    )


class _Pieces(httpx.AsyncByteStream):
    """A stream's bytes in pieces of at most ``_ENCODED_PIECE``."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            for start in range(0, len(chunk), _ENCODED_PIECE):
                yield chunk[start : start + _ENCODED_PIECE]

    async def aclose(self) -> None:
        await self._stream.aclose()
