"""Tell the client, the log and Sentry that an answer is degraded.

A response built from a fallback step, a stale value or a switched-off feature carries one
header, ``X-Degraded``, listing what answered how: ``X-Degraded: recommendations=stale,
prices=default``. Each item is a name the app chose (a fallback chain, a stale cache, a
feature) and the step that answered. The header is added by the guard's WSGI middleware
from what the request noted here, and exposed to CORS like the request and error ids.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from flask import has_request_context, request

#: The response header naming what answered a request in a degraded way.
DEGRADED_HEADER = "X-Degraded"
_ENVIRON_KEY = "flask_guard.degraded"
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def check_name(kind: str, name: object) -> str:
    """Return ``name`` if it can go in the header: 1 to 64 letters, digits or ``_.:-``."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    raise ValueError(
        f"a {kind} name must be 1 to 64 letters, digits or '_.:-' (it is sent to clients "
        f"in the {DEGRADED_HEADER} header), got {name!r}"
    )


def mark_degraded(name: str, step: str, category: str, message: str) -> None:
    """Note in the current request that ``name`` answered from ``step``, and leave a Sentry
    breadcrumb saying so (``message``); outside a request only the breadcrumb is left."""
    if has_request_context():
        marks = request.environ.get(_ENVIRON_KEY)
        if marks is None:
            marks = request.environ[_ENVIRON_KEY] = {}
        marks[name] = step
    if "sentry_sdk" in sys.modules:  # nothing of Sentry is loaded until it is used
        _breadcrumb(name, step, category, message)


def degraded_header(environ: Mapping[str, object]) -> str | None:
    """Return the ``X-Degraded`` value of the request ``environ`` describes, if any."""
    marks = environ.get(_ENVIRON_KEY)
    if not isinstance(marks, dict) or not marks:
        return None
    return ", ".join(f"{name}={step}" for name, step in marks.items())


def _breadcrumb(name: str, step: str, category: str, message: str) -> None:
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        sentry_sdk.add_breadcrumb(
            type="default",
            category=category,
            message=message,
            level="warning",
            timestamp=datetime.now(UTC),
            data={"name": name, "step": step},
        )
