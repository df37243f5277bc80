"""The guard's settings: every ``GUARD_*`` key, its default and its check, read once at
:meth:`~flask_guard.FlaskGuard.init_app` (:mod:`.keys`); and the warning for ``GUARD_*``
variables in the environment, where Flask never reads them (:mod:`.environment`)."""
