"""Every use of a dependency's private API, one module per library.

Each module holds the few lines that rely on a name a library does not promise to keep
(``flask.py``, ``werkzeug.py``, ``urllib3.py``, ``requests.py``, ``sentry_sdk.py``,
``httpx.py``, ``opentelemetry.py``), and
``tests/compat/`` checks each shape, so that a release which changes one fails a test
naming the library, its version and the attribute, not a user's request. Everything else
in the package uses public APIs only.
"""
