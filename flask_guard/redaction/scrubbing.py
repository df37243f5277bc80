"""Keep secrets out of Sentry: the values of secret names and credentials of known shapes
are replaced whole by ``[Filtered]``, wherever they appear in an event.

:meth:`Scrubber.event` walks a whole event as the SDK is about to send it: the request
(headers, cookies, query string, body at any depth, URL), exception messages, stack frames
(variables and source lines), breadcrumbs, ``extra``, ``contexts``, ``tags``, ``user``
(all but ``id``), the log entry and its parameters, and span descriptions and data;
:meth:`Scrubber.log` does the same for a Sentry log record. Names
are judged by :class:`~flask_guard.redaction.names.SecretNames`; text is filtered by
:mod:`~flask_guard.redaction.text` and :mod:`~flask_guard.redaction.shapes`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .names import SecretNames
from .shapes import FILTERED, filter_shapes, is_card_number
from .text import filter_pairs, parse_json_document

_MAX_DEPTH = 24
_SMALLEST_CARD = 10**12
_PARAMETER = "sentry.message.parameter."
_TEMPLATE = "sentry.message.template"
# A %-style conversion, to be filled by a marker whatever its type (%d, %.2f, %(name)r).
_CONVERSION = re.compile(
    r"%(?P<name>\([^)]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa]"
)
_SOURCE_LINES = frozenset({"pre_context", "context_line", "post_context"})
# Parts of an event that hold no data of the app's: ids, times, the SDK's own description.
_STRUCTURE = frozenset(
    {
        "event_id",
        "timestamp",
        "start_timestamp",
        "platform",
        "level",
        "sdk",
        "modules",
        "release",
        "dist",
        "environment",
        "server_name",
        "type",
        "fingerprint",
        "transaction_info",
        "debug_meta",
        "_meta",
        "logger",
        "measurements",
        "_metrics_summary",
    }
)
# Ids that join events and traces: never mistaken for a card number.
_IDS = frozenset(
    {"event_id", "trace_id", "span_id", "parent_span_id", "segment_id", "profile_id", "id"}
)


class Scrubber(SecretNames):
    """Filter secrets out of text, data and whole Sentry events."""

    def text(self, text: str) -> str:
        """Return ``text`` with secret values and credentials of known shapes filtered."""
        document = parse_json_document(text)
        if document is not None:
            return json.dumps(self.data(document), ensure_ascii=False)
        if self.might_name_a_secret(text):
            text = filter_pairs(text, self.is_sensitive)
        return filter_shapes(text)

    def data(self, value: object, depth: int = 0) -> Any:
        """Return ``value`` with secret keys' values filtered and every string scrubbed."""
        if isinstance(value, str):
            return self.text(value) if len(value) > 3 else value
        if isinstance(value, dict | Mapping):
            if depth >= _MAX_DEPTH:
                return FILTERED  # deeper than Sentry keeps anyway
            # A library's source lines hold none of the app's secrets: not worth the time.
            kept = _SOURCE_LINES if value.get("in_app") is False else ()
            return {
                key: item
                if key in kept
                else FILTERED
                if isinstance(key, str) and self.is_sensitive(key)
                else self.data(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            if depth >= _MAX_DEPTH:
                return FILTERED
            return [self.data(item, depth + 1) for item in value]
        if isinstance(value, int) and value > _SMALLEST_CARD and is_card_number(str(value)):
            return FILTERED
        return value

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Scrub a Sentry event (as ``before_send`` gets it) in place and return it."""
        for key, value in list(event.items()):
            if key in _STRUCTURE or value is None:
                continue
            if key == "user":
                event[key] = _user(value)
            elif key == "logentry" and isinstance(value, dict):
                event[key] = self._logentry(value)
            elif key == "contexts" and isinstance(value, Mapping):
                event[key] = {name: self._context(ctx) for name, ctx in value.items()}
            elif key == "spans" and isinstance(value, list):
                event[key] = [self._context(span) for span in value]
            else:
                event[key] = self.data(value)
        return event

    def _context(self, context: object) -> Any:
        """Scrub a context or a span, keeping the ids that join traces."""
        if not isinstance(context, Mapping):
            return self.data(context)
        return {
            key: item
            if key in _IDS
            else FILTERED
            if self.is_sensitive(key)
            else self.data(item, 1)
            for key, item in context.items()
        }

    def _logentry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Scrub a log entry; a parameter in a secret's place is filtered too
        (``"password=%s"`` with ``["hunter2"]``)."""
        params = entry.get("params")
        if isinstance(params, list | tuple) and params:
            placed = self.parameters(entry.get("message"), dict(enumerate(params)))
            entry["params"] = list(placed.values())
        elif params is not None:
            entry["params"] = self.data(params)
        for key in ("message", "formatted"):
            if isinstance(entry.get(key), str):
                entry[key] = self.text(entry[key])
        return entry

    def log(self, record: dict[str, Any]) -> dict[str, Any]:
        """Scrub a Sentry log record (its body and attributes) in place and return it."""
        attributes = record.get("attributes")
        if isinstance(attributes, dict):
            params = {
                key.removeprefix(_PARAMETER): value
                for key, value in attributes.items()
                if key.startswith(_PARAMETER)
            }
            placed = self.parameters(attributes.get(_TEMPLATE), params) if params else {}
            record["attributes"] = {
                key: placed[key.removeprefix(_PARAMETER)]
                if key.startswith(_PARAMETER)
                else self.data({key: value})[key]
                for key, value in attributes.items()
            }
        if isinstance(record.get("body"), str):
            record["body"] = self.text(record["body"])
        return record

    def parameters(self, template: object, params: Mapping[Any, object]) -> dict[Any, object]:
        """Return ``params`` of a log ``template`` scrubbed, and filtered whole where the
        template puts them in a secret's place; all filtered if the template cannot say."""
        markers = {key: f"PARAM{n}MARK" for n, key in enumerate(params)}
        shown = _fill(template, markers) if isinstance(template, str) else None
        if shown is None:
            return dict.fromkeys(params, FILTERED)
        left = self.text(shown)
        return {
            key: self.data(value) if markers[key] in left else FILTERED
            for key, value in params.items()
        }


def _fill(template: str, markers: dict[Any, str]) -> str | None:
    """Return ``template`` with each parameter replaced by its marker (``%`` style, with
    positional or named parameters, or ``str.format`` style), or None if it cannot be."""
    as_strings = _CONVERSION.sub(lambda m: f"%{m['name'] or ''}s", template)
    positional = all(isinstance(key, int) or str(key).isdigit() for key in markers)
    try:
        if positional and "%" in template:
            return as_strings % tuple(markers.values())
        if "%(" in template:
            return as_strings % {str(key): marker for key, marker in markers.items()}
        if positional:
            return template.format(*markers.values())
        return template.format_map({str(key): marker for key, marker in markers.items()})
    except (TypeError, ValueError, KeyError, IndexError):
        return None


def _user(user: object) -> object:
    """Keep a user's id only: an email, a name or an address identifies a person."""
    if not isinstance(user, Mapping):
        return FILTERED
    return {key: value if key == "id" else FILTERED for key, value in user.items()}


def scrub_names(extra: Iterable[str]) -> None:
    """Filter every name containing one of ``extra`` too (``GUARD_SENTRY_SCRUB_FIELDS``)."""
    SCRUBBER.add(extra)


#: The scrubber of the process: Sentry has one client per process, so one set of names.
SCRUBBER = Scrubber()
