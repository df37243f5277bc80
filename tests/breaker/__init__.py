"""Tests of :mod:`flask_guard.breaker`."""
