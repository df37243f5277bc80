"""``flask guard feature ...``: see the features and the service level; force a feature off
or on for every process (through the breakers' Redis, like ``flask guard open``)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..ops.cli import SHARE_HINT, current_guard
from .features import Features

feature_cli = AppGroup("feature", help="See the features; force one off or on for the fleet.")


def _features() -> Features:
    features: Features = current_guard().features
    return features


def _feature(features: Features, name: str) -> None:
    if name not in features:
        known = ", ".join(sorted(features)) or "none are declared"
        raise click.ClickException(f"no feature named {name!r}; known: {known}")


@feature_cli.command("status")
def status() -> None:
    """Show every feature (on or off, and why) and the service level."""
    features = _features()
    report = features.report()
    rows = [("FEATURE", "STATE", "WHY", "ESSENTIAL")]
    for name, state in report.items():
        on = bool(state["enabled"])
        rows.append(
            (
                name,
                "on" if on else "off",
                str(state["reason"] or "-"),
                "yes" if state["essential"] else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"service level: {features.level.value}")
    if not features.shared:
        click.echo("Features forced off are in memory: each process has its own. " + SHARE_HINT)


def _force(name: str, off: bool) -> None:
    features = _features()
    _feature(features, name)
    if not features.shared:
        raise click.ClickException(
            "features are forced off in memory (GUARD_BREAKER_STORAGE = 'memory'): this "
            "command would change only its own process, never a running server's. " + SHARE_HINT
        )
    if not features.force(name, off):
        raise click.ClickException(f"the shared storage is unreachable: {name} was not changed")
    click.echo(
        f"{name}: {'forced off' if off else 'no longer forced off'} for every process "
        "(each sees it within a second)"
    )


@feature_cli.command("off")
@click.argument("name")
def force_off(name: str) -> None:
    """Force feature NAME off for every process until `flask guard feature on NAME`."""
    _force(name, True)


@feature_cli.command("on")
@click.argument("name")
def force_on(name: str) -> None:
    """Lift `flask guard feature off NAME`: the feature follows its breakers again."""
    _force(name, False)
