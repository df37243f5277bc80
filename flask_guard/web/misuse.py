"""Catch the guard used in a way that cannot work, when the code is imported or the app is
built, with a message that names the fix: an object other than a Flask app given to
:meth:`~flask_guard.FlaskGuard.init_app`, a decorator used without its name, and a guard
decorator placed above a route decorator, where it protects nothing::

    @guard.breaker("payments")    # wraps the function *after* the route took it:
    @app.post("/pay")             # the route calls the unguarded function
    def pay(): ...

A route decorator registers the function it receives and returns it unchanged, so a
decorator above it wraps a function the route never calls. The mistake is caught as the
code is imported: when the guard decorator is applied to a function that is already a view
of an app the guard serves, when :meth:`~flask_guard.FlaskGuard.init_app` finds such a
function among the app's views, and when a route added later (a blueprint registered after
``init_app``) names one.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])

# Functions a guard decorator wrapped, with the decorator's label; they must never be views.
_wrapped: weakref.WeakKeyDictionary[Callable[..., Any], str] = weakref.WeakKeyDictionary()
_apps: weakref.WeakSet[Flask] = weakref.WeakSet()


class _CheckedViews(dict[str, Callable[..., Any]]):
    """An app's ``view_functions`` that refuses a function a guard decorator wrapped."""

    def __setitem__(self, endpoint: str, view: Callable[..., Any]) -> None:
        _refuse_if_wrapped(view, endpoint)
        super().__setitem__(endpoint, view)


def checked(decorator: Callable[[F], F], label: str) -> Callable[[F], F]:
    """Return ``decorator`` refusing a function that is already a view.

    :param label: how the user wrote the decorator, e.g. ``@guard.breaker('payments')``,
        for the error message.
    """

    def decorate(func: F) -> F:
        refuse_views(func, label)
        return decorator(func)

    return decorate


def refuse_views(func: Callable[..., Any], label: str) -> None:
    """Raise if ``func`` is already a view; remember it so that it never becomes one."""
    for app in list(_apps):
        for endpoint, view in app.view_functions.items():
            if view is func:
                raise _misplaced(label, endpoint)
    with contextlib.suppress(TypeError):  # a callable without weak references
        _wrapped[func] = label


def watch(app: Flask) -> None:
    """Refuse views of ``app``, now and later, that a guard decorator wrapped from above."""
    for endpoint, view in app.view_functions.items():
        _refuse_if_wrapped(view, endpoint)
    if not isinstance(app.view_functions, _CheckedViews):
        app.view_functions = _CheckedViews(app.view_functions)
    _apps.add(app)


def _refuse_if_wrapped(view: Callable[..., Any], endpoint: str) -> None:
    try:
        label = _wrapped.get(view)
    except TypeError:
        return
    if label is not None:
        raise _misplaced(label, endpoint)


def require_app(app: object) -> Flask:
    """Return ``app`` if it is a Flask app; otherwise raise a ``TypeError`` naming the fix."""
    if isinstance(app, Flask):
        return app
    if type(app).__name__ == "Blueprint":
        raise TypeError(
            f"init_app needs the Flask app, not the blueprint {getattr(app, 'name', app)!r}: "
            "call guard.init_app(app) once in the app factory; the guard covers every "
            "blueprint registered on the app, before or after init_app"
        )
    if callable(app):
        raise TypeError(
            f"init_app needs a Flask app, got the callable {app!r}: call the factory first "
            "(guard.init_app(create_app())), or call guard.init_app(app) inside it"
        )
    raise TypeError(f"init_app needs a Flask app, got {app!r}")


def require_name(name: object, decorator: str, example: str) -> str:
    """Return ``name`` if it is a non-empty string; otherwise raise a ``TypeError`` saying
    how the decorator is written (``@guard.breaker`` without parentheses passes the function
    as the name)."""
    if isinstance(name, str) and name:
        return name
    if callable(name):
        raise TypeError(
            f"@guard.{decorator} needs a name and parentheses: write {example} above "
            f"the function {getattr(name, '__name__', name)!r}"
        )
    raise TypeError(f"guard.{decorator} needs a non-empty name such as {example}, got {name!r}")


def _misplaced(label: str, endpoint: str) -> TypeError:
    name = label.split("(", 1)[0]
    return TypeError(
        f"{label} is above the route decorator of the view {endpoint!r}, so the route calls "
        f"the function without it and it protects nothing: put {name} below the route "
        f"decorator (@app.get(...) or @blueprint.route(...) first, then {label})"
    )
