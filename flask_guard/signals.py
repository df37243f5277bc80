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


def send_safely(signal: NamedSignal, sender: object, **kwargs: object) -> None:
    """Send ``signal`` to each receiver in turn, logging (not raising) what a receiver raises."""
    if not signal.receivers:
        return
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **kwargs)
        except Exception:
            _log.exception("A receiver of the %s signal raised; it was skipped", signal.name)
