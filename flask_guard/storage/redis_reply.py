"""A script's answer, checked: the state a breaker adopts from Redis is one that can be true."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..breaker.policy import CircuitState
from .base import CorruptStateError
from .redis_scripts import MAX_DIGITS

#: A count Redis may hand back; anything larger was not counted by the scripts.
MAX_COUNT = 10**MAX_DIGITS - 1
_REASON = re.compile(r"[a-z_]{0,40}")


@dataclass(frozen=True, slots=True)
class Shared:
    """A breaker's state as a script answered it."""

    state: CircuitState
    epoch: str
    """Names the lineage of the stored state: new when it was lost (expiry, restart)."""
    version: int
    """Bumped by every transition, fleet-wide: within an epoch, a newer version wins."""
    failures: int
    retry_after: float
    """Seconds until a trial is admitted (0 unless open)."""
    forced: bool
    changed: bool
    """Whether the step that returned this state made a transition."""
    admitted: bool
    """For an admission: whether this process may run a trial call."""
    maker: str
    """The origin (process) that made the latest transition."""
    reason: str
    """Why it made it."""
    fleet_failures: int
    fleet_rejections: int


def parse_reply(reply: Any, breaker: str, recovery_ms: int) -> Shared:
    """Return the state in ``reply``; raise :class:`CorruptStateError` for a value that
    cannot be true (the scripts check what they read; this checks what they answered)."""
    try:
        (state, version, failures, remaining_ms, forced, changed, admitted, epoch, maker,
         reason, fleet_failures, fleet_rejections) = reply  # fmt: skip
    except (TypeError, ValueError):
        raise CorruptStateError(breaker, "reply", reply) from None
    state_text = _text(breaker, "s", state)
    if state_text not in ("closed", "open", "half_open"):
        raise CorruptStateError(breaker, "s", state_text)
    reason_text = _text(breaker, "r", reason)
    if not _REASON.fullmatch(reason_text):
        raise CorruptStateError(breaker, "r", reason_text)
    return Shared(
        state=CircuitState(state_text),
        epoch=_text(breaker, "e", epoch),
        version=_count(breaker, "v", version),
        failures=_count(breaker, "f", failures),
        retry_after=_count(breaker, "remaining", remaining_ms, recovery_ms) / 1000,
        forced=bool(_count(breaker, "x", forced, 1)),
        changed=bool(_count(breaker, "changed", changed, 1)),
        admitted=bool(_count(breaker, "admitted", admitted, 1)),
        maker=_text(breaker, "m", maker),
        reason=reason_text,
        fleet_failures=_count(breaker, "n", fleet_failures),
        fleet_rejections=_count(breaker, "j", fleet_rejections),
    )


def _count(breaker: str, field: str, value: object, most: int = MAX_COUNT) -> int:
    """Return ``value`` if it is a whole number from 0 to ``most``."""
    if type(value) is int and 0 <= value <= most:
        return value
    raise CorruptStateError(breaker, field, value)


def _text(breaker: str, field: str, value: object) -> str:
    """Return ``value`` as text if it is short text."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise CorruptStateError(breaker, field, value) from None
    if isinstance(value, str) and len(value) <= 80:
        return value
    raise CorruptStateError(breaker, field, value)
