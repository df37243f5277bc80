"""``FlaskGuard``: the one object an application creates."""

from __future__ import annotations

import copy
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context

from .breaker.registry import BreakerRegistry
from .config.environment import warn_unread_variables
from .config.keys import DEFAULTS, GuardConfigError, load_config, override_key
from .logs.json_lines import install_json_logs
from .ops.cli import guard_cli
from .ops.health import install_health
from .resilience.bulkhead import Bulkhead
from .resilience.request_budget import install_request_budget
from .sentry.setup import setup_sentry
from .web.handlers import install_error_handler
from .web.middleware import GuardMiddleware
from .web.misuse import checked, watch
from .web.request_body import install_safe_json
from .web.request_id import install_request_ids

if TYPE_CHECKING:
    import requests

P = ParamSpec("P")
R = TypeVar("R")


class FlaskGuard:
    """Make a Flask JSON API fail well.

    Use it directly or with an application factory::

        guard = FlaskGuard(app)

        guard = FlaskGuard()
        def create_app():
            app = Flask(__name__)
            guard.init_app(app)
            return app

    One instance can serve several applications; each reads its own ``GUARD_*`` config.

    :param app: the application to set up now, if any.
    :param overrides: settings that win over the app's config, named as the config keys
        without the ``GUARD_`` prefix, in lower case: ``FlaskGuard(app, error_format="problem")``.
    """

    def __init__(self, app: Flask | None = None, **overrides: object) -> None:
        unknown = sorted(name for name in overrides if override_key(name) not in DEFAULTS)
        if unknown:
            allowed = ", ".join(key.removeprefix("GUARD_").lower() for key in DEFAULTS)
            raise TypeError(f"FlaskGuard got unknown settings {unknown}; allowed: {allowed}")
        self._overrides = overrides
        #: The circuit breakers declared with :meth:`breaker`, by name.
        self.breakers = BreakerRegistry()
        #: The bulkheads declared with :meth:`bulkhead`, by name.
        self.bulkheads: dict[str, Bulkhead] = {}
        # The sessions of the apps served, for use outside an app context when there is one.
        # Each app owns its session: the guard must not keep the apps of a factory alive.
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Validate ``app``'s ``GUARD_*`` config and install error handling and request ids.

        :raises GuardConfigError: for an invalid value, naming the key, the value and what is
            allowed.
        :raises RuntimeError: if ``app`` already has a FlaskGuard.
        """
        if "guard" in app.extensions:
            raise RuntimeError(f"A FlaskGuard is already registered on the app {app.name!r}.")
        watch(app)
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, copy.deepcopy(default))
        warn_unread_variables(app.config)
        config = load_config(app.config, self._overrides)
        try:
            self.breakers.use_defaults(config.breaker_defaults, app.name)
            if config.breaker_storage != "memory":
                self.breakers.use_storage(config.breaker_storage, config.redis_prefix, app.name)
        except ValueError as error:
            raise GuardConfigError(str(error)) from None
        reporter = setup_sentry(app, config.sentry)
        from .outbound.session import shared_session  # requests is loaded when a session is built

        session = shared_session(config.http, request_id_header=config.request_id_header)
        policy = install_request_ids(app, config.request_id_header, config.trust_request_id)
        install_safe_json(app)
        install_request_budget(app, config.request_timeout, config.trust_request_id)
        responder = install_error_handler(
            app, config.error_format, config.json_errors, config.log_tracebacks, reporter
        )
        app.wsgi_app = GuardMiddleware(app, app.wsgi_app, policy, responder)  # type: ignore[method-assign]
        if "opentelemetry" in sys.modules:  # the application uses OpenTelemetry
            from .tracing.otel import install_otel

            install_otel(app)
        if config.health_path is not None:
            install_health(
                app, config.health_path, config.health_critical_breakers, config.health_token
            )
        if config.metrics_path is not None:
            from .ops.metrics import install_metrics  # prometheus-client is an optional extra

            install_metrics(app, config.metrics_path, self.breakers, config.health_token)
        if config.log_json:
            install_json_logs(app)
        app.cli.add_command(guard_cli)
        self._sessions.add(session)
        app.extensions["guard"] = self
        app.extensions["guard.config"] = config
        app.extensions["guard.session"] = session

    @property
    def session(self) -> requests.Session:
        """The app's :func:`~flask_guard.robust_session`, built from ``GUARD_HTTP_*``.

        It retries, applies a default timeout, keeps no cookies (it is shared by every
        user's requests) and sends the current request id in ``GUARD_REQUEST_ID_HEADER``.
        Inside an app context it is that app's session; outside one, that of the only app
        this guard serves.

        :raises RuntimeError: before ``init_app``, or outside an app context when the guard
            serves several apps.
        """
        if has_app_context() and "guard.session" in current_app.extensions:
            session: requests.Session = current_app.extensions["guard.session"]
            return session
        sessions = list(self._sessions)
        if len(sessions) == 1:
            return sessions[0]
        raise RuntimeError(
            "guard.session needs an app: call init_app first, or, when this FlaskGuard serves "
            "several apps, use guard.session inside an app context"
        )

    def breaker(self, name: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Run the decorated view or function (sync or async) through breaker ``name``.

        ``options`` are those of :class:`~flask_guard.CircuitBreaker`; they update
        ``GUARD_BREAKER_DEFAULTS``. Every use of the same name shares one breaker. In a view,
        an open breaker becomes a 503 ``SERVICE_UNAVAILABLE`` error with ``Retry-After``::

            @app.get("/charge/<int:order_id>")
            @guard.breaker("payments", failure_threshold=5, recovery_timeout=30)
            def charge(order_id): ...

        :raises ValueError: if ``name`` was declared before with other values for ``options``.
        """
        self.breakers.declare(name, options)
        return checked(self.breakers.decorator(name), f"@guard.breaker({name!r})")

    def bulkhead(self, name: str, max_concurrent: int, max_wait: float | None = None) -> Bulkhead:
        """Return bulkhead ``name``: at most ``max_concurrent`` calls in flight at once.

        Use it as a decorator (views and plain functions, sync and async) or a context
        manager (``with`` / ``async with``). Every use of the same name shares one bulkhead.
        When it is full the next call is rejected at once (or after ``max_wait`` seconds):
        in a view, a 503 ``SERVICE_UNAVAILABLE`` error with ``Retry-After``::

            @app.get("/report")
            @guard.bulkhead("reports-db", max_concurrent=4)
            def report(): ...

        :raises ValueError: if ``name`` was declared before with other options.
        """
        existing = self.bulkheads.get(name)
        if existing is not None:
            if existing.options() != {"max_concurrent": max_concurrent, "max_wait": max_wait}:
                raise ValueError(
                    f"bulkhead {name!r} was declared with {existing.options()}; "
                    f"got max_concurrent={max_concurrent!r}, max_wait={max_wait!r}"
                )
            return existing
        return self.bulkheads.setdefault(name, Bulkhead(name, max_concurrent, max_wait))

    def all_bulkheads(self, app: Flask | None = None) -> list[Bulkhead]:
        """Return the declared bulkheads and those of ``app``'s session (one per upstream
        host, named ``http:<host>``), for health, metrics and the CLI."""
        bulkheads = [self.bulkheads[name] for name in sorted(self.bulkheads)]
        target = app if app is not None else (current_app if has_app_context() else None)
        session = None if target is None else target.extensions.get("guard.session")
        if session is not None:
            from .outbound.session import session_bulkheads

            bulkheads.extend(session_bulkheads(session))
        return bulkheads
