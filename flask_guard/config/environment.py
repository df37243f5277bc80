"""Say so when a ``GUARD_*`` setting is in the environment, where Flask never reads it.

Flask takes configuration from the environment only when the app asks, and then under the
``FLASK_`` prefix: ``app.config.from_prefixed_env()`` turns ``FLASK_GUARD_LOG_JSON=true`` into
``app.config["GUARD_LOG_JSON"] = True``. A bare ``GUARD_LOG_JSON=true`` is read by nobody;
rather than let it be ignored in silence, :meth:`~flask_guard.FlaskGuard.init_app` logs a
warning naming the variable to set instead.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

from .keys import DEFAULTS

_log = logging.getLogger(__name__)


def unread_variables(config: Mapping[str, object], environ: Mapping[str, str]) -> list[str]:
    """Return the ``GUARD_*`` settings in ``environ`` whose value ``config`` does not hold."""
    return sorted(
        name
        for name, text in environ.items()
        if name in DEFAULTS and config.get(name) not in _readings(text)
    )


def _readings(text: str) -> list[object]:
    """Return the values an app may have read ``text`` as: the text, or it parsed as JSON."""
    try:
        return [text, json.loads(text)]
    except ValueError:
        return [text]


def warn_unread_variables(config: Mapping[str, object]) -> None:
    """Log a warning for each ``GUARD_*`` setting in the environment that ``config`` lacks."""
    for name in unread_variables(config, os.environ):
        _log.warning(
            "The environment variable %s is not read: Flask reads settings from the "
            "environment only through app.config.from_prefixed_env(), as FLASK_%s. Set "
            "FLASK_%s instead (and call app.config.from_prefixed_env() before init_app), or "
            "set app.config[%r].",
            name,
            name,
            name,
            name,
        )
