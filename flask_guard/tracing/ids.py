"""Random ids for requests, traces and spans.

Ids, not secrets: they come from a generator of the guard's own, seeded by the system and
again in each forked worker, so an application seeding :mod:`random` cannot make two
workers' ids collide. It costs a tenth of the system call :func:`os.urandom` makes, which on
a busy host is most of what a guarded request adds. (OpenTelemetry's ids come from
:mod:`random` too.)
"""

from __future__ import annotations

import os
import random

_generator = random.Random()
os.register_at_fork(after_in_child=_generator.seed)


def random_hex(digits: int) -> str:
    """Return ``digits`` random lowercase hex digits, never all zero."""
    return f"{_generator.getrandbits(digits * 4) or 1:0{digits}x}"
