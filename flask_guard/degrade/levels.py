"""The service level: how much of the app works, in three words.

``full``: every feature is on. ``degraded``: a feature is off. ``minimal``: an essential
feature is off (a shop that can show products but not take orders).
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Collection

from ..signals import send_safely, service_level_changed

_log = logging.getLogger("flask_guard.degrade.features")


class ServiceLevel(enum.Enum):
    """How much of the app works."""

    FULL = "full"
    DEGRADED = "degraded"
    MINIMAL = "minimal"


#: Metric values of the levels.
LEVEL_VALUES = {ServiceLevel.FULL: 0, ServiceLevel.DEGRADED: 1, ServiceLevel.MINIMAL: 2}


def level_of(off: Collection[str], essential: Collection[str]) -> ServiceLevel:
    """Return the level with the features ``off`` switched off."""
    if not off:
        return ServiceLevel.FULL
    if any(name in essential for name in off):
        return ServiceLevel.MINIMAL
    return ServiceLevel.DEGRADED


def announce_level(
    sender: object, old: ServiceLevel | None, new: ServiceLevel, off: Collection[str]
) -> None:
    """Log, signal and tell Sentry that the level went from ``old`` to ``new``.

    The first level a guard finds (``old`` None) is only told to Sentry.
    """
    if old is not None:
        _log.log(
            logging.INFO if new is ServiceLevel.FULL else logging.WARNING,
            "Service level: %s -> %s (features off: %s)",
            old.value,
            new.value,
            ", ".join(sorted(off)) or "none",
        )
        send_safely(service_level_changed, sender, old=old, new=new)
    if "sentry_sdk" in sys.modules:  # nothing of Sentry is loaded until it is used
        import sentry_sdk

        # Every later event of the process carries it, whatever request sends it.
        sentry_sdk.get_global_scope().set_context(
            "service_level", {"level": new.value, "features_off": sorted(off)}
        )
