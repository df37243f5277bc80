"""Tests of :mod:`flask_guard.errors`."""
