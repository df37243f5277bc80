"""Error storms: the ids a client got are events in Sentry or log lines saying why not."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sentry_sdk
from flask import Flask
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import HttpTransport
from werkzeug import Response

from flask_guard import FlaskGuard
from flask_guard.testing import SentryIngest

from ..conftest import error_of, make_app, ops_app, serving

ROOT = Path(__file__).parent.parent.parent

LOST_LINE = re.compile(r"Sentry did not get (\w+) event ([0-9a-f]{32}): .* \((\w+)\)$")
IN_FLIGHT_LINE = re.compile(r"Sentry may not have got \w+ event ([0-9a-f]{32}): .*\(in_flight\)$")


class GatedIngest(SentryIngest):
    """An ingest that holds every envelope until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.waiting = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.waiting.release()
        self.gate.wait(20)
        return super().__call__(environ, start_response)


class SlowIngest(SentryIngest):
    """An ingest that takes ``delay`` seconds over every envelope."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        time.sleep(self.delay)  # stands for a slow Sentry, not for synchronisation
        return super().__call__(environ, start_response)


class RateLimitingIngest(SentryIngest):
    """An ingest that answers every envelope 429."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = Response("", status=429, headers={"Retry-After": "60"})
        return response(environ, start_response)


@pytest.fixture
def stop_sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    yield
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def delivery_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="flask_guard.sentry_delivery")
    return caplog


def failing_app(**config: object) -> Flask:
    app = make_app(**config)
    FlaskGuard(app)

    @app.get("/fail/<int:n>")
    def fail(n: int) -> NoReturn:
        raise RuntimeError(f"failure number {n}")

    return app


def error_ids(app: Flask, count: int) -> list[str]:
    client = app.test_client()
    return [str(error_of(client.get(f"/fail/{n}"))["id"]) for n in range(count)]


