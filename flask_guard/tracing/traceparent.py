"""W3C Trace Context headers, parsed and formatted: no I/O, no request globals.

``traceparent`` is ``<version>-<trace id>-<parent id>-<flags>``: 2, 32, 16 and 2 lowercase hex
digits. Version ``ff`` is invalid; version ``00`` has exactly these four fields, a later
version may append more (``-`` then anything), which are ignored. All-zero ids are invalid.
``tracestate`` is a comma-separated list of at most 32 ``key=value`` members, passed on
unchanged; a malformed one is dropped whole (the W3C lets a parser discard it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..ids import random_hex

#: The version this module writes, and the only one whose layout it knows exactly.
VERSION = "00"
#: The ``sampled`` bit of the flags: the caller may have recorded its part of the trace.
SAMPLED = 0x01
#: The most ``tracestate`` list members the W3C allows.
MAX_TRACESTATE_MEMBERS = 32

_LENGTH = 55  # "00-" + 32 + "-" + 16 + "-" + 2
_FIELDS = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE_ID = "0" * 32
_ZERO_PARENT_ID = "0" * 16
_MEMBER = re.compile(
    r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)


@dataclass(frozen=True, slots=True)
class TraceParent:
    """One ``traceparent`` value: a trace id, the sender's span id and the flags."""

    trace_id: str
    parent_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        """Whether the sender may have recorded its part of the trace."""
        return bool(self.flags & SAMPLED)

    def header(self) -> str:
        """Return the value to send, in version ``00``."""
        return f"{VERSION}-{self.trace_id}-{self.parent_id}-{self.flags:02x}"


def parse_traceparent(value: str | None) -> TraceParent | None:
    """Return the :class:`TraceParent` that ``value`` holds, or None if it is not valid.

    A later version is read as far as version ``00`` goes (its flags reduced to ``sampled``,
    the only bit this version defines); what follows its fourth field is ignored.
    """
    if value is None:
        return None
    value = value.strip(" \t")
    if len(value) < _LENGTH:
        return None
    match = _FIELDS.match(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_PARENT_ID:
        return None
    if version == VERSION:
        if len(value) != _LENGTH:
            return None
        return TraceParent(trace_id, parent_id, int(flags, 16))
    if len(value) > _LENGTH and value[_LENGTH] != "-":
        return None
    return TraceParent(trace_id, parent_id, int(flags, 16) & SAMPLED)


def parse_tracestate(value: str | None) -> str | None:
    """Return ``value`` as a ``tracestate`` to pass on (empty members left out), or None
    if it is absent, empty or malformed: a member that is not ``key=value`` by the W3C
    grammar, a key given twice, or more than :data:`MAX_TRACESTATE_MEMBERS` members."""
    if not value:
        return None
    members = [member.strip(" \t") for member in value.split(",")]
    members = [member for member in members if member]
    if not members or len(members) > MAX_TRACESTATE_MEMBERS:
        return None
    keys = set()
    for member in members:
        if _MEMBER.fullmatch(member) is None:
            return None
        keys.add(member.partition("=")[0])
    if len(keys) != len(members):
        return None
    return ",".join(members)


def new_trace_id() -> str:
    """Return a random trace id: 32 lowercase hex digits, never all zero."""
    trace_id = random_hex(16)
    return trace_id if trace_id != _ZERO_TRACE_ID else new_trace_id()


def new_span_id() -> str:
    """Return a random span id: 16 lowercase hex digits, never all zero."""
    span_id = random_hex(8)
    return span_id if span_id != _ZERO_PARENT_ID else new_span_id()
