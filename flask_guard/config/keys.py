"""Configuration keys, their defaults, and their validation.

Every ``GUARD_*`` key is declared once here, in :data:`DEFAULTS`; the docs table is
checked against it by a test. Values are validated once, in
:meth:`flask_guard.FlaskGuard.init_app`.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .. import validators
from ..breaker.policy import policy_from
from ..errors import exceptions as errors
from ..outbound.settings import DEFAULT as HTTP_DEFAULT
from ..outbound.settings import SESSION_OPTION_RULES, SessionSettings
from ..resilience.request_budget import MAX_BUDGET

ErrorFormat = Literal["envelope", "problem"]
JsonErrors = Literal["negotiate", "always"] | tuple[str, ...]
LogTracebacks = Literal["unexpected", "always"]

#: Every configuration key with its default value.
DEFAULTS: dict[str, object] = {
    "GUARD_ERROR_FORMAT": "envelope",
    "GUARD_REQUEST_ID_HEADER": "X-Request-ID",
    "GUARD_TRUST_REQUEST_ID": True,
    "GUARD_BREAKER_DEFAULTS": {},
    "GUARD_BREAKER_STORAGE": "memory",
    "GUARD_REDIS_PREFIX": "flask-guard",
    "GUARD_HTTP_RETRIES": HTTP_DEFAULT.retries,
    "GUARD_HTTP_BACKOFF_FACTOR": HTTP_DEFAULT.backoff_factor,
    "GUARD_HTTP_TIMEOUT": HTTP_DEFAULT.timeout,
    "GUARD_HTTP_POOL_MAXSIZE": HTTP_DEFAULT.pool_maxsize,
    "GUARD_HTTP_MAX_RETRY_AFTER": HTTP_DEFAULT.max_retry_after,
    "GUARD_HTTP_TOTAL_TIMEOUT": HTTP_DEFAULT.total_timeout,
    "GUARD_HTTP_MAX_CONCURRENT": HTTP_DEFAULT.max_concurrent,
    "GUARD_HTTP_MAX_RESPONSE_BYTES": HTTP_DEFAULT.max_response_bytes,
    "GUARD_REQUEST_TIMEOUT": None,
    "GUARD_SENTRY_ENVIRONMENT": None,
    "GUARD_SENTRY_RELEASE": None,
    "GUARD_SENTRY_SAMPLE_RATE": 1.0,
    "GUARD_SENTRY_TRACES_SAMPLE_RATE": None,
    "GUARD_SENTRY_CAPTURE_4XX": False,
    "GUARD_SENTRY_SCRUB_FIELDS": (),
    "GUARD_SENTRY_QUEUE_SIZE": 1000,
    "GUARD_HEALTH_PATH": "/health",
    "GUARD_HEALTH_CRITICAL_BREAKERS": (),
    "GUARD_LOG_JSON": False,
    "GUARD_METRICS_PATH": None,
    "GUARD_HEALTH_TOKEN": None,
    "GUARD_EXPOSE_UPSTREAM_NAMES": False,
    "GUARD_JSON_ERRORS": "negotiate",
    "GUARD_LOG_TRACEBACKS": "unexpected",
    "GUARD_HTTP_STALE_IF_ERROR": True,
}

_HEADER_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

GuardConfigError = errors.GuardConfigError


@dataclass(frozen=True, slots=True)
class SentrySettings:
    """The ``GUARD_SENTRY_*`` settings of one app."""

    environment: str | None
    release: str | None
    sample_rate: float
    traces_sample_rate: float | None
    capture_4xx: bool
    scrub_fields: tuple[str, ...]
    queue_size: int = 1000


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """The validated configuration of one application."""

    error_format: ErrorFormat
    request_id_header: str
    trust_request_id: bool
    breaker_defaults: dict[str, object]
    breaker_storage: object
    """``"memory"``, a ``redis://`` or ``rediss://`` URL, or a ``redis.Redis`` client."""
    redis_prefix: str
    http: SessionSettings
    request_timeout: float | None
    sentry: SentrySettings
    health_path: str | None
    health_critical_breakers: tuple[str, ...]
    log_json: bool
    metrics_path: str | None
    json_errors: JsonErrors
    log_tracebacks: LogTracebacks
    health_token: str | None = None
    expose_upstream_names: bool = False
    http_stale_if_error: bool | float = True
    """True: honour an upstream's ``stale-if-error``; seconds: also for responses without
    one; False: never answer a failed GET with a kept response."""


def override_key(name: str) -> str:
    """Return the config key that the :class:`~flask_guard.FlaskGuard` argument ``name`` sets."""
    return f"GUARD_{name.upper()}"


