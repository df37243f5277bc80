"""Log lines: one line per error with its ids, and JSON log lines."""

from __future__ import annotations

from .json_lines import JsonFormatter

__all__ = ["JsonFormatter"]
