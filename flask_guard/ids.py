"""Random ids (request ids, error ids, trace ids) drawn from ``os.urandom`` in blocks.

Each id is as unpredictable as ``uuid4``: the bytes come from the same source. Reading them
a block at a time saves a system call per id, which on some hosts costs microseconds: a
request makes one id on the happy path, and an error one more.
"""

from __future__ import annotations

import os
import threading

_BLOCK = 4096


class _Pool(threading.local):
    """One block of random bytes per thread, so that no lock is taken."""

    def __init__(self) -> None:
        self.block = b""
        self.offset = 0


_pool = _Pool()


def random_hex(size: int = 16) -> str:
    """Return ``size`` random bytes as ``2 * size`` lowercase hex characters."""
    pool = _pool
    offset = pool.offset
    end = offset + size
    if end > len(pool.block):
        pool.block = os.urandom(_BLOCK)
        offset, end = 0, size
    pool.offset = end
    return pool.block[offset:end].hex()


def _forget_after_fork() -> None:
    # A forked child starts with its parent's block: drawing from it would repeat the
    # parent's ids. Only the forking thread exists in the child, so its pool is the one.
    _pool.block = b""
    _pool.offset = 0


os.register_at_fork(after_in_child=_forget_after_fork)
