"""Tests of :mod:`flask_guard.logs`."""
