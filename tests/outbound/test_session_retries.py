"""The session's retries fit the call: its wait strategy, Idempotency-Key, one INFO line."""

from __future__ import annotations

import logging
import time

import pytest

from flask_guard import robust_session, waits

from .raw_upstream import raw_upstream, response

OK = response("200 OK", body=b"ok")
BUSY = response("503 Service Unavailable", body=b"busy")


def answers(*raw: bytes):  # type: ignore[no-untyped-def]
    return lambda index, head: raw[min(index, len(raw) - 1)]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_keyed_post_or_patch_is_retried_with_the_same_key(method: str) -> None:
    session = robust_session(backoff_factor=0)
    with raw_upstream(answers(BUSY, BUSY, OK)) as upstream:
        reply = session.request(
            method, upstream.url, json={"amount": 5}, headers={"Idempotency-Key": "charge-41"}
        )
    assert reply.text == "ok"
    assert [upstream.header(i, "Idempotency-Key") for i in range(3)] == ["charge-41"] * 3


def test_a_post_without_a_key_is_sent_once() -> None:
    with raw_upstream(answers(BUSY, OK)) as upstream:
        reply = robust_session(backoff_factor=0).post(upstream.url, json={})
    assert reply.status_code == 503
    assert len(upstream.heads) == 1


def test_idempotent_true_makes_one_key_for_every_attempt() -> None:
    with raw_upstream(answers(BUSY, OK)) as upstream:
        robust_session(backoff_factor=0).post(upstream.url, json={}, idempotent=True)  # type: ignore[call-arg]
    keys = {upstream.header(i, "Idempotency-Key") for i in range(2)}
    assert len(upstream.heads) == 2
    assert len(keys) == 1
    assert None not in keys


def test_a_keyed_post_does_not_make_the_next_unkeyed_one_retried() -> None:
    session = robust_session(backoff_factor=0)
    with raw_upstream(answers(BUSY)) as upstream:
        session.post(upstream.url, headers={"Idempotency-Key": "k1"})
        session.post(upstream.url)
    assert len(upstream.heads) == 4 + 1


def test_the_session_waits_as_its_strategy_says() -> None:
    session = robust_session(retries=2, wait=waits.Fixed(0.3))
    with raw_upstream(answers(BUSY, BUSY, OK)) as upstream:
        started = time.monotonic()
        reply = session.get(upstream.url)
    assert reply.text == "ok"
    assert time.monotonic() - started >= 0.6


def test_each_retry_of_the_session_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, "flask_guard.retry"),
        raw_upstream(answers(BUSY, BUSY, OK)) as upstream,
    ):
        robust_session(backoff_factor=0).get(upstream.url + "/rates?token=s3cret")
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_guard.retry"]
    assert lines == [
        "retrying GET 127.0.0.1: attempt 1 of 4 failed (503), next in 0.00 s",
        "retrying GET 127.0.0.1: attempt 2 of 4 failed (503), next in 0.00 s",
    ]
