"""``flask guard ...``: see and steer the app's circuit breakers from a shell.

A shell reaches a running server's breakers only through shared storage
(``GUARD_BREAKER_STORAGE`` set to Redis). With in-memory breakers every process has its
own, the ``flask guard`` process included: ``status`` then says it shows only its own, and
``open``, ``close`` and ``reset`` refuse rather than change breakers no server uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup

from ..breaker.breaker import BreakerStats, CircuitBreaker
from ..breaker.policy import CircuitState
from ..breaker.registry import BreakerRegistry

if TYPE_CHECKING:
    from ..extension import FlaskGuard

guard_cli = AppGroup("guard", help="See and steer flask-guard's circuit breakers.")

SHARE_HINT = (
    "Share the breakers through Redis to steer them from a shell: set "
    "GUARD_BREAKER_STORAGE = 'redis://HOST:6379/0' in the app's config (or "
    "FLASK_GUARD_BREAKER_STORAGE=redis://HOST:6379/0 in the environment of the server and of "
    "this command, for an app that calls app.config.from_prefixed_env()), with "
    "pip install 'flask-api-guard[redis]'."
)


@contextmanager
def _quiet_breakers() -> Iterator[None]:
    """Keep flask-guard's own log lines out of a command's output.

    Building a breaker here reads its shared state, and a breaker that a server opened is then
    logged as a transition (``closed -> open (synced)``) that reads like a new trip; the
    command's own output says what matters.
    """
    logger = logging.getLogger("flask_guard")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def current_guard() -> FlaskGuard:
    """Return the app's FlaskGuard, or stop the command saying the app has none."""
    guard = current_app.extensions.get("guard")
    if guard is None:
        raise click.ClickException("this app has no FlaskGuard; call FlaskGuard(app) first")
    found: FlaskGuard = guard
    return found


def _registry() -> BreakerRegistry:
    registry: BreakerRegistry = current_guard().breakers
    return registry


def _breaker(registry: BreakerRegistry, name: str) -> CircuitBreaker:
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none are declared"
        raise click.ClickException(f"no circuit breaker named {name!r}; known: {known}")
    return registry[name]


def _shared_registry() -> BreakerRegistry:
    """Return the registry, refusing when no other process could see a change made here."""
    registry = _registry()
    if registry.storage_name == "memory":
        raise click.ClickException(
            "the breakers are in memory (GUARD_BREAKER_STORAGE = 'memory'): each process has "
            "its own, so this command would change only its own, never a running server's. "
            + SHARE_HINT
        )
    return registry


def _cells(stats: BreakerStats, shared: bool) -> tuple[str, str, str]:
    """Return the STATE, FAILURES and RETRY IN cells of a breaker's row.

    ``FAILURES`` is the fleet's count with shared storage and consecutive counting; sliding
    windows are judged by each process on its own, so the CLI has no count to show for them.
    A forced-open breaker never tries a call, so it has no countdown.
    """
    state = stats.state.value + (" (forced)" if stats.forced else "")
    per_process = shared and stats.window_calls is not None
    failures = "-" if per_process else str(stats.failures)
    if stats.state is not CircuitState.OPEN or stats.forced:
        retry = "-"
    else:
        retry = f"{stats.retry_after:.1f}s" if stats.retry_after else "now"
    return state, failures, retry


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@guard_cli.command("status")
def status() -> None:
    """Show every breaker: state, failures, seconds until a trial call."""
    with _quiet_breakers():
        registry = _registry()
        shared = registry.storage_name != "memory"
        stats = [registry[name].stats for name in sorted(registry)]
        if shared and not registry.storage_healthy():
            raise click.ClickException(
                f"the shared storage ({registry.storage_name}) is unreachable: the fleet's "
                "breakers cannot be shown"
            )
    rejections = [s.fleet_rejections for s in stats]
    with_rejections = shared and bool(stats) and None not in rejections
    header = ("BREAKER", "STATE", "FAILURES", "RETRY IN")
    rows = [header + (("REJECTIONS",) if with_rejections else ())]
    for one, rejected in zip(stats, rejections, strict=True):
        cells = (one.name, *_cells(one, shared))
        rows.append(cells + ((str(rejected),) if with_rejections else ()))
    _table(rows)
    if not shared:
        click.echo(
            "storage: memory. These are the breakers of this command's own process, not of a "
            "running server: each process has its own."
        )
        click.echo(SHARE_HINT)
        return
    click.echo(f"storage: {registry.storage_name}, shared by every process (healthy)")
    if any(s.window_calls is not None for s in stats):
        click.echo("FAILURES -: a sliding window is judged by each process on its own")


def _command(name: str, action: Callable[[CircuitBreaker], None], done: str) -> None:
    with _quiet_breakers():
        registry = _shared_registry()
        breaker = _breaker(registry, name)
        action(breaker)
        if not registry.storage_healthy():
            raise click.ClickException(
                f"the shared storage ({registry.storage_name}) is unreachable: {name} was not "
                "changed for the fleet"
            )
        state, _, _ = _cells(breaker.stats, shared=True)
    click.echo(f"{name}: {done} for every process (now {state})")


@guard_cli.command("open")
@click.argument("name")
def open_breaker(name: str) -> None:
    """Force breaker NAME open for every process until it is closed (needs shared storage)."""
    _command(name, CircuitBreaker.force_open, "forced open")


@guard_cli.command("close")
@click.argument("name")
def close_breaker(name: str) -> None:
    """Close breaker NAME now for every process (needs shared storage)."""
    _command(name, CircuitBreaker.force_close, "closed")


@guard_cli.command("reset")
@click.argument("name")
def reset_breaker(name: str) -> None:
    """Reset breaker NAME for every process: closed, counters at zero (needs shared storage)."""
    _command(name, CircuitBreaker.reset, "reset")
