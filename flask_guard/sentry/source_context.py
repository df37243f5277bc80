"""Source lines around each frame of an event, read once per file instead of once per event.

The SDK reads a frame's whole source file again for every event (through the module's
loader). In an error storm the same few files are read thousands of times a second. The
guard builds its events without the SDK's source context and adds the same lines from
:mod:`linecache`, which keeps each file once and is told to look again when the file's
size or modification time changes.
"""

from __future__ import annotations

import linecache
from collections.abc import Mapping
from typing import Any

from sentry_sdk.utils import strip_string

_DEFAULT_CONTEXT_LINES = 5


def without_source_context(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return client ``options`` for building an event without reading source files."""
    return {**options, "include_source_context": False}


def add_source_context(event: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Add ``pre_context``, ``context_line`` and ``post_context`` to the event's frames, as
    the SDK would, when the client's options ask for source context."""
    if not options.get("include_source_context", True):
        return
    context_lines = _context_lines(options)
    max_length = options.get("max_value_length")
    checked: set[str] = set()
    for exception in event.get("exception", {}).get("values", ()):
        for frame in (exception.get("stacktrace") or {}).get("frames", ()):
            path, lineno = frame.get("abs_path"), frame.get("lineno")
            if not path or not isinstance(lineno, int) or lineno < 1:
                continue
            if path not in checked:
                linecache.checkcache(path)
                checked.add(path)
            _set_context(frame, linecache.getlines(path), lineno - 1, context_lines, max_length)


def _context_lines(options: Mapping[str, Any]) -> int:
    collection = options.get("data_collection")
    if isinstance(collection, Mapping):
        lines = collection.get("frame_context_lines")
        if isinstance(lines, int) and lines >= 0:
            return lines
    return _DEFAULT_CONTEXT_LINES


def _set_context(
    frame: dict[str, Any], source: list[str], index: int, around: int, max_length: int | None
) -> None:
    if index >= len(source):
        return  # the file changed since the frame ran: no lines rather than wrong ones
    lower, upper = max(0, index - around), min(index + 1 + around, len(source))
    frame["pre_context"] = [_line(line, max_length) for line in source[lower:index]]
    frame["context_line"] = _line(source[index], max_length)
    frame["post_context"] = [_line(line, max_length) for line in source[index + 1 : upper]]


def _line(line: str, max_length: int | None) -> Any:
    return strip_string(line.strip("\r\n"), max_length=max_length)
