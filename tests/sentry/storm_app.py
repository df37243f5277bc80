"""An error storm in a process of its own, which then exits as a deployed app does.

``python -m tests.sentry.storm_app <started> <dsn> <count>`` starts Sentry as ``started``
says (see :func:`tests.sentry.test_sentry_storms.sentry_app`), answers ``count`` failing
requests, prints their error ids as JSON and exits. Logging is what production often has: a
root logger at WARNING writing to stderr, and the delivery logger set to INFO.
"""

from __future__ import annotations

import json
import logging
import sys

from .test_sentry_storms import error_ids, sentry_app

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("flask_guard.sentry_delivery").setLevel(logging.INFO)
    app = sentry_app(sys.argv[1], sys.argv[2], queue_size=100)
    logging.getLogger("tests.conftest").disabled = True  # one error line per request
    print(json.dumps(error_ids(app, int(sys.argv[3]))), flush=True)
