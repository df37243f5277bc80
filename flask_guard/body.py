"""Request bodies a client can craft never crash a request: too deep is malformed JSON."""

from __future__ import annotations

from typing import Any

from flask import Flask

TOO_DEEP_MESSAGE = "JSON nested too deeply"


def install_safe_json(app: Flask) -> None:
    """Make ``app.json.loads`` report JSON nested too deeply as malformed (a ``ValueError``).

    Python's decoder raises :class:`RecursionError` a few thousand levels down (a 6 KB body
    of ``[[[[``). ``request.get_json()`` turns only a ``ValueError`` into a 400, so the
    loader of the app's own JSON provider (a custom one included) is wrapped in place; the
    provider object stays the app's.
    """
    provider = app.json
    loads = provider.loads
    if getattr(loads, "_flask_guard_safe", False):
        return

    def safe_loads(s: str | bytes, **kwargs: Any) -> Any:
        try:
            return loads(s, **kwargs)
        except RecursionError:
            raise ValueError(TOO_DEEP_MESSAGE) from None

    safe_loads._flask_guard_safe = True  # type: ignore[attr-defined]
    provider.loads = safe_loads  # type: ignore[method-assign]
