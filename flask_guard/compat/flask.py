"""Flask's private API the guard relies on: which error handler Flask would choose.

Flask has no public way to ask "which handler would answer this exception here"; the guard
needs the answer to leave an upstream failure to the app's own 500 handler, and to keep an
:class:`Exception` handler the app registered. ``App._find_error_handler(e, blueprints)``
(Flask 3.0 to 3.2) gives Flask's own answer, blueprints and exception classes included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

ErrorHandler = Callable[[Any], Any]


def error_handler_for(
    app: Flask, error: Exception, blueprints: Iterable[str] = ()
) -> ErrorHandler | None:
    """Return the handler Flask would call for ``error`` in a request of ``blueprints``
    (innermost first), or None when the app registered none for it."""
    handler: ErrorHandler | None = app._find_error_handler(error, list(blueprints))
    return handler
