"""The fields a caller passes to a log call with ``extra=``, made fit for a JSON line: every
value JSON-safe, and secrets filtered by the rules Sentry events are scrubbed with."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from ..redaction.scrubbing import SCRUBBER
from ..redaction.shapes import FILTERED

# What every record has, and what the JSON line writes under names of its own.
_STANDARD = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "request_id",
        "trace_id",
        "span_id",
        "error_id",
    }
)
_MAX_DEPTH = 12


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """Return the ``extra=`` fields of ``record``: JSON-safe, secrets filtered."""
    fields: dict[str, object] = {}
    for name, value in record.__dict__.items():
        if name not in _STANDARD:
            fields[name] = (
                FILTERED if SCRUBBER.is_sensitive(name) else SCRUBBER.data(_json_safe(value))
            )
    return fields


def _json_safe(value: object, depth: int = 0) -> object:
    """Return ``value`` as what JSON can hold: text for anything else."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return FILTERED
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item, depth + 1) for item in value]
    return str(value)
