"""Cost of the ids the guard puts on log records: a request whose view writes one log line,
guarded against plain Flask, and one line written outside a request, before and after a
guard is set up (the ids are set for every record of the process).

Run: ``python benchmarks/bench_logging.py`` (``--smoke`` to check it runs).
Goal: guarded / plain <= 1.15 for a request that logs; <= 1.10 for a line outside a request.
"""

from __future__ import annotations

import io
import logging
import types
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.test import EnvironBuilder

from _timing import best_per_call, parse_args
from flask_guard import FlaskGuard

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

GOAL_REQUEST = 1.15
GOAL_LINE = 1.10
REQUEST_PLAIN = "plain Flask, the view logs a line"
REQUEST_GUARDED = "guarded, the view logs a line"
LINE_PLAIN = "a line outside a request, no ids"
LINE_GUARDED = "a line outside a request, with ids"


def make_app(guarded: bool) -> Flask:
    app = Flask(f"bench_logging_{guarded}")
    if guarded:
        FlaskGuard(app)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, object]:
        app.logger.info("order %s looked up", order_id)
        return {"id": order_id, "status": "paid"}

    return app


def wsgi_call(app: Flask) -> Callable[[], object]:
    environ = EnvironBuilder(path="/orders/42").get_environ()

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        return len

    def call() -> object:
        return b"".join(app(dict(environ), start_response))

    return call


def main() -> None:
    args = parse_args(__doc__ or "")
    calls, rounds = (50, 2) if args.smoke else (3000, 7)
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    plain = make_app(False)
    guarded = make_app(True)  # from here on every record of the process gets its ids
    with_ids = logging.getLogger("bench.outside")
    # The same logger without the ids: the stock makeRecord the guard wrapped.
    without_ids = logging.Logger("bench.outside")
    without_ids.parent = root
    stock = logging.Logger.makeRecord.__wrapped__  # type: ignore[attr-defined]
    without_ids.makeRecord = types.MethodType(stock, without_ids)  # type: ignore[method-assign]
    subjects = {
        REQUEST_PLAIN: wsgi_call(plain),
        REQUEST_GUARDED: wsgi_call(guarded),
        LINE_PLAIN: lambda: without_ids.info("a line outside any request"),
        LINE_GUARDED: lambda: with_ids.info("a line outside any request"),
    }
    best = best_per_call(subjects, calls, rounds)
    ratios = {}
    for name, peer in ((REQUEST_GUARDED, REQUEST_PLAIN), (LINE_GUARDED, LINE_PLAIN)):
        ratios[name] = best[name] / best[peer]
        for subject in (peer, name):
            ratio = best[subject] / best[peer]
            print(f"{subject:38} {best[subject] * 1e6:8.2f} us   {ratio:5.2f}x")
    print(
        f"request that logs: {ratios[REQUEST_GUARDED]:.2f}x plain (goal <= {GOAL_REQUEST}x); "
        f"line outside a request: {ratios[LINE_GUARDED]:.2f}x (goal <= {GOAL_LINE}x)"
    )


if __name__ == "__main__":
    main()
