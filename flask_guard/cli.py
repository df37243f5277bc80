"""``flask guard ...``: see and steer the app's circuit breakers from a shell."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import current_app
from flask.cli import AppGroup

from .breaker import CircuitBreaker
from .registry import BreakerRegistry

guard_cli = AppGroup("guard", help="See and steer flask-guard's circuit breakers.")


def _registry() -> BreakerRegistry:
    guard = current_app.extensions.get("guard")
    if guard is None:
        raise click.ClickException("this app has no FlaskGuard; call FlaskGuard(app) first")
    registry: BreakerRegistry = guard.breakers
    return registry


def _breaker(name: str) -> CircuitBreaker:
    registry = _registry()
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none are declared"
        raise click.ClickException(f"no circuit breaker named {name!r}; known: {known}")
    return registry[name]


@guard_cli.command("status")
def status() -> None:
    """Show every breaker: state, failures, seconds until a trial."""
    registry = _registry()
    rows = [("BREAKER", "STATE", "FAILURES", "REJECTIONS", "RETRY IN")]
    for name in sorted(registry):
        stats = registry[name].stats
        state = stats.state.value + (" (forced)" if stats.forced else "")
        retry = f"{stats.retry_after:.1f}s" if stats.retry_after else "-"
        rows.append((name, state, str(stats.failures), str(stats.rejections), retry))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    if registry.storage_name == "memory":
        click.echo("storage: memory (the breakers of this process only)")
    else:
        health = "healthy" if registry.storage_healthy() else "unreachable"
        click.echo(f"storage: {registry.storage_name}, shared by every process ({health})")


def _command(name: str, action: Callable[[CircuitBreaker], None], done: str) -> None:
    breaker = _breaker(name)
    action(breaker)
    registry = _registry()
    if registry.storage_name != "memory" and not registry.storage_healthy():
        raise click.ClickException(
            f"the shared storage is unreachable: {name} changed in this process only, "
            "not for the fleet"
        )
    click.echo(f"{name}: {done} (now {breaker.stats.state.value})")


@guard_cli.command("open")
@click.argument("name")
def open_breaker(name: str) -> None:
    """Force breaker NAME open (for every process, with shared storage) until closed."""
    _command(name, CircuitBreaker.force_open, "forced open")


@guard_cli.command("close")
@click.argument("name")
def close_breaker(name: str) -> None:
    """Close breaker NAME now."""
    _command(name, CircuitBreaker.force_close, "closed")


@guard_cli.command("reset")
@click.argument("name")
def reset_breaker(name: str) -> None:
    """Reset breaker NAME: closed, every counter at zero."""
    _command(name, CircuitBreaker.reset, "reset")
