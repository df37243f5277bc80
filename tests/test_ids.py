"""Random ids are drawn in blocks, never repeat, and never repeat across a fork."""

from __future__ import annotations

import os
import re

from flask_guard.ids import random_hex


def test_ids_are_hex_of_the_size_asked_and_distinct_across_blocks() -> None:
    drawn = [random_hex(16) for _ in range(1000)]  # 16,000 bytes: several blocks
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in drawn)
    assert len(set(drawn)) == len(drawn)
    assert re.fullmatch(r"[0-9a-f]{16}", random_hex(8))


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    random_hex(16)  # the parent holds a block with bytes left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.write(write, random_hex(16).encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child_id)
    assert child_id != random_hex(16)
