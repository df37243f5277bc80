"""Blinker signals sent by flask-guard; subscribe with ``signal.connect(receiver)``.

A receiver that raises is logged and skipped: it never changes the response or the call
that sent the signal.
"""

from __future__ import annotations

import logging

from blinker import NamedSignal, Namespace

_signals = Namespace()
_log = logging.getLogger(__name__)

#: Sent by the app after rendering an error response; kwargs: error, error_id, status.
error_handled = _signals.signal("error-handled")
#: Sent by a breaker after it changed state; kwargs: old, new (CircuitState), reason (str).
breaker_state_changed = _signals.signal("breaker-state-changed")
#: Sent by a breaker when it rejects a call without running it; no kwargs.
breaker_call_rejected = _signals.signal("breaker-call-rejected")
#: Sent by a breaker after a call failed; kwargs: exception, duration (seconds).
breaker_call_failed = _signals.signal("breaker-call-failed")
#: Sent by a breaker after a call succeeded; kwargs: duration (seconds).
breaker_call_succeeded = _signals.signal("breaker-call-succeeded")
#: Sent by a breaker whose shared storage cannot be reached (once per outage), or holds
#: values for it that cannot be true (once, with a CorruptStateError); kwargs: exception.
#: The breaker goes on with its local state meanwhile.
breaker_storage_degraded = _signals.signal("breaker-storage-degraded")
#: Sent by the retried function before waiting to retry; kwargs: attempt (the one that just
#: failed, 1-based), delay (seconds), exception (None when retrying on a result).
retry_attempted = _signals.signal("retry-attempted")
#: Sent by the retried function on giving up; kwargs: attempts, exception (or None).
retry_exhausted = _signals.signal("retry-exhausted")
#: Sent by a bulkhead when it turns a call away because it is full; no kwargs.
bulkhead_rejected = _signals.signal("bulkhead-rejected")
#: Sent by a fallback chain when a step after the primary answered; kwargs: step (its
#: name), failures (the exceptions of the steps before it, in order).
fallback_answered = _signals.signal("fallback-answered")
#: Sent by a fallback chain whose every step failed; kwargs: error (FallbackExhausted).
fallback_exhausted = _signals.signal("fallback-exhausted")
#: Sent by a stale cache answering with a value past its fresh TTL; kwargs: age (seconds),
#: exception (what the source raised, None when an upstream answered 5xx).
stale_served = _signals.signal("stale-served")
#: Sent by a guard's features when one turns off or on; kwargs: feature (name), enabled,
#: reason ("forced", "breaker <name> open", or None when on).
feature_changed = _signals.signal("feature-changed")
#: Sent by a guard's features when the service level changes; kwargs: old, new
#: (ServiceLevel).
service_level_changed = _signals.signal("service-level-changed")


def send_safely(signal: NamedSignal, sender: object, **kwargs: object) -> None:
    """Send ``signal`` to each receiver in turn, logging (not raising) what a receiver raises."""
    if not signal.receivers or signal.is_muted:
        return
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **kwargs)
        except Exception:
            _log.exception("A receiver of the %s signal raised; it was skipped", signal.name)
