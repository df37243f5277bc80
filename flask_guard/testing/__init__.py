"""pytest plugin for applications that use flask-guard (loaded through the ``pytest11``
entry point when flask-guard is installed).

Fixtures, for a test suite that defines the usual pytest-flask ``app`` fixture:

* ``guard``: the app's :class:`~flask_guard.FlaskGuard`;
* ``force_breaker``: ``with force_breaker("payments"):`` runs the block with the breaker
  forced open (``state="closed"`` to force it closed), and resets it afterwards;
* ``sentry_events``: a Sentry ingest on loopback that the real SDK transport posts to, with
  ``wait_for(error_id)`` returning the event a response's error id names.

Every breaker the app built is reset before each test that uses ``app``, so a breaker one
test opened does not fail the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .servers import RedisServer, SentryIngest, free_port

if TYPE_CHECKING:
    import pytest

__all__ = ["RedisServer", "SentryIngest", "free_port", "pytest_configure"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures (a pytest hook). They live in :mod:`flask_guard.testing.fixtures`
    so that importing this module does not import pytest."""
    from . import fixtures

    if not config.pluginmanager.is_registered(fixtures):
        config.pluginmanager.register(fixtures, "flask_guard.fixtures")
