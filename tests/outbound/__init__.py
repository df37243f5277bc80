"""Tests of :mod:`flask_guard.outbound`."""