def load_config(app_config: Mapping[str, object], overrides: Mapping[str, object]) -> GuardConfig:
    """Validate the ``GUARD_*`` keys of ``app_config``, with ``overrides`` taking precedence.

    :raises GuardConfigError: naming the key, the bad value and what is allowed.
    """
    _reject_unknown_keys(app_config)
    values = {key: app_config.get(key, default) for key, default in DEFAULTS.items()}
    values.update({override_key(name): value for name, value in overrides.items()})
    return GuardConfig(
        error_format=_error_format(values, "GUARD_ERROR_FORMAT"),
        request_id_header=_header_name(values, "GUARD_REQUEST_ID_HEADER"),
        trust_request_id=_bool(values, "GUARD_TRUST_REQUEST_ID"),
        breaker_defaults=_breaker_defaults(values, "GUARD_BREAKER_DEFAULTS"),
        breaker_storage=_breaker_storage(values, "GUARD_BREAKER_STORAGE"),
        redis_prefix=_prefix(values, "GUARD_REDIS_PREFIX"),
        http=_http_options(values),
        request_timeout=_request_timeout(values, "GUARD_REQUEST_TIMEOUT"),
        sentry=SentrySettings(
            environment=_optional_text(values, "GUARD_SENTRY_ENVIRONMENT"),
            release=_optional_text(values, "GUARD_SENTRY_RELEASE"),
            sample_rate=_rate(values, "GUARD_SENTRY_SAMPLE_RATE"),
            traces_sample_rate=_optional_rate(values, "GUARD_SENTRY_TRACES_SAMPLE_RATE"),
            capture_4xx=_bool(values, "GUARD_SENTRY_CAPTURE_4XX"),
            scrub_fields=_names(values, "GUARD_SENTRY_SCRUB_FIELDS"),
            queue_size=_queue_size(values, "GUARD_SENTRY_QUEUE_SIZE"),
        ),
        health_path=_path(values, "GUARD_HEALTH_PATH"),
        health_critical_breakers=_names(values, "GUARD_HEALTH_CRITICAL_BREAKERS"),
        log_json=_bool(values, "GUARD_LOG_JSON"),
        metrics_path=_metrics_path(values, "GUARD_METRICS_PATH"),
        health_token=_token(values, "GUARD_HEALTH_TOKEN"),
        expose_upstream_names=_bool(values, "GUARD_EXPOSE_UPSTREAM_NAMES"),
        json_errors=_json_errors(values, "GUARD_JSON_ERRORS"),
        log_tracebacks=_log_tracebacks(values, "GUARD_LOG_TRACEBACKS"),
        http_stale_if_error=_stale_if_error(values, "GUARD_HTTP_STALE_IF_ERROR"),
    )


#: Keys a newcomer writes with the ``GUARD_`` prefix that are read without it.
_UNPREFIXED = {"GUARD_SENTRY_DSN": "SENTRY_DSN", "GUARD_DSN": "SENTRY_DSN"}


def unknown_overrides(names: list[str]) -> str:
    """Say which constructor settings are unknown, with the name meant where one is close."""
    allowed = [key.removeprefix("GUARD_").lower() for key in DEFAULTS]
    hints = []
    for name in names:
        meant = name.removeprefix("GUARD_").lower()
        close = [meant] if meant in allowed else difflib.get_close_matches(meant, allowed, n=1)
        if close:
            hints.append(f"{name!r} -> {close[0]}")
    said = f" (did you mean: {', '.join(hints)}?)" if hints else ""
    return (
        f"FlaskGuard got unknown settings {names}{said}; settings are the GUARD_* keys "
        f"without the prefix, in lower case: {', '.join(allowed)}"
    )


def _reject_unknown_keys(app_config: Mapping[str, object]) -> None:
    for key in app_config:
        if key.startswith("GUARD_") and key not in DEFAULTS:
            if key in _UNPREFIXED:
                hint = f"; the DSN is read from {_UNPREFIXED[key]} (config or environment)"
            else:
                close = difflib.get_close_matches(key, DEFAULTS, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
            raise GuardConfigError(f"{key} is not a flask-guard setting{hint}")


def _invalid(key: str, value: object, allowed: str) -> GuardConfigError:
    return validators.invalid(key, value, allowed, GuardConfigError)


def _error_format(values: Mapping[str, object], key: str) -> ErrorFormat:
    value = values[key]
    if value == "envelope" or value == "problem":
        return value
    raise _invalid(key, value, '"envelope" or "problem"')


def _json_errors(values: Mapping[str, object], key: str) -> JsonErrors:
    value = values[key]
    if value == "negotiate" or value == "always":
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(p, str) and p.startswith("/") for p in value
    ):
        return tuple(value)
    allowed = '"negotiate", "always" or a list of path prefixes such as ["/api/"]'
    raise _invalid(key, value, allowed)


