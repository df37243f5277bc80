"""Tests of :mod:`flask_guard.web`."""
