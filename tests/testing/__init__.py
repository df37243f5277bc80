"""Tests of :mod:`flask_guard.testing`, the pytest plugin."""
