"""sentry-sdk's private API, used here only (checked by ``tests/sentry/test_compat.py``).

``HttpTransportCore._send_envelope(envelope)`` (sentry-sdk 2.x, and 1.x before it) sends one
envelope from the transport's worker thread; it returns once Sentry answered or the request
failed, having recorded any loss with the public ``record_lost_event``. Wrapping it is the
one way to learn which queued events were sent, and to stop sending once the client closed.
The asynchronous transport's is a coroutine and is left alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentry_sdk.envelope import Envelope
    from sentry_sdk.transport import Transport

SEND_ENVELOPE = "_send_envelope"

SendEnvelope = Callable[["Envelope"], None]


def wrap_send_envelope(transport: Transport, wrap: Callable[[SendEnvelope], SendEnvelope]) -> bool:
    """Replace ``transport``'s envelope sending with ``wrap(original)``; return whether the
    transport has one to wrap (the SDK's synchronous HTTP transports and their subclasses)."""
    send = getattr(transport, SEND_ENVELOPE, None)
    if send is None or not callable(send) or inspect.iscoroutinefunction(send):
        return False
    setattr(transport, SEND_ENVELOPE, wrap(send))
    return True
