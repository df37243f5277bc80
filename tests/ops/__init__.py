"""Tests of :mod:`flask_guard.ops`."""
