"""An app that puts secrets in every part of a Sentry event, run in a process of its own per
Sentry setup (Sentry sets its integrations up once per process).

``python -m tests.sentry.planting <setup> <dsn> <upstream url> <secrets as JSON>`` prints
the error ids it got as JSON, then exits (so Sentry's at-exit flush runs as in production).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import requests
import sentry_sdk
from flask import Flask

from flask_guard import FlaskGuard

LOG = logging.getLogger("planting")
SETUPS = (
    "guard",
    "app before, default integrations",
    "app after, default integrations",
    "app before, own integrations",
    "app before, own before_send",
    "app before, tracing",
    "app before, Sentry logs",
)


# Read by the views as a global: a closure's variables would be frame variables too.
S: dict[str, str] = {}


@dataclass
class Creds:
    user: str
    password: str


def start_app_sentry(setup: str, dsn: str, seen: list[str]) -> None:
    if setup == "app before, own integrations":
        from sentry_sdk.integrations.flask import FlaskIntegration
        from sentry_sdk.integrations.logging import LoggingIntegration
        from sentry_sdk.integrations.stdlib import StdlibIntegration

        sentry_sdk.init(
            dsn=dsn,
            default_integrations=False,
            integrations=[FlaskIntegration(), LoggingIntegration(), StdlibIntegration()],
        )
    elif setup == "app before, own before_send":

        def before_send(event: Any, hint: Any) -> Any:
            seen.append(json.dumps(event, default=str))
            event.setdefault("tags", {})["checked_by"] = "app"
            return event

        sentry_sdk.init(dsn=dsn, before_send=before_send)
    elif setup == "app before, Sentry logs":
        sentry_sdk.init(dsn=dsn, enable_logs=True)
    elif setup == "app before, tracing":
        sentry_sdk.init(dsn=dsn, traces_sample_rate=1.0)
    else:
        sentry_sdk.init(dsn=dsn)


def planted_app(setup: str, dsn: str, upstream: str) -> tuple[Flask, list[str]]:
    seen: list[str] = []
    app = Flask("planting")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    if setup == "guard":
        app.config["SENTRY_DSN"] = dsn
    elif "before" in setup:
        start_app_sentry(setup, dsn, seen)
    FlaskGuard(app)
    if "after" in setup:
        start_app_sentry(setup, dsn, seen)
    S["host"] = upstream.removeprefix("http://")

    @app.post("/pay")
    def pay() -> NoReturn:
        password = S["local_password"]  # frame variables
        creds = Creds("bob", S["local_repr"])
        note = f"api_key={S['local_text']}"
        sentry_sdk.set_extra("db_url", f"postgres://app:{S['extra_url']}@db:5432/orders")
        sentry_sdk.set_extra("client_secret", S["extra_named"])
        sentry_sdk.set_context("payment", {"card": S["context_card"], "memo": f"pin={S['ctx']}"})
        sentry_sdk.set_tag("api_key", S["tag_named"])
        sentry_sdk.set_tag("callback", f"https://hook:{S['tag_url']}@hooks.example/cb")
        sentry_sdk.set_user({"id": "42", "email": f"{S['email']}@example.com", "username": "x"})
        LOG.warning("login for alice password=%s", S["log_param"])
        sentry_sdk.logger.warning("signed in with password={password}", password=S["sdk_log"])
        LOG.warning("presented %s", S["jwt"])
        LOG.warning("paid with %s", S["card_text"])
        LOG.warning("upstream said: Basic %s", S["basic"])
        sentry_sdk.add_breadcrumb(
            category="custom",
            message=f"refreshed with Bearer {S['crumb_bearer']}",
            data={"refresh_token": S["crumb_data"]},
        )
        requests.get(
            f"http://user:{S['outbound_userinfo']}@{S['host']}/v1/charge"
            f"?api_key={S['outbound_query']}&page=3",
            timeout=5,
        )
        with sentry_sdk.start_span(
            op="db", name=f"SELECT * FROM users WHERE password='{S['span_description']}'"
        ) as span:
            span.set_data("db.password", S["span_data"])
            span.set_data("db.url", f"mysql://root:{S['span_url']}@db/x")
        assert password
        assert creds
        assert note
        try:
            raise ValueError(f"api_key: {S['cause_colon']} {{'password': '{S['cause_dict']}'}}")
        except ValueError as cause:
            raise RuntimeError(
                f'{creds!r} password="{S["message_dq"]}" token={S["message_eq"]} '
                f"cannot reach postgres://app:{S['message_url']}@db/orders"
            ) from cause

    @app.post("/form")
    def form() -> NoReturn:
        raise RuntimeError("form rejected")

    @app.post("/raw")
    def raw() -> NoReturn:
        raise RuntimeError("raw rejected")

    @app.get("/logged")
    def logged() -> str:
        LOG.error("charge failed token=%s for %s", S["logentry_param"], "alice")
        return "ok"

    return app, seen


def run(setup: str, dsn: str, upstream: str, secrets: dict[str, str], card: str) -> None:
    S.update(secrets)
    app, seen = planted_app(setup, dsn, upstream)
    client = app.test_client()
    ids = []
    response = client.post(
        f"/pay?access_token={secrets['query']}&page=2",
        json={
            "card_number": card,
            "cvv": secrets["body_cvv"],
            "password": secrets["body_password"],
            "nested": {"deeper": [{"api_key": secrets["body_deep"]}]},
            "memo": f"my card is {secrets['body_card_text']}",
        },
        headers={
            "Cookie": f"session={secrets['cookie']}",
            "X-Auth-Token": secrets["header_named"],
            "Authorization": f"Bearer {secrets['header_bearer']}",
            "X-Callback": f"https://hook:{secrets['header_url']}@hooks.example/cb",
        },
    )
    ids.append(response.headers["X-Error-ID"])
    response = client.post(
        "/form",
        data={
            "otp": secrets["form_otp"],
            "pin": secrets["form_pin"],
            "card_number": secrets["form_card"],
            "password": secrets["form_password"],
            "page": "2",
        },
    )
    ids.append(response.headers["X-Error-ID"])
    response = client.post(
        "/raw",
        data=f"password={secrets['raw_password']}&page=2",
        content_type="text/plain",
    )
    ids.append(response.headers["X-Error-ID"])
    client.get("/logged")
    sentry_sdk.flush(timeout=10)
    print(json.dumps({"ids": ids, "before_send_calls": len(seen), "seen": seen}))


if __name__ == "__main__":
    arguments = json.loads(sys.argv[4])
    run(sys.argv[1], sys.argv[2], sys.argv[3], arguments["secrets"], arguments["card"])
