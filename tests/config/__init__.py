"""Tests of :mod:`flask_guard.config`."""
