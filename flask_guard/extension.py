"""``FlaskGuard``: the one object an application creates."""

from __future__ import annotations

import copy
import sys
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context

from .breaker.registry import BreakerRegistry
from .config.drift import refuse_later_changes
from .config.environment import warn_unread_variables
from .config.keys import (
    DEFAULTS,
    GuardConfigError,
    load_config,
    override_key,
    unknown_overrides,
)
from .degrade import chain as fallback_chain
from .degrade.cli import feature_cli
from .degrade.features import Feature, Features
from .degrade.install import Degradation, add_http_stale
from .degrade.levels import ServiceLevel
from .degrade.stale import DEFAULT_MAX_ENTRIES, StaleCache
from .logs.json_lines import install_json_logs
from .ops.checks import DEFAULT_TIMEOUT, HealthChecks
from .ops.cli import guard_cli
from .ops.health import install_health
from .resilience.bulkhead import Bulkhead
from .resilience.request_budget import install_request_budget
from .sentry.setup import setup_sentry
from .web.handlers import install_error_handler
from .web.middleware import GuardMiddleware
from .web.misuse import checked, require_app, require_name, watch
from .web.request_body import install_safe_json
from .web.request_id import install_request_ids

if TYPE_CHECKING:
    import requests

    from .outbound.httpx_client import GuardAsyncClient

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
            raise TypeError(unknown_overrides(unknown))
        self._overrides = overrides
        #: The circuit breakers declared with :meth:`breaker`, by name.
        self.breakers = BreakerRegistry()
        #: The bulkheads declared with :meth:`bulkhead`, by name.
        self.bulkheads: dict[str, Bulkhead] = {}
        #: The features declared with :meth:`feature`, by name; ``features.level`` is the
        #: service level.
        self.features = Features(self.breakers)
        self._degradation = Degradation(self.features)
        #: The fallback chains declared with :meth:`fallback`, by name.
        self.fallback_chains = self._degradation.fallback_chains
        #: The stale caches declared with :meth:`stale_if_error`, by name.
        self.stale_caches = self._degradation.stale_caches
        #: The health checks declared with :meth:`health_check`, by name.
        self.health_checks = HealthChecks()
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
        app = require_app(app)
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
                self._degradation.use_storage(config.breaker_storage, config.redis_prefix)
        except ValueError as error:
            raise GuardConfigError(str(error)) from None
        reporter = setup_sentry(app, config.sentry)
        from .outbound.session import shared_session  # requests is loaded when a session is built

        session = shared_session(config.http, request_id_header=config.request_id_header)
        add_http_stale(session, config.http_stale_if_error)
        policy = install_request_ids(app, config.request_id_header, config.trust_request_id)
        install_safe_json(app)
        install_request_budget(app, config.request_timeout, config.trust_request_id)
        responder = install_error_handler(
            app,
            config.error_format,
            config.json_errors,
            config.log_tracebacks,
            reporter,
            config.expose_upstream_names,
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
        guard_cli.add_command(feature_cli)
        app.cli.add_command(guard_cli)
        self._sessions.add(session)
        refuse_later_changes(app)
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
        require_name(name, "breaker", '@guard.breaker("payments")')
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
        require_name(name, "bulkhead", '@guard.bulkhead("reports-db", max_concurrent=4)')
        existing = self.bulkheads.get(name)
        if existing is not None:
            if existing.options() != {"max_concurrent": max_concurrent, "max_wait": max_wait}:
                raise ValueError(
                    f"bulkhead {name!r} was declared with {existing.options()}; "
                    f"got max_concurrent={max_concurrent!r}, max_wait={max_wait!r}"
                )
            return existing
        return self.bulkheads.setdefault(name, Bulkhead(name, max_concurrent, max_wait))

    @property
    def async_client(self) -> GuardAsyncClient:
        """The app's guarded httpx client for ``async def`` views, built from the same
        ``GUARD_HTTP_*`` settings as :attr:`session` on first use (``pip install
        'flask-api-guard[httpx]'``)::

            @app.get("/rates")
            async def rates():
                response = await guard.async_client.get(RATES_URL)
                return response.json()

        Each event loop gets its own connections, closed when the loop ends; see
        :doc:`outbound`.

        :raises RuntimeError: outside an app context, or when httpx is not installed.
        """
        if not has_app_context() or "guard.config" not in current_app.extensions:
            raise RuntimeError(
                "guard.async_client needs an app context of an app this FlaskGuard serves: "
                "use it in a view, or inside app.app_context()"
            )
        try:
            from .outbound.httpx_client.shared import app_async_client
        except ModuleNotFoundError as missing:
            if missing.name != "httpx":
                raise
            raise RuntimeError(
                "guard.async_client needs httpx: pip install 'flask-api-guard[httpx]'"
            ) from None
        return app_async_client(current_app._get_current_object())  # type: ignore[attr-defined]

    def all_bulkheads(self, app: Flask | None = None) -> list[Bulkhead]:
        """Return the declared bulkheads and those of ``app``'s session and httpx client (one
        per upstream host, named ``http:<host>`` and ``httpx:<host>``), for health, metrics
        and the CLI."""
        bulkheads = [self.bulkheads[name] for name in sorted(self.bulkheads)]
        target = app if app is not None else (current_app if has_app_context() else None)
        session = None if target is None else target.extensions.get("guard.session")
        if session is not None:
            from .outbound.session import session_bulkheads

            bulkheads.extend(session_bulkheads(session))
        client = None if target is None else target.extensions.get("guard.async_client")
        if client is not None:
            bulkheads.extend(client.bulkhead_list())
        return bulkheads

    def fallback(
        self, name: str, *alternatives: fallback_chain.StepSpec, default: Any = ..., **rules: Any
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Answer from the next step when the decorated view or function fails.

        The decorated function (sync or async) is the primary; ``alternatives`` are tried in
        order with the same arguments (callables, or ``(name, callable)`` pairs), then
        ``default`` if given. An answer from any step but the primary is marked
        ``X-Degraded: <name>=<step>``; when every step fails, a view answers 503. ``rules``
        (``failure_on``, ``ignore``, ``is_failure``) say which failures fall through, as for
        breakers. See :doc:`/degradation`::

            @app.get("/recommendations/<int:user>")
            @guard.fallback("recommendations", from_replica, ("cache", from_cache), default=[])
            def recommendations(user): ...

        :raises ValueError: if a chain of that name is declared already.
        """
        require_name(name, "fallback", '@guard.fallback("recommendations", default=[])')
        if default is not ...:
            rules["default"] = default

        def decorate(primary: Callable[P, R]) -> Callable[P, R]:
            chain = fallback_chain.FallbackChain(name, primary, *alternatives, **rules)
            return fallback_chain.wrap(self._degradation.add_chain(chain))

        return checked(decorate, f"@guard.fallback({name!r})")

    def stale_if_error(
        self,
        name: str,
        *,
        fresh: float,
        stale: float,
        key: Callable[..., Any] | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        **rules: Any,
    ) -> StaleCache:
        """Return stale cache ``name``: decorate a function (sync or async) with it.

        A result is answered without a call for ``fresh`` seconds, and while the source
        fails, for ``stale`` seconds (never to a request with an unsafe method), marked
        ``X-Degraded: <name>=stale``. With ``GUARD_BREAKER_STORAGE`` set to Redis, last good
        values are shared by the fleet (as JSON). See :class:`~flask_guard.degrade.StaleCache`.
        """
        example = '@guard.stale_if_error("catalogue", fresh=30, stale=3600)'
        require_name(name, "stale_if_error", example)
        cache = StaleCache(
            name, fresh=fresh, stale=stale, key=key, max_entries=max_entries, **rules
        )
        self._degradation.add_cache(cache)
        return cache

    def feature(
        self,
        name: str,
        depends_on: Sequence[str] = (),
        *,
        essential: bool = False,
        fallback: Callable[..., Any] | None = None,
    ) -> Feature:
        """Declare feature ``name``, off while a breaker of ``depends_on`` is open or an
        operator forced it off (``flask guard feature off NAME``).

        The feature decorates views and functions: while it is off they answer
        ``fallback(*args, **kwargs)`` (marked ``X-Degraded: <name>=off``) or a 503 with
        ``Retry-After``. ``essential`` features off make the service level ``minimal``,
        others ``degraded``.
        """
        require_name(name, "feature", 'guard.feature("recommendations", depends_on=["recs"])')
        return self.features.declare(name, depends_on, essential, fallback)

    def feature_enabled(self, name: str) -> bool:
        """Return whether feature ``name`` is on now.

        :raises KeyError: if no feature of that name is declared.
        """
        return self.features.state(name).enabled

    @property
    def service_level(self) -> ServiceLevel:
        """How much of the app works: full, degraded or minimal (see :meth:`feature`)."""
        return self.features.refresh()

    def health_check(
        self, name: str, timeout: float = DEFAULT_TIMEOUT, critical: bool = False
    ) -> Callable[[Callable[[], R]], Callable[[], R]]:
        """Fold the decorated function into ``/health`` as check ``name``.

        The function (sync or async) returns None or True when what it checks works;
        returning False, raising, or taking longer than ``timeout`` seconds makes the status
        ``degraded``, or ``unavailable`` (503) for a ``critical`` check.
        """

        require_name(name, "health_check", '@guard.health_check("db")')

        def register(check: Callable[[], R]) -> Callable[[], R]:
            self.health_checks.add(name, check, timeout, critical)
            return check

        return register
