"""Every Sentry client of the process, whoever started it, scrubs last and accounts for its
losses.

The SDK prepares an event in this order: global event processors, the scopes' processors
(``FlaskIntegration`` adds the request body, form and user there), its own ``EventScrubber``,
serialization, then ``before_send`` (``before_send_transaction`` for transactions). Only that
last hook sees what is really sent, so the guard's scrubber is chained into it on each
client: it scrubs, runs the app's own hook (which therefore never sees a secret), and scrubs
again whatever the app's hook returned. A client is taken in hand when the guard starts it,
when ``init_app`` finds one running, and otherwise by a global event processor on its
first event (before the SDK reads ``before_send``): a client the app starts after
``FlaskGuard(app)`` is covered from its first event on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import sentry_sdk
from sentry_sdk.scope import add_global_event_processor

from ..redaction.scrubbing import SCRUBBER
from .delivery import quiet_sentry_retries, watch_transport

if TYPE_CHECKING:
    from sentry_sdk.types import Event

EventHook = Callable[[Any, Any], Any]


class ScrubLast:
    """A ``before_send`` (or ``before_send_transaction``, ``before_send_log``) that scrubs
    what is about to be sent, runs the app's own hook, and scrubs what that returns."""

    def __init__(self, app_hook: EventHook | None, what: Literal["event", "log"]) -> None:
        self.app_hook = app_hook
        # A name, not a bound method: the client's options stay as picklable as they were.
        self._what = what

    def __call__(self, event: Any, hint: Any) -> Any:
        scrub = SCRUBBER.log if self._what == "log" else SCRUBBER.event
        scrubbed = scrub(event)
        if self.app_hook is None:
            return scrubbed
        returned = self.app_hook(scrubbed, hint)
        return None if returned is None else scrub(returned)


def take_in_hand(client: Any) -> None:
    """Make ``client`` scrub what it sends last and account for its losses (once per
    client; again if the app replaced a hook)."""
    if not client.is_active():
        return
    options = client.options
    for name in ("before_send", "before_send_transaction"):
        if not isinstance(options.get(name), ScrubLast):
            options[name] = ScrubLast(options.get(name), "event")
    if not isinstance(options.get("before_send_log"), ScrubLast):
        # Sentry logs (``enable_logs``); older SDKs read the hook from ``_experiments``.
        app_hook = options.get("before_send_log") or (options.get("_experiments") or {}).get(
            "before_send_log"
        )
        options["before_send_log"] = ScrubLast(app_hook, "log")
    watch_transport(client.transport)
    quiet_sentry_retries()


def _take_current_client_in_hand(event: Event, hint: Any) -> Event:
    take_in_hand(sentry_sdk.get_client())
    return event


_watching = False
_watching_lock = threading.Lock()


def watch_clients() -> None:
    """Take in hand the client running now and any the application starts later."""
    global _watching
    take_in_hand(sentry_sdk.get_client())
    with _watching_lock:
        if not _watching:
            add_global_event_processor(_take_current_client_in_hand)
            _watching = True
