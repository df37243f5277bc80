"""Tests of :mod:`flask_guard.resilience`."""
