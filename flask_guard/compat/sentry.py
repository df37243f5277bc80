"""sentry-sdk's private API the guard relies on: the answer Sentry gave to each envelope.

The SDK's HTTP transport tells nobody whether an envelope was delivered or rate limited
(a 429 leaves the loss to Sentry's own books). The guard must know, to log the id of every
event that did not reach Sentry and to end a storm once events get through again. From
sentry-sdk 2.57 on, ``HttpTransport._handle_response(response=..., envelope=...)`` is called
on the sending thread with each response; :class:`AnsweredTransport` turns it into the
public hook :meth:`~AnsweredTransport.answered`. Older releases have no such method, which is
why the package requires sentry-sdk 2.57 or later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentry_sdk.transport import HttpTransport

if TYPE_CHECKING:
    from sentry_sdk.envelope import Envelope


class AnsweredTransport(HttpTransport):
    """The SDK's HTTP transport, telling :meth:`answered` what Sentry said to each envelope."""

    def _handle_response(self, response: Any, envelope: Envelope | None) -> None:
        super()._handle_response(response=response, envelope=envelope)
        self.answered(int(response.status), envelope)

    def answered(self, status: int, envelope: Envelope | None) -> None:
        """Called on the sending thread with the HTTP status Sentry answered ``envelope``
        with, after the SDK handled it (rate limits, lost-event records)."""
