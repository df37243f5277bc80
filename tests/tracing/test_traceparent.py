"""The W3C ``traceparent`` and ``tracestate`` rules, on the pure parser and formatter."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import random

import pytest

from flask_guard.tracing.traceparent import (
    MAX_TRACESTATE_MEMBERS,
    TraceParent,
    new_span_id,
    new_trace_id,
    parse_traceparent,
    parse_tracestate,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"


def test_a_valid_version_00_value_gives_its_ids_and_flags() -> None:
    assert parse_traceparent(VALID) == TraceParent(TRACE_ID, PARENT_ID, 1)


def test_formatting_a_parsed_value_gives_it_back() -> None:
    parsed = parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-09")
    assert parsed is not None
    assert parsed.header() == f"00-{TRACE_ID}-{PARENT_ID}-09"
    assert parsed.sampled


def test_unsampled_flags_are_kept() -> None:
    parsed = parse_traceparent(f"00-{TRACE_ID}-{PARENT_ID}-00")
    assert parsed is not None
    assert parsed.flags == 0
    assert not parsed.sampled


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00",
        f"00-{TRACE_ID}-{PARENT_ID}",  # no flags
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID}-{PARENT_ID}-011",
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # hex is lowercase
        f"00-{TRACE_ID}-{PARENT_ID.upper()}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-0A",
        f"0A-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",  # short trace id
        f"00-{TRACE_ID}0-{PARENT_ID}-01",  # long trace id
        f"00-{TRACE_ID}-{PARENT_ID[:-1]}-01",
        f"00-{TRACE_ID}-{PARENT_ID}0-01",
        f"00-{'0' * 32}-{PARENT_ID}-01",  # all-zero ids are invalid
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # version ff is forbidden
        f"00_{TRACE_ID}_{PARENT_ID}_01",
        f"00-{TRACE_ID}-{PARENT_ID}-zz",
        f"00-{TRACE_ID[:31]}g-{PARENT_ID}-01",
        f"01-{TRACE_ID}-{PARENT_ID}-01x",  # a later version's extra fields follow a dash
        "x" * 10_000,
    ],
)
def test_an_invalid_value_is_ignored(value: str) -> None:
    assert parse_traceparent(value) is None


def test_an_absent_header_is_none() -> None:
    assert parse_traceparent(None) is None


def test_a_later_version_is_read_as_far_as_version_00_goes() -> None:
    parsed = parse_traceparent(f"cc-{TRACE_ID}-{PARENT_ID}-09-what-the-future-holds")
    assert parsed == TraceParent(TRACE_ID, PARENT_ID, 1)  # only the sampled bit is known
    assert parse_traceparent(f"01-{TRACE_ID}-{PARENT_ID}-00") == TraceParent(
        TRACE_ID, PARENT_ID, 0
    )


def test_surrounding_blanks_are_tolerated() -> None:
    assert parse_traceparent(f"  {VALID}\t") == TraceParent(TRACE_ID, PARENT_ID, 1)


def test_a_tracestate_is_passed_on_without_its_empty_members() -> None:
    assert parse_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,") == (
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    )


def test_a_multi_tenant_key_is_accepted() -> None:
    assert parse_tracestate("tenant1@vendor=abc") == "tenant1@vendor=abc"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        " , ",
        "Rojo=1",  # keys are lowercase
        "rojo",
        "rojo=",
        "rojo=a=b",
        "rojo=1,rojo=2",  # a key given twice
        "rojo=tab\tinside",
        "rojo=caf\u00e9",
        ",".join(f"k{i}=v" for i in range(MAX_TRACESTATE_MEMBERS + 1)),
    ],
)
def test_a_malformed_tracestate_is_dropped_whole(value: str | None) -> None:
    assert parse_tracestate(value) is None


def test_thirty_two_tracestate_members_are_kept() -> None:
    value = ",".join(f"k{i}=v" for i in range(MAX_TRACESTATE_MEMBERS))
    assert parse_tracestate(value) == value


def test_new_ids_are_lowercase_hex_of_the_right_length_and_differ() -> None:
    trace_ids = {new_trace_id() for _ in range(100)}
    span_ids = {new_span_id() for _ in range(100)}
    assert len(trace_ids) == len(span_ids) == 100
    for trace_id in trace_ids:
        assert parse_traceparent(f"00-{trace_id}-{PARENT_ID}-01") is not None
    for span_id in span_ids:
        assert parse_traceparent(f"00-{TRACE_ID}-{span_id}-01") is not None


def _send_id(queue: multiprocessing.queues.Queue[str]) -> None:
    queue.put(new_trace_id())


def test_forked_workers_make_different_ids_even_when_the_app_seeds_random() -> None:
    random.seed(42)  # an application making its own randomness reproducible
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.queues.Queue[str] = context.Queue()
    workers = [context.Process(target=_send_id, args=(queue,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    ids = {queue.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join()
    assert len(ids) == 2
