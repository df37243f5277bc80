"""Shared timing helpers: interleaved rounds, best-of, so peers share the same noise."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping


def parse_args(description: str) -> argparse.Namespace:
    """Parse ``--smoke`` (run briefly to check the script works, not to measure)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="run a few iterations only")
    return parser.parse_args()


def best_per_call(
    subjects: Mapping[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    """Return each subject's best seconds per call over ``rounds`` interleaved rounds."""
    best = dict.fromkeys(subjects, float("inf"))
    for _ in range(rounds):
        for name, subject in subjects.items():
            start = time.perf_counter()
            for _ in range(calls):
                subject()
            elapsed = (time.perf_counter() - start) / calls
            best[name] = min(best[name], elapsed)
    return best
