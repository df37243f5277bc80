"""Keep secrets out of Sentry: anything named like a secret is filtered wherever it appears.

One global event processor scrubs every event before it is sent, whoever started Sentry and
whoever captured the event (the guard, the app, an integration): request headers, cookies,
query string, body and URL; exception messages (a failed call's message holds its URL);
every breadcrumb (log lines, outbound HTTP calls with their
``http.query`` and ``url``); extra data, stack frame variables and span data. Names match
by pattern (``token`` matches ``X-Auth-Token``, ``access_token``, ``refreshToken``), and
``name=value`` pairs, ``"name": "value"`` members and ``Bearer`` credentials inside free text
(a log message, a URL) are filtered too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .names import SecretNames

if TYPE_CHECKING:
    from sentry_sdk._types import Event

FILTERED = "[Filtered]"

_PAIR = re.compile(r"(?P<name>[\w.\-\[\]%]+)(?P<sep>=|%3[dD])(?P<value>[^&\s#;,\"'<>]*)")
_MEMBER = re.compile(
    r"\"(?P<name>[^\"\\]{1,100})\"(?P<sep>\s*:\s*)\"(?P<value>(?:[^\"\\]|\\.)*)\""
)
_CREDENTIAL = re.compile(r"\b(?P<scheme>Bearer|Basic|Token|Digest)\s+[A-Za-z0-9\-._~+/]{6,}=*")
_MAX_DEPTH = 12


class Scrubber(SecretNames):
    """Filter the values of secret names out of Sentry events."""

    def text(self, text: str) -> str:
        """Filter secret ``name=value`` pairs, JSON members and credentials in ``text``."""
        if "=" in text:
            text = _PAIR.sub(self._pair, text)
        if '"' in text:
            text = _MEMBER.sub(self._pair, text)
        if " " in text:
            text = _CREDENTIAL.sub(lambda m: f"{m['scheme']} {FILTERED}", text)
        return text

    def _pair(self, match: re.Match[str]) -> str:
        if not self.is_sensitive(match["name"]):
            return match[0]
        quote = '"' if match[0].startswith('"') else ""
        return f"{quote}{match['name']}{quote}{match['sep']}{quote}{FILTERED}{quote}"

    def data(self, value: object, depth: int = 0) -> Any:
        """Return ``value`` with secret keys' values filtered and strings scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if depth >= _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
            return FILTERED  # deeper than Sentry keeps anyway
        if isinstance(value, Mapping):
            return {
                key: FILTERED
                if isinstance(key, str) and self.is_sensitive(key)
                else self.data(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(item, depth + 1) for item in value]
        return value

    def event(self, sentry_event: Event, hint: object = None) -> Event:
        """Scrub one Sentry event in place (a global event processor) and return it."""
        event = cast(dict[str, Any], sentry_event)
        for key in ("request", "extra", "logentry"):
            if isinstance(event.get(key), Mapping):
                event[key] = self.data(event[key])
        if isinstance(event.get("message"), str):
            event["message"] = self.text(event["message"])
        crumbs = event.get("breadcrumbs")
        values = crumbs.get("values") if isinstance(crumbs, Mapping) else crumbs
        if isinstance(values, list):
            values[:] = [self.data(crumb) for crumb in values]
        for span in event.get("spans") or ():
            if isinstance(span, dict) and isinstance(span.get("data"), Mapping):
                span["data"] = self.data(span["data"])
        exceptions = event.get("exception")
        for value in exceptions.get("values") or () if isinstance(exceptions, Mapping) else ():
            if isinstance(value, dict) and isinstance(value.get("value"), str):
                value["value"] = self.text(value["value"])  # requests puts the URL there
        for frame in _frames(event):
            if isinstance(frame.get("vars"), Mapping):
                frame["vars"] = self.data(frame["vars"])
        return sentry_event


def _frames(event: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    for section in ("exception", "threads"):
        holder = event.get(section)
        for value in (holder.get("values") or ()) if isinstance(holder, Mapping) else ():
            stacktrace = value.get("stacktrace") if isinstance(value, Mapping) else None
            if isinstance(stacktrace, Mapping):
                yield from (f for f in stacktrace.get("frames") or () if isinstance(f, dict))


#: The scrubber of the process: Sentry has one client per process, so one set of names.
SCRUBBER = Scrubber()
_installed = False
_install_lock = threading.Lock()


def install_scrubbing(extra: Iterable[str]) -> None:
    """Scrub every Sentry event of the process, now or once a client starts; add ``extra``
    (``GUARD_SENTRY_SCRUB_FIELDS``) to the name patterns."""
    from sentry_sdk.scope import add_global_event_processor  # JSON log lines scrub without it

    global _installed
    SCRUBBER.add(extra)
    with _install_lock:
        if not _installed:
            add_global_event_processor(SCRUBBER.event)
            _installed = True
