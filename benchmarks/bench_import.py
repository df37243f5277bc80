"""Import cost of flask_guard and of its pytest plugin against ``import flask``.

Each import runs in a fresh interpreter (``python -c "import ..."``), as a user's app start
or pytest run pays it; the subjects take turns round after round so they share the
machine's noise, and the median of each is compared. The interpreter's own start-up
(``python -c "pass"``) is measured too and shown apart.

Run: ``python benchmarks/bench_import.py`` (``--smoke`` to check it runs).
Goal: ``import flask_guard`` and ``import flask_guard.testing`` each <= 1.3x ``import flask``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _timing import parse_args

SUBJECTS = {
    "python (start-up only)": "pass",
    "import flask": "import flask",
    "import flask_guard": "import flask_guard",
    "import flask_guard.testing": "import flask_guard.testing",
}
PEER = "import flask"


def run_once(code: str) -> float:
    """Return the seconds a fresh interpreter takes to run ``code`` and exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def medians(rounds: int) -> dict[str, float]:
    """Return each subject's median seconds over ``rounds`` interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name in SUBJECTS}
    for _ in range(rounds):
        for name, code in SUBJECTS.items():
            samples[name].append(run_once(code))
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    args = parse_args(__doc__ or "")
    rounds = 2 if args.smoke else 31
    result = medians(rounds)
    start_up = result["python (start-up only)"]
    peer, peer_import = result[PEER], result[PEER] - start_up
    print(f"median of {rounds} fresh processes each, interleaved")
    print(f"{'subject':28} {'process ms':>10} {'ratio':>6} {'import ms':>10} {'ratio':>6}")
    print(f"{'':28} {'(whole process)':>17} {'(minus start-up)':>17}")
    for name, seconds in result.items():
        imported = seconds - start_up
        ratios = (
            f"{seconds / peer:>6.2f} {imported * 1000:>10.1f} {imported / peer_import:>6.2f}"
            if name != "python (start-up only)"
            else f"{'':>6} {'':>10} {'':>6}"
        )
        print(f"{name:28} {seconds * 1000:>10.1f} {ratios}")
    print("ratios are against `import flask`; goal: flask_guard and flask_guard.testing <= 1.3x")


if __name__ == "__main__":
    main()
