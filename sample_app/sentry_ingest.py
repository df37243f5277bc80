"""A Sentry ingest on your machine, to watch the demo's events arrive without a Sentry account.

Run ``python -m sample_app.sentry_ingest`` (``--port`` to change 9000), then start the demo
with the DSN it prints. Each event the demo sends is printed as it arrives: its id (the
``id`` the client got), level, title and request id. It serves
:class:`flask_guard.testing.SentryIngest`, which needs the ``test`` extra (pytest).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from flask_guard.testing import SentryIngest


class PrintingIngest(SentryIngest):
    """A :class:`SentryIngest` that prints each new event."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Take one envelope and print the events it brought."""
        known = set(self.events)
        response = super().__call__(environ, start_response)
        for event_id in self.events.keys() - known:
            print(describe(self.events[event_id]), flush=True)
        return response


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Leave the SDK's posts out of the output: the events are the news."""


def describe(event: dict[str, Any]) -> str:
    """Return one line about ``event``: id, level, title, request id."""
    exceptions = event.get("exception", {}).get("values") or [{}]
    last = exceptions[-1]
    title = f"{last.get('type')}: {last.get('value')}" if last else event.get("message", "")
    tags = event.get("tags", {})
    request_id = tags.get("request_id", "-") if isinstance(tags, dict) else "-"
    return f"event {event['event_id']} {event.get('level')} {title!r} request_id={request_id}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    port = parser.parse_args().port
    ingest = PrintingIngest()
    ingest.url = f"http://127.0.0.1:{port}"
    server = make_server("127.0.0.1", port, ingest, threaded=True, request_handler=_QuietHandler)
    print(f"Sentry ingest listening on {ingest.url}. Start the demo with:", flush=True)
    print(f"  SENTRY_DSN={ingest.dsn} python -m flask --app sample_app run", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
