"""``FlaskGuard``: the one object an application creates."""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import requests
from flask import Flask, current_app, has_app_context

from .cli import guard_cli
from .config import DEFAULTS, GuardConfigError, load_config, override_key
from .handlers import install_error_handler
from .health import install_health
from .logs import install_json_logs
from .middleware import GuardMiddleware
from .registry import BreakerRegistry
from .request_id import install_request_ids
from .sentry import setup_sentry
from .session import shared_session

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
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, copy.deepcopy(default))
        config = load_config(app.config, self._overrides)
        try:
            self.breakers.use_defaults(config.breaker_defaults, app.name)
            if config.breaker_storage != "memory":
                self.breakers.use_storage(config.breaker_storage, config.redis_prefix, app.name)
        except ValueError as error:
            raise GuardConfigError(str(error)) from None
        reporter = setup_sentry(app, config.sentry)
        session = shared_session(**config.http, request_id_header=config.request_id_header)
        policy = install_request_ids(app, config.request_id_header, config.trust_request_id)
        responder = install_error_handler(
            app, config.error_format, config.json_errors, config.log_tracebacks, reporter
        )
        app.wsgi_app = GuardMiddleware(app, app.wsgi_app, policy, responder)  # type: ignore[method-assign]
        if config.health_path is not None:
            install_health(app, config.health_path, config.health_critical_breakers)
        if config.metrics_path is not None:
            from .metrics import install_metrics  # prometheus-client is an optional extra

            install_metrics(app, config.metrics_path, self.breakers)
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
        return self.breakers.decorator(name)
