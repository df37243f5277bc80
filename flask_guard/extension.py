"""``FlaskGuard``: the one object an application creates."""

from __future__ import annotations

from flask import Flask

from .config import DEFAULTS, load_config, override_key
from .handlers import install_error_handler
from .request_id import install_request_ids


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
            app.config.setdefault(key, default)
        config = load_config(app.config, self._overrides)
        install_request_ids(app, config.request_id_header, config.trust_request_id)
        install_error_handler(app, config.error_format)
        app.extensions["guard"] = self
        app.extensions["guard.config"] = config
