"""Graceful degradation: answers that still come when a dependency does not.

- :mod:`.chain`: fallback chains, a primary then alternatives in order;
- :mod:`.stale`: stale-if-error, the last good value while the source fails;
- :mod:`.http_stale`: RFC 5861 ``stale-if-error`` for the guard's session;
- :mod:`.features`: features that switch off with their breakers, or by an operator;
- :mod:`.levels`: the service level they make (full, degraded, minimal);
- :mod:`.marking`: the ``X-Degraded`` header, log lines and Sentry breadcrumbs.

Redis (:mod:`.shared`, :mod:`.forced`) and the CLI (:mod:`.cli`) are loaded only when used.
"""

from __future__ import annotations

from .chain import FallbackChain
from .features import Feature, FeatureState
from .levels import ServiceLevel
from .marking import DEGRADED_HEADER
from .stale import StaleCache

__all__ = [
    "DEGRADED_HEADER",
    "FallbackChain",
    "Feature",
    "FeatureState",
    "ServiceLevel",
    "StaleCache",
]
