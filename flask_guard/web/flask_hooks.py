"""How the guard sees Flask's error handling from inside: a subclass made for the app.

Two moments of Flask's handling have no signal and no public hook, and the guard must act
in both before Flask goes on:

- ``handle_user_exception``: an exception is about to be answered by whichever handler the
  app registered. The guard remembers it as the cause of the response that handler builds
  (that response gets the error id, the log line and the Sentry event of that cause).
- ``handle_exception``: an exception no handler took is about to be signalled
  (``got_request_exception``), logged by ``app.log_exception`` and answered with a 500. The
  guard gives it its error id first, so the log record carries the id and every other
  capture of it (Sentry's Flask and logging integrations) can be told apart. Blinker calls
  receivers in no fixed order, so a receiver of that signal could come too late.

The app's class is replaced, once, by a subclass made for it (same name, same module) whose
two methods do that and then call Flask's. Flask calls them as ``method(e)`` up to 3.1 and
``method(ctx, e)`` from 3.2 on; the subclass takes both and passes on what it got. Its first
parameter is named ``ctx`` and left unannotated, which is what Flask 3.2 checks in
``__init_subclass__`` to know the new signature is supported. Nothing is set on the app
instance, and methods the app's own class overrides stay in force.
"""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Where an app keeps the hooks its guarded class calls.
HOOKS_KEY = "guard.error_hooks"


class ErrorHooks(Protocol):
    """What the guard does at the two moments (see the module docstring)."""

    def note(self, error: Exception) -> None:
        """Remember ``error`` as the cause of the response some handler is about to build."""

    def unexpected(self, error: Exception) -> None:
        """Give ``error`` its id before Flask signals and logs it as unhandled."""


_made: dict[type[Flask], type[Flask]] = {}
_made_lock = threading.Lock()


def hook_errors(app: Flask, hooks: ErrorHooks) -> None:
    """Make ``app`` call ``hooks`` when Flask handles an exception of one of its requests."""
    app.extensions[HOOKS_KEY] = hooks
    app_class = type(app)
    if app_class not in _made.values():
        app.__class__ = guarded_class(app_class)


def guarded_class(base: type[Flask]) -> type[Flask]:
    """Return the subclass of ``base`` that calls the guard's hooks (made once per class)."""
    with _made_lock:
        made = _made.get(base)
        if made is None:
            made = _made[base] = _make(base)
        return made


def _make(base: type[Flask]) -> type[Flask]:
    # Flask 3.2 warns about each method of ``base`` that still has the old signature when a
    # subclass is made; it warned when ``base`` itself was made, once is enough.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)

        class Guarded(base):  # type: ignore[valid-type,misc]
            # ``ctx`` stays unannotated: Flask 3.2 takes such an override for the new
            # signature; from 3.0 to 3.1 it receives the exception itself.
            def handle_user_exception(self, ctx, *args, **kwargs):  # type: ignore[no-untyped-def]
                hooks, error = _hooks_and_error(self.extensions, ctx, args, kwargs)
                if hooks is not None and error is not None:
                    hooks.note(error)
                return super().handle_user_exception(ctx, *args, **kwargs)

            def handle_exception(self, ctx, *args, **kwargs):  # type: ignore[no-untyped-def]
                hooks, error = _hooks_and_error(self.extensions, ctx, args, kwargs)
                if hooks is not None and error is not None:
                    hooks.unexpected(error)
                return super().handle_exception(ctx, *args, **kwargs)

    Guarded.__name__ = base.__name__
    Guarded.__qualname__ = base.__qualname__
    Guarded.__module__ = base.__module__
    Guarded.__doc__ = base.__doc__
    made: type[Flask] = Guarded
    return made


def _hooks_and_error(
    extensions: Mapping[str, Any], first: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[ErrorHooks | None, Exception | None]:
    """Return the app's hooks and the exception Flask passed: the first argument up to
    Flask 3.1, the one after the app context from 3.2 on."""
    error = kwargs.get("e", args[0] if args else first)
    return extensions.get(HOOKS_KEY), error if isinstance(error, Exception) else None
