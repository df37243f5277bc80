"""Refuse ``GUARD_*`` settings changed after :meth:`~flask_guard.FlaskGuard.init_app`.

The guard reads its settings once, at ``init_app``. A factory that loads its config after
``init_app`` (``app.config.from_object(...)`` as the last line), or a test that sets a key on
an app already built, would otherwise run with the values of before, in silence. The first
request compares the keys with what ``init_app`` read and, if one changed, every request
fails with a :class:`~flask_guard.GuardConfigError` naming the key, both values and the fix.
If none changed, the check takes itself out of the app: later requests pay nothing for it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from flask import Flask

from ..errors.exceptions import GuardConfigError

_WATCHED_OUTSIDE_PREFIX = ("SENTRY_DSN",)


def _snapshot(config: Mapping[str, object]) -> dict[str, object]:
    return {
        key: copy.copy(value)
        for key, value in config.items()
        if key.startswith("GUARD_") or key in _WATCHED_OUTSIDE_PREFIX
    }


class ConfigDrift:
    """A ``before_request`` function of one app that checks its settings at the first
    request."""

    def __init__(self, app: Flask) -> None:
        self._read = _snapshot(app.config)
        self._error: GuardConfigError | None = None

    def __call__(self) -> None:
        if self._error is None:
            from flask import current_app

            app = current_app._get_current_object()  # type: ignore[attr-defined]
            self._error = changed_after_init(self._read, _snapshot(app.config))
            if self._error is None:
                # A new list: Flask may be iterating the old one for this very request.
                funcs = app.before_request_funcs
                funcs[None] = [func for func in funcs.get(None, ()) if func is not self]
                return
        raise self._error


def changed_after_init(
    read: Mapping[str, object], now: Mapping[str, object]
) -> GuardConfigError | None:
    """Return the error for the first key whose value differs from what init_app read."""
    for key in sorted(set(read) | set(now)):
        before, after = read.get(key), now.get(key)
        if before is after:
            continue
        try:
            same = bool(before == after)
        except Exception:  # a value without a usable ==: only the same object is unchanged
            same = False
        if not same:
            return GuardConfigError(
                f"{key} was set to {after!r} after FlaskGuard.init_app read {before!r}: set "
                "every GUARD_* key (and SENTRY_DSN) before FlaskGuard(app) or "
                "guard.init_app(app), e.g. load the config first in the app factory"
            )
    return None


def refuse_later_changes(app: Flask) -> None:
    """Make ``app``'s requests fail if a setting changes between ``init_app`` and the first
    request."""
    app.before_request(ConfigDrift(app))
