"""The checked options of :func:`~flask_guard.robust_session` and the ``GUARD_HTTP_*``
settings built from them; nothing here imports requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from .. import validators

Timeout = float | tuple[float, float]

#: The default ``max_response_bytes``: 10 MiB of decoded body. A JSON API's answers are a few
#: kilobytes; ten megabytes is a thousand times that, and a gunicorn worker of four threads
#: reading four refused bodies at once still grows by tens of megabytes, not gigabytes.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024

Check = Callable[[str, object, type[ValueError]], object]

#: How each checked :func:`~flask_guard.robust_session` argument is validated:
#: ``check(name, value, error)`` returns the value or raises ``error`` saying what is allowed.
SESSION_OPTION_RULES: dict[str, Check] = {
    "retries": lambda name, value, error: validators.whole_number(name, value, 0, error),
    "backoff_factor": validators.delay,
    "timeout": validators.timeout,
    "pool_maxsize": lambda name, value, error: validators.whole_number(name, value, 1, error),
    "max_retry_after": validators.delay,
    "total_timeout": validators.seconds,
    "max_concurrent": lambda name, value, error: validators.optional_whole_number(
        name, value, 1, error
    ),
    "max_response_bytes": lambda name, value, error: validators.optional_whole_number(
        name, value, 1, error
    ),
}


def check_options(error: type[ValueError] = ValueError, **options: object) -> None:
    """Raise ``error`` naming the first invalid :func:`~flask_guard.robust_session` argument."""
    for name, value in options.items():
        SESSION_OPTION_RULES[name](name, value, error)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The ``GUARD_HTTP_*`` settings: :func:`~flask_guard.robust_session` arguments for
    ``guard.session``. Their defaults are those of the config keys and of
    :func:`~flask_guard.robust_session`."""

    retries: int = 3
    backoff_factor: float = 0.5
    timeout: Timeout = (3.05, 10.0)
    pool_maxsize: int = 10
    max_retry_after: float = 10.0
    total_timeout: float = 20.0
    max_concurrent: int | None = None
    max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        check_options(**asdict(self))


#: The defaults, the one source for :func:`~flask_guard.robust_session`'s signature and the
#: ``GUARD_HTTP_*`` keys.
DEFAULT = SessionSettings()
