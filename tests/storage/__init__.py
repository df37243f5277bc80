"""Tests of :mod:`flask_guard.storage`."""
