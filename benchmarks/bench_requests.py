"""Happy-path cost of a guarded app against plain Flask, through the WSGI interface, and the
cost of its error path (a 404 and an unhandled exception) next to plain Flask's.

Run: ``python benchmarks/bench_requests.py`` (``--smoke`` to check it runs).
Goal: guarded / plain <= 1.08 on the happy path of a client that sends no ``traceparent``
(the request's trace is then never made); a client continuing its trace is shown beside.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from flask import Flask
from werkzeug.test import EnvironBuilder

from _timing import best_per_call, parse_args
from flask_guard import FlaskGuard

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

GOAL = 1.08
TRACEPARENT = ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")


def make_app(guarded: bool, **config: object) -> Flask:
    app = Flask(f"bench_{guarded}")
    app.config.update(config)
    if guarded:
        FlaskGuard(app)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, object]:
        return {"id": order_id, "status": "paid"}

    @app.get("/crash")
    def crash() -> NoReturn:
        raise RuntimeError("boom")

    return app


def wsgi_call(
    app: Flask, headers: list[tuple[str, str]], path: str = "/orders/42", status: str = "200"
) -> Callable[[], object]:
    environ = EnvironBuilder(path=path, headers=headers).get_environ()

    def start_response(
        got: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        assert got.startswith(status), got
        return len

    def call() -> object:
        return b"".join(app(dict(environ), start_response))

    return call


def main() -> None:
    args = parse_args(__doc__ or "")
    calls, rounds = (50, 2) if args.smoke else (5000, 7)
    subjects = {
        "plain Flask": wsgi_call(make_app(False), []),
        "guarded (new request id)": wsgi_call(make_app(True), []),
        "guarded (client request id)": wsgi_call(
            make_app(True), [("X-Request-ID", "1b4e28ba-2fa1-11d2-883f-0016d3cca427")]
        ),
        "guarded (client traceparent)": wsgi_call(make_app(True), [TRACEPARENT]),
    }
    best = best_per_call(subjects, calls, rounds)
    plain = best["plain Flask"]
    for name, seconds in best.items():
        print(f"{name:30} {seconds * 1e6:8.2f} us/request   {seconds / plain:5.2f}x plain")
    worst = max(v for k, v in best.items() if "traceparent" not in k) / plain
    print(f"guarded / plain (worst case): {worst:.2f}x   goal <= {GOAL}x")

    logging.disable(logging.CRITICAL)  # measure the error path, not the terminal
    quiet = {"PROPAGATE_EXCEPTIONS": False}
    errors = {
        "plain Flask 404": wsgi_call(make_app(False), [], "/nowhere", "404"),
        "guarded 404": wsgi_call(make_app(True), [], "/nowhere", "404"),
        "plain Flask 500": wsgi_call(make_app(False, **quiet), [], "/crash", "500"),
        "guarded 500": wsgi_call(make_app(True, **quiet), [], "/crash", "500"),
    }
    best = best_per_call(errors, calls // 5 or 1, rounds)
    for name, seconds in best.items():
        peer = best[name.replace("guarded", "plain Flask")]
        print(f"{name:30} {seconds * 1e6:8.2f} us/request   {seconds / peer:5.2f}x plain")


if __name__ == "__main__":
    main()
