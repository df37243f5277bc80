"""The one private attribute of sentry-sdk the guard uses still exists and still means what
it did; when it breaks, the failure names the library, its version and the attribute."""

from __future__ import annotations

import inspect

import sentry_sdk
from sentry_sdk.transport import HttpTransport

from flask_guard.compat.sentry_sdk import SEND_ENVELOPE, wrap_send_envelope


def test_the_http_transport_still_sends_one_envelope_in_a_private_method() -> None:
    send = getattr(HttpTransport, SEND_ENVELOPE, None)
    assert send is not None, (
        f"sentry-sdk {sentry_sdk.VERSION}: HttpTransport.{SEND_ENVELOPE} is gone; "
        "flask_guard.compat.sentry_sdk must learn another way to see events being sent"
    )
    assert list(inspect.signature(send).parameters) == ["self", "envelope"], (
        f"sentry-sdk {sentry_sdk.VERSION}: HttpTransport.{SEND_ENVELOPE} changed its signature"
    )


def test_a_transport_without_one_is_left_alone() -> None:
    class Printing(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope: object) -> None:
            return None

    assert not wrap_send_envelope(Printing(), lambda send: send)
