"""RFC 5861 stale-if-error on the guard's session, against a real upstream on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from flask import Flask, Response, request

from flask_guard import FlaskGuard

from ..conftest import make_app, serving


@dataclass
class Upstream:
    """What the upstream answers next: a status and its Cache-Control."""

    url: str = ""
    status: int = 200
    cache_control: str = "max-age=0, stale-if-error=60"
    extra: dict[str, str] = field(default_factory=dict)
    served: int = 0


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream()
    app = Flask("upstream")

    @app.route("/prices", methods=["GET", "POST"])
    def prices() -> Response:
        state.served += 1
        response = Response(f'{{"price": {state.served}}}', status=state.status)
        response.mimetype = "application/json"
        response.headers["Cache-Control"] = state.cache_control
        response.headers.update(state.extra)
        return response

    with serving(app) as url:
        state.url = url
        yield state


def client_app(**config: object) -> tuple[Flask, FlaskGuard]:
    app = make_app(GUARD_HTTP_RETRIES=0, **config)
    guard = FlaskGuard(app)

    @app.get("/prices")
    def prices() -> Response:
        answer = guard.session.get(request.args["url"])
        return Response(answer.content, status=answer.status_code, mimetype="application/json")

    return app, guard


def test_a_failing_upstream_is_answered_with_its_last_good_response_and_the_header(
    upstream: Upstream,
) -> None:
    app, _ = client_app()
    with serving(app) as url:
        first = requests.get(f"{url}/prices", params={"url": f"{upstream.url}/prices"}, timeout=5)
        upstream.status = 503
        second = requests.get(f"{url}/prices", params={"url": f"{upstream.url}/prices"}, timeout=5)
    assert first.json() == second.json() == {"price": 1}
    assert second.headers["X-Degraded"] == "upstream=stale"
    assert upstream.served == 2


def test_an_upstream_that_went_away_is_answered_stale_marked_as_such() -> None:
    gone = Flask("gone")

    @gone.get("/prices")
    def prices() -> Response:
        return Response('{"price": 7}', headers={"Cache-Control": "stale-if-error=60"})

    app, guard = client_app()
    with serving(gone) as url, app.test_request_context():
        good = guard.session.get(f"{url}/prices", timeout=5)
    with app.test_request_context():
        stale = guard.session.get(f"{url}/prices", timeout=5)  # nothing listens there now
    assert stale.content == good.content
    assert stale.headers["Warning"] == '110 - "Response is Stale"'
    assert int(stale.headers["Age"]) >= 0


def test_a_response_without_stale_if_error_is_not_kept_unless_a_default_is_set(
    upstream: Upstream,
) -> None:
    upstream.cache_control = "max-age=0"
    app, guard = client_app()
    with app.test_request_context():
        guard.session.get(f"{upstream.url}/prices", timeout=5)
        upstream.status = 500
        assert guard.session.get(f"{upstream.url}/prices", timeout=5).status_code == 500
    app, guard = client_app(GUARD_HTTP_STALE_IF_ERROR=30)
    upstream.status = 200
    with app.test_request_context():
        guard.session.get(f"{upstream.url}/prices", timeout=5)
        upstream.status = 500
        assert guard.session.get(f"{upstream.url}/prices", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("cache_control", "extra"),
    [
        ("private, stale-if-error=60", {}),
        ("no-store, stale-if-error=60", {}),
        ("stale-if-error=60", {"Set-Cookie": "session=1"}),
        ("stale-if-error=60", {"Vary": "Authorization"}),
    ],
)
def test_a_response_meant_for_one_user_is_never_kept(
    upstream: Upstream, cache_control: str, extra: dict[str, str]
) -> None:
    upstream.cache_control, upstream.extra = cache_control, extra
    app, guard = client_app()
    with app.test_request_context():
        guard.session.get(f"{upstream.url}/prices", timeout=5)
        upstream.status = 503
        assert guard.session.get(f"{upstream.url}/prices", timeout=5).status_code == 503


def test_a_request_with_credentials_is_never_answered_from_another_s_response(
    upstream: Upstream,
) -> None:
    app, guard = client_app()
    with app.test_request_context():
        guard.session.get(f"{upstream.url}/prices", timeout=5)
        upstream.status = 503
        answer = guard.session.get(
            f"{upstream.url}/prices", headers={"Authorization": "Bearer x"}, timeout=5
        )
    assert answer.status_code == 503


def test_unsafe_methods_are_never_answered_stale(upstream: Upstream) -> None:
    app, guard = client_app()
    with app.test_request_context():
        guard.session.get(f"{upstream.url}/prices", timeout=5)
        upstream.status = 503
        assert guard.session.post(f"{upstream.url}/prices", timeout=5).status_code == 503
    with app.test_request_context(method="POST"):  # a GET made while answering a POST
        assert guard.session.get(f"{upstream.url}/prices", timeout=5).status_code == 503
    with app.test_request_context():
        assert guard.session.get(f"{upstream.url}/prices", timeout=5).status_code == 200


def test_stale_if_error_can_be_turned_off(upstream: Upstream) -> None:
    app, guard = client_app(GUARD_HTTP_STALE_IF_ERROR=False)
    with app.test_request_context():
        guard.session.get(f"{upstream.url}/prices", timeout=5)
        upstream.status = 503
        assert guard.session.get(f"{upstream.url}/prices", timeout=5).status_code == 503


def test_a_response_past_its_window_is_not_served(upstream: Upstream) -> None:
    upstream.cache_control = "max-age=0, stale-if-error=1"
    app, guard = client_app()
    kept = guard.session.stale  # type: ignore[attr-defined]
    now = [100.0]
    kept._clock = lambda: now[0]
    with app.test_request_context():
        guard.session.get(f"{upstream.url}/prices", timeout=5)
        upstream.status = 503
        now[0] += 1.5
        assert guard.session.get(f"{upstream.url}/prices", timeout=5).status_code == 503
