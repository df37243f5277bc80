"""Happy-path cost of a guarded app against plain Flask, through the WSGI interface.

Run: ``python benchmarks/bench_requests.py`` (``--smoke`` to check it runs).
Goal: guarded / plain <= 1.15.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.test import EnvironBuilder

from _timing import best_per_call, parse_args
from flask_guard import FlaskGuard

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

GOAL = 1.15


def make_app(guarded: bool, **config: object) -> Flask:
    app = Flask(f"bench_{guarded}")
    app.config.update(config)
    if guarded:
        FlaskGuard(app)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, object]:
        return {"id": order_id, "status": "paid"}

    return app


def wsgi_call(app: Flask, headers: list[tuple[str, str]]) -> Callable[[], object]:
    environ = EnvironBuilder(path="/orders/42", headers=headers).get_environ()

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        assert status.startswith("200")
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
    }
    best = best_per_call(subjects, calls, rounds)
    plain = best["plain Flask"]
    for name, seconds in best.items():
        print(f"{name:30} {seconds * 1e6:8.2f} us/request   {seconds / plain:5.2f}x plain")
    worst = max(best.values()) / plain
    print(f"guarded / plain (worst case): {worst:.2f}x   goal <= {GOAL}x")


if __name__ == "__main__":
    main()