def lost_ids(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Return {error id: reason} from the lines saying an event was not sent."""
    found = {}
    for record in caplog.records:
        match = LOST_LINE.match(record.getMessage())
        if match:
            found[match[2]] = match[3]
    return found


def storm_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "flask_guard.sentry_delivery" and r.levelno == logging.WARNING
    ]


def test_a_burst_of_1000_distinct_errors_reaches_a_healthy_ingest(
    sentry_ingest: SentryIngest, delivery_log: pytest.LogCaptureFixture
) -> None:
    app = failing_app(SENTRY_DSN=sentry_ingest.dsn)
    ids = error_ids(app, 1000)
    assert len(set(ids)) == 1000
    assert sentry_sdk.flush(timeout=60) is None
    missing = set(ids) - set(sentry_ingest.events)
    assert len(missing) <= 10, f"{len(missing)} of 1000 ids never reached Sentry"
    assert missing <= set(lost_ids(delivery_log))  # and none silently


def test_errors_that_reach_sentry_count_as_no_loss(sentry_ingest: SentryIngest) -> None:
    pytest.importorskip("prometheus_client")
    app = failing_app(SENTRY_DSN=sentry_ingest.dsn, GUARD_METRICS_PATH="/metrics")
    before = app.test_client().get("/metrics").get_data(as_text=True)
    ids = error_ids(app, 10)
    sentry_sdk.flush(timeout=20)
    assert set(ids) <= set(sentry_ingest.events)
    after = app.test_client().get("/metrics").get_data(as_text=True)
    lost_lines = [
        line for line in after.splitlines() if line.startswith("flask_guard_sentry_events_lost_")
    ]
    assert lost_lines == [
        line for line in before.splitlines() if line.startswith("flask_guard_sentry_events_lost_")
    ]


def test_queue_overflow_is_logged_by_id_and_warned_once_with_the_count(
    stop_sentry: None, delivery_log: pytest.LogCaptureFixture
) -> None:
    ingest = GatedIngest()
    with serving(ingest) as url:
        ingest.url = url
        app = failing_app(SENTRY_DSN=ingest.dsn, GUARD_SENTRY_QUEUE_SIZE=5)
        ids = error_ids(app, 30)
        assert ingest.waiting.acquire(timeout=10)  # the transport holds one, queues five
        ingest.gate.set()
        sentry_sdk.flush(timeout=10)
        lost = lost_ids(delivery_log)
        assert set(lost) | set(ingest.events) == set(ids)
        assert not set(lost) & set(ingest.events)
        assert set(lost.values()) == {"queue_overflow"}
        assert 20 <= len(lost) <= 25  # 30 - five queued - at most one in flight
        (warning,) = storm_warnings(delivery_log)
        assert warning.lost_events == {"queue_overflow": len(lost)}  # type: ignore[attr-defined]
        assert f"Sentry did not get {len(lost)} error events" in warning.getMessage()


def test_sentry_down_keeps_the_log_quiet_and_counts_every_id(
    stop_sentry: None, refused_url: str, delivery_log: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("prometheus_client")
    dsn = refused_url.replace("http://", "http://public@") + "/1"
    app = failing_app(SENTRY_DSN=dsn, GUARD_METRICS_PATH="/metrics")
    before = _lost_metric(app, "network_error")
    delivery_log.clear()
    ids = error_ids(app, 20)
    sentry_sdk.flush(timeout=20)
    assert [r for r in delivery_log.records if r.name.startswith("urllib3")] == []
    lost = lost_ids(delivery_log)
    assert set(lost) == set(ids)
    assert set(lost.values()) == {"network_error"}
    assert len(storm_warnings(delivery_log)) == 1
    assert _lost_metric(app, "network_error") - before == 20


def _lost_metric(app: Flask, reason: str) -> float:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    match = re.search(rf'flask_guard_sentry_events_lost_total{{reason="{reason}"}} (\S+)', text)
    return float(match[1]) if match else 0.0


def test_rate_limited_events_are_logged_by_id(
    stop_sentry: None, delivery_log: pytest.LogCaptureFixture
) -> None:
    ingest = RateLimitingIngest()
    with serving(ingest) as url:
        ingest.url = url
        app = failing_app(SENTRY_DSN=ingest.dsn)
        ids = error_ids(app, 5)
        sentry_sdk.flush(timeout=10)
    lost = lost_ids(delivery_log)
    assert set(lost) == set(ids)
    assert set(lost.values()) <= {"rate_limited", "ratelimit_backoff"}


STARTS = [
    "by the guard",
    "by the app before the guard",
    "by the app after the guard",
    "by the app with a transport of its own",
]


class AppTransport(HttpTransport):
    """A transport an app configures (counting what it sends, say): the SDK's, subclassed."""

    captured = 0

    def capture_envelope(self, envelope: Envelope) -> None:
        AppTransport.captured += 1
        super().capture_envelope(envelope)


def sentry_app(started: str, dsn: str, queue_size: int = 1000) -> Flask:
    """A failing app whose Sentry client is started as ``started`` says."""
    if started == "by the guard":
        return failing_app(SENTRY_DSN=dsn, GUARD_SENTRY_QUEUE_SIZE=queue_size)
    if started == "by the app with a transport of its own":
        sentry_sdk.init(dsn=dsn, transport=AppTransport, transport_queue_size=queue_size)
        return failing_app()
    if started == "by the app before the guard":
        sentry_sdk.init(dsn=dsn, transport_queue_size=queue_size)
        return failing_app()
    app = failing_app()
    sentry_sdk.init(dsn=dsn, transport_queue_size=queue_size)
    return app


def in_flight_ids(caplog: pytest.LogCaptureFixture) -> set[str]:
    found = (IN_FLIGHT_LINE.match(record.getMessage()) for record in caplog.records)
    return {match[1] for match in found if match}


def join_sentry_workers() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("sentry-sdk."):
            thread.join(timeout=5)


@pytest.mark.parametrize("started", STARTS)
def test_ids_still_queued_when_the_client_closes_are_logged_lost_and_never_sent(
    stop_sentry: None, delivery_log: pytest.LogCaptureFixture, started: str
) -> None:
    ingest = GatedIngest()
    with serving(ingest) as url:
        ingest.url = url
        app = sentry_app(started, ingest.dsn)
        ids = error_ids(app, 10)
        assert ingest.waiting.acquire(timeout=10)  # the first is in flight, the rest queued
        sentry_sdk.get_client().close(timeout=0.2)  # a deploy's SIGTERM, Sentry slow
        lost = lost_ids(delivery_log)
        (sending,) = in_flight_ids(delivery_log)  # waited for briefly, then called unsure
        ingest.gate.set()
        ingest.wait_for(sending)
        join_sentry_workers()
    assert set(lost) == set(ids) - {sending}
    assert set(lost.values()) == {"shutdown"}
    assert set(ingest.events) == {sending}  # nothing reported lost was sent after all
    (warning,) = storm_warnings(delivery_log)
    assert "Sentry did not get 9 error events (shutdown=9)" in warning.getMessage()


@pytest.mark.parametrize("started", ["before the guard", "after the guard"])
def test_losses_of_a_client_the_app_started_are_logged_too(
    stop_sentry: None, delivery_log: pytest.LogCaptureFixture, started: str
) -> None:
    ingest = GatedIngest()
    with serving(ingest) as url:
        ingest.url = url
        if started == "before the guard":
            sentry_sdk.init(dsn=ingest.dsn, transport_queue_size=3)
        app = failing_app()
        if started == "after the guard":
            sentry_sdk.init(dsn=ingest.dsn, transport_queue_size=3)
        ids = error_ids(app, 12)
        assert ingest.waiting.acquire(timeout=10)
        ingest.gate.set()
        sentry_sdk.flush(timeout=10)
        lost = lost_ids(delivery_log)
        assert set(lost) | set(ingest.events) == set(ids)
        assert len(lost) >= 7


@pytest.mark.parametrize("started", STARTS)
def test_a_storm_then_exit_with_a_slow_sentry_loses_no_id_silently_and_none_falsely(
    started: str,
) -> None:
    ingest = SlowIngest(delay=0.04)
    with serving(ingest) as url:
        ingest.url = url
        result = subprocess.run(
            [sys.executable, "-m", "tests.sentry.storm_app", started, ingest.dsn, "400"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=ROOT,
        )
        time.sleep(0.5)  # an envelope in flight at exit may still be stored
        delivered = set(ingest.events)
    ids = set(json.loads(result.stdout.strip().splitlines()[-1]))
    lines = result.stderr.splitlines()
    lost = {m[2]: m[3] for m in map(LOST_LINE.search, lines) if m}
    unsure = {m[1] for m in map(IN_FLIGHT_LINE.search, lines) if m}
    warnings = [line for line in lines if line.startswith("WARNING flask_guard.sentry_delivery")]
    assert ids - delivered - set(lost) - unsure == set()  # none silently lost
    assert set(lost) & delivered == set()  # none reported lost that Sentry got
    assert len(unsure) <= 1
    assert {"queue_overflow", "shutdown"} <= set(lost.values())
    assert len(warnings) == 1, warnings  # one storm, one WARNING, at a root logger at WARNING
    assert f"Sentry did not get {len(lost)} error events" in warnings[0]


def test_a_lost_breaker_opening_from_the_cli_is_called_a_warning_event(
    stop_sentry: None,
    refused_url: str,
    redis_url: str,
    redis_prefix: str,
    delivery_log: pytest.LogCaptureFixture,
) -> None:
    dsn = refused_url.replace("http://", "http://public@") + "/1"
    app, _ = ops_app(
        SENTRY_DSN=dsn, GUARD_BREAKER_STORAGE=redis_url, GUARD_REDIS_PREFIX=redis_prefix
    )
    result = app.test_cli_runner().invoke(args=["guard", "open", "payments"])
    assert result.exit_code == 0, result.output
    sentry_sdk.flush(timeout=10)
    (line,) = [r.getMessage() for r in delivery_log.records if LOST_LINE.match(r.getMessage())]
    assert line.startswith("Sentry did not get warning event ")
    (warning,) = storm_warnings(delivery_log)
    assert "Sentry did not get 1 warning event (network_error=1)" in warning.getMessage()
    assert "error event" not in warning.getMessage()


def test_an_error_the_apps_settings_drop_is_logged_by_id_but_not_counted_lost(
    sentry_ingest: SentryIngest, delivery_log: pytest.LogCaptureFixture
) -> None:
    app = failing_app(SENTRY_DSN=sentry_ingest.dsn, GUARD_SENTRY_SAMPLE_RATE=0.0)
    (error_id,) = error_ids(app, 1)
    sentry_sdk.flush(timeout=5)
    assert lost_ids(delivery_log) == {error_id: "dropped"}
    assert storm_warnings(delivery_log) == []
    assert sentry_ingest.events == {}
