"""Tests of :mod:`flask_guard.sentry`."""
