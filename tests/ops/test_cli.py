"""The ``flask guard`` CLI: what it shows and what it refuses, in memory and with Redis."""

from __future__ import annotations

import logging
import threading

import pytest
from flask import Flask

from flask_guard import FlaskGuard, signals

from ..conftest import ops_app


def shared(redis_url: str, redis_prefix: str) -> dict[str, object]:
    return {"GUARD_BREAKER_STORAGE": redis_url, "GUARD_REDIS_PREFIX": redis_prefix}


def invoke(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["guard", *args])
    return result.exit_code, result.output


def wait_for_change(guard: FlaskGuard, name: str) -> threading.Event:
    """Return an event set when ``guard``'s breaker ``name`` changes state."""
    changed = threading.Event()

    def on_change(sender: object, **kwargs: object) -> None:
        changed.set()

    signals.breaker_state_changed.connect(on_change, guard.breakers[name], weak=False)
    return changed


def test_status_in_memory_says_it_shows_only_its_own_process() -> None:
    app, _ = ops_app()
    code, output = invoke(app, "status")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["BREAKER", "STATE", "FAILURES", "RETRY", "IN"]
    assert lines[1].split() == ["inventory", "closed", "0", "-"]
    assert "breakers of this command's own process, not of a running server" in lines[-2]
    assert "GUARD_BREAKER_STORAGE = 'redis://HOST:6379/0'" in lines[-1]


@pytest.mark.parametrize("command", ["open", "close", "reset"])
def test_commands_in_memory_refuse_and_change_nothing(command: str) -> None:
    app, guard = ops_app()
    app.test_client().get("/pay")
    before = guard.breakers["payments"].stats
    unchanged = (before.state, before.forced, before.failures, before.total_failures)
    code, output = invoke(app, command, "payments")
    assert code == 1
    assert "the breakers are in memory" in output
    assert "never a running server's" in output
    assert "FLASK_GUARD_BREAKER_STORAGE=redis://HOST:6379/0" in output
    after = guard.breakers["payments"].stats
    assert (after.state, after.forced, after.failures, after.total_failures) == unchanged


def test_unknown_breaker_is_an_error_listing_the_known_ones(
    redis_url: str, redis_prefix: str
) -> None:
    app, _ = ops_app(**shared(redis_url, redis_prefix))
    code, output = invoke(app, "open", "paymnets")
    assert code == 1
    assert "no circuit breaker named 'paymnets'; known: inventory, payments" in output


def test_commands_refuse_to_pretend_when_the_storage_is_unreachable(refused_url: str) -> None:
    app, _ = ops_app(GUARD_BREAKER_STORAGE=refused_url.replace("http://", "redis://"))
    code, output = invoke(app, "open", "payments")
    assert code == 1
    assert "is unreachable: payments was not changed for the fleet" in output
    code, output = invoke(app, "status")
    assert code == 1
    assert "the fleet's breakers cannot be shown" in output


def test_open_close_and_reset_act_on_every_process(redis_url: str, redis_prefix: str) -> None:
    operator_app, _ = ops_app(**shared(redis_url, redis_prefix))
    worker_app, worker_guard = ops_app(**shared(redis_url, redis_prefix))
    worker = worker_app.test_client()
    assert worker.get("/stock").status_code == 200

    opened = wait_for_change(worker_guard, "inventory")
    code, output = invoke(operator_app, "open", "inventory")
    assert (code, output) == (0, "inventory: forced open for every process (now open (forced))\n")
    assert opened.wait(10), "the worker never learned of the opening"
    assert worker.get("/stock").status_code == 503

    closed = wait_for_change(worker_guard, "inventory")
    assert invoke(operator_app, "close", "inventory")[0] == 0
    assert closed.wait(10), "the worker never learned of the closing"
    assert worker.get("/stock").status_code == 200

    worker.get("/pay")
    assert worker_guard.breakers["payments"].stats.state.value == "open"
    reset = wait_for_change(worker_guard, "payments")
    assert invoke(operator_app, "reset", "payments") == (
        0,
        "payments: reset for every process (now closed)\n",
    )
    assert reset.wait(10), "the worker never learned of the reset"


def test_status_shows_the_fleet_state_forced_without_a_countdown(
    redis_url: str, redis_prefix: str
) -> None:
    worker_app, _ = ops_app(**shared(redis_url, redis_prefix))
    worker_app.test_client().get("/pay")  # opens payments for the fleet
    operator_app, _ = ops_app(**shared(redis_url, redis_prefix))
    assert invoke(operator_app, "open", "inventory")[0] == 0

    code, output = invoke(ops_app(**shared(redis_url, redis_prefix))[0], "status")
    assert code == 0, output
    rows = {line.split()[0]: line.split()[1:] for line in output.splitlines()[1:3]}
    assert rows["inventory"] == ["open", "(forced)", "0", "-", "0"]
    state, failures, retry, rejections = rows["payments"]
    assert rejections == "0"
    assert (state, failures) == ("open", "1")
    assert 55.0 < float(retry.removesuffix("s")) <= 60.0
    assert output.splitlines()[-1] == "storage: redis, shared by every process (healthy)"


def test_status_logs_nothing_about_the_state_it_reads(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker_app, _ = ops_app(**shared(redis_url, redis_prefix))
    worker_app.test_client().get("/pay")
    operator_app, _ = ops_app(**shared(redis_url, redis_prefix))
    caplog.clear()
    level = logging.getLogger("flask_guard").level
    with caplog.at_level(logging.DEBUG):
        code, output = invoke(operator_app, "status")
    assert code == 0
    assert "open" in output
    assert [r.getMessage() for r in caplog.records if r.name.startswith("flask_guard")] == []
    assert logging.getLogger("flask_guard").level == level  # restored afterwards


def test_status_shows_no_fleet_count_for_a_sliding_window(
    redis_url: str, redis_prefix: str
) -> None:
    app, guard = ops_app(**shared(redis_url, redis_prefix))

    @app.get("/ship")
    @guard.breaker("shipping", window_size=10, minimum_calls=5)
    def ship() -> str:
        return "shipped"

    code, output = invoke(app, "status")
    assert code == 0, output
    rows = {line.split()[0]: line.split()[1:] for line in output.splitlines()}
    assert rows["shipping"] == ["closed", "-", "-", "0"]
    assert rows["payments"] == ["closed", "0", "-", "0"]
    assert output.splitlines()[-1] == (
        "FAILURES -: a sliding window is judged by each process on its own"
    )