def _stale_if_error(values: Mapping[str, object], key: str) -> bool | float:
    value = values[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and 0 < value < math.inf:
        return float(value)
    allowed = "True (honour the upstream's stale-if-error), False, or seconds above 0"
    raise _invalid(key, value, allowed)


def _log_tracebacks(values: Mapping[str, object], key: str) -> LogTracebacks:
    value = values[key]
    if value == "unexpected" or value == "always":
        return value
    raise _invalid(key, value, '"unexpected" or "always"')


def _header_name(values: Mapping[str, object], key: str) -> str:
    value = values[key]
    if isinstance(value, str) and _HEADER_TOKEN.fullmatch(value):
        return value
    raise _invalid(key, value, "an HTTP header name such as 'X-Request-ID'")


def _bool(values: Mapping[str, object], key: str) -> bool:
    return validators.flag(key, values[key], GuardConfigError)


def _breaker_defaults(values: Mapping[str, object], key: str) -> dict[str, object]:
    value = values[key]
    if not isinstance(value, Mapping):
        raise _invalid(
            key, value, "a dict of circuit breaker options, e.g. {'failure_threshold': 3}"
        )
    try:
        policy_from(value)
    except (TypeError, ValueError) as error:
        raise GuardConfigError(
            f"{key} must hold valid breaker options ({error}), got {value!r}"
        ) from None
    return dict(value)


_HTTP_OPTIONS = {
    "GUARD_HTTP_RETRIES": "retries",
    "GUARD_HTTP_BACKOFF_FACTOR": "backoff_factor",
    "GUARD_HTTP_TIMEOUT": "timeout",
    "GUARD_HTTP_POOL_MAXSIZE": "pool_maxsize",
    "GUARD_HTTP_MAX_RETRY_AFTER": "max_retry_after",
    "GUARD_HTTP_TOTAL_TIMEOUT": "total_timeout",
    "GUARD_HTTP_MAX_CONCURRENT": "max_concurrent",
    "GUARD_HTTP_MAX_RESPONSE_BYTES": "max_response_bytes",
}


def _http_options(values: Mapping[str, object]) -> SessionSettings:
    """Return the ``GUARD_HTTP_*`` values as the settings of ``guard.session``."""
    options: dict[str, object] = {}
    for key, name in _HTTP_OPTIONS.items():
        value = values[key]
        if isinstance(value, list):  # JSON from the environment has no tuples
            value = tuple(value)
        options[name] = SESSION_OPTION_RULES[name](key, value, GuardConfigError)
    return SessionSettings(**options)  # type: ignore[arg-type]


def _request_timeout(values: Mapping[str, object], key: str) -> float | None:
    value = values[key]
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_BUDGET:
        return float(value)
    raise _invalid(key, value, "seconds above 0 (at most a day), or None for no budget")


def _optional_text(values: Mapping[str, object], key: str) -> str | None:
    value = values[key]
    if value is None or (isinstance(value, str) and value):
        return value
    raise _invalid(key, value, "a non-empty string or None")


def _rate(values: Mapping[str, object], key: str) -> float:
    return validators.rate(key, values[key], GuardConfigError)


def _optional_rate(values: Mapping[str, object], key: str) -> float | None:
    return None if values[key] is None else _rate(values, key)


def _names(values: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = values[key]
    if isinstance(value, list | tuple) and all(isinstance(n, str) and n for n in value):
        return tuple(value)
    raise _invalid(key, value, "a list of names, e.g. ['payments']")


def _queue_size(values: Mapping[str, object], key: str) -> int:
    value = values[key]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise _invalid(key, value, "a whole number of events, at least 1")


def _token(values: Mapping[str, object], key: str) -> str | None:
    value = values[key]
    if value is None or (isinstance(value, str) and len(value) >= 16 and value.isprintable()):
        return value
    shown = value if not isinstance(value, str) else f"a {len(value)}-character string"
    raise _invalid(key, shown, "None or a secret of at least 16 printable characters")


def _breaker_storage(values: Mapping[str, object], key: str) -> object:
    value = values[key]
    if value == "memory" or (hasattr(value, "register_script") and hasattr(value, "pubsub")):
        return value
    from ..storage.redis_urls import ALLOWED, parse_url, redacted

    if not isinstance(value, str):
        raise _invalid(key, value, ALLOWED)
    try:
        parse_url(value)
    except ValueError as error:
        raise GuardConfigError(f"{key} {error}, got {redacted(value)!r}") from None
    if importlib.util.find_spec("redis") is None:
        raise GuardConfigError(
            f"{key} is {redacted(value)!r}, which needs the redis package: "
            "pip install 'flask-api-guard[redis]'"
        )
    return value


def _prefix(values: Mapping[str, object], key: str) -> str:
    value = values[key]
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    raise _invalid(key, value, "a non-empty key prefix without spaces")


def _path(values: Mapping[str, object], key: str) -> str | None:
    value = values[key]
    if value is None or (isinstance(value, str) and value.startswith("/")):
        return value
    raise _invalid(key, value, "a URL path starting with '/', or None to turn it off")


def _metrics_path(values: Mapping[str, object], key: str) -> str | None:
    path = _path(values, key)
    if path is not None and importlib.util.find_spec("prometheus_client") is None:
        raise GuardConfigError(
            f"{key} is {path!r}, which needs the prometheus-client package: "
            "pip install 'flask-api-guard[prometheus]'"
        )
    return path
