"""Secrets never reach Sentry: names matched by pattern, in every part of every event."""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

import pytest
import sentry_sdk
from flask import Flask
from pytest_httpserver import HTTPServer

from flask_guard import FlaskGuard
from flask_guard.redaction.scrubbing import FILTERED, Scrubber
from flask_guard.testing import SentryIngest

from ..conftest import error_of, make_app

SECRET_NAMES = [
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "Set-Cookie",
    "X-Api-Key",
    "X-Auth-Token",
    "X-Access-Token",
    "X-Csrf-Token",
    "X-CSRFToken",
    "X-XSRF-TOKEN",
    "Private-Token",
    "X-Session-Id",
    "X-Client-Secret",
    "X-Amz-Security-Token",
    "X-Hub-Signature-256",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "signature",
    "jwt",
    "apiKey",
    "APIKey",
    "api_key",
    "password",
    "passwd",
    "new_password_confirm",
    "pass_word",
    "sessionid",
    "credentials",
    "aws_secret_access_key",
    "privateKey",
    "card_cvv",
    "X-Forwarded-For",
    "X-Real-IP",
    "pass",
    "sig",
    "code",
    "ssn",
    "card",
    "card_number",
    "X-Sig",
    "X-Hmac",
    "X-Otp",
    "X-Passcode",
    "X-Client-Cert",
]
PLAIN_NAMES = [
    "Content-Type",
    "Accept",
    "User-Agent",
    "Host",
    "X-Request-ID",
    "page",
    "sort",
    "author",
    "authors",
    "keyword",
    "order_id",
    "reason",
    "url",
    "http.query",
    "status_code",
    "error_code",
    "signal",
    "discard",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_match_by_pattern(name: str) -> None:
    assert Scrubber().is_sensitive(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_everyday_names_are_kept(name: str) -> None:
    assert not Scrubber().is_sensitive(name)


def test_configured_fields_add_patterns() -> None:
    scrubber = Scrubber(["tenant", "X-Customer-Ref"])
    assert scrubber.is_sensitive("X-Tenant-Id")
    assert scrubber.is_sensitive("tenant_name")
    assert scrubber.is_sensitive("x_customer_ref")
    assert not scrubber.is_sensitive("customer")


def test_text_filters_pairs_json_members_and_bearer_credentials() -> None:
    scrubber = Scrubber()
    text = (
        "GET /v1/x?api_key=S1&page=2&password=S2#access_token=S3 "
        '{"client_secret": "S4", "name": "ok"} Authorization: Bearer S5S5S5S5 '
        "session=S6; theme=dark"
    )
    scrubbed = scrubber.text(text)
    for secret in ("S1", "S2", "S3", "S4", "S5", "S6"):
        assert secret not in scrubbed
    for kept in ("page=2", '"name": "ok"', "theme=dark", f"api_key={FILTERED}"):
        assert kept in scrubbed


def test_data_is_scrubbed_by_key_at_any_depth_without_recursing_forever() -> None:
    scrubber = Scrubber()
    deep: Any = {"token": "S1"}
    for _ in range(5000):
        deep = {"next": deep}
    assert "S1" not in json.dumps(scrubber.data({"a": [{"b": {"X-Auth-Token": "S1"}}], "d": deep}))


def test_hostile_names_do_not_grow_the_cache_without_bound() -> None:
    scrubber = Scrubber()
    for n in range(20_000):
        scrubber.is_sensitive(f"field{n}")
    assert len(scrubber._verdicts) <= 4096


SECRETS = [f"S3CR3T{n}" for n in range(10)]
TENANT = "acme-" + "9"


def leaky_app(ingest: SentryIngest, upstream: str, **config: object) -> Flask:
    app = make_app(**config)
    guard = FlaskGuard(app)

    @app.get("/leak")
    def leak() -> NoReturn:
        logging.getLogger("tests.leak").warning("login for alice password=%s", SECRETS[0])
        guard.session.get(
            f"{upstream}/v1/charge?api_key={SECRETS[1]}&password={SECRETS[2]}&page=3"
            f"#access_token={SECRETS[3]}"
        )
        sentry_sdk.add_breadcrumb(
            category="custom", message="refreshed", data={"refresh_token": SECRETS[4]}
        )
        raise RuntimeError("boom")

    return app


def secret_request(app: Flask) -> str:
    response = app.test_client().get(
        f"/leak?access_token={SECRETS[5]}&page=2",
        headers={
            "X-Auth-Token": SECRETS[6],
            "X-Amz-Security-Token": SECRETS[7],
            "X-Session-Id": SECRETS[8],
            "Cookie": f"session={SECRETS[9]}",
        },
    )
    error_id = error_of(response)["id"]
    assert isinstance(error_id, str)
    return error_id


def assert_no_secret(event: dict[str, Any]) -> None:
    text = json.dumps(event)
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, text
    assert "page=2" in text  # what is not secret stays useful


def outbound_crumb(event: dict[str, Any]) -> dict[str, Any]:
    crumbs = event["breadcrumbs"]["values"]
    (crumb,) = [c for c in crumbs if c.get("category") == "httplib"]
    return dict(crumb)


def test_no_secret_reaches_sentry_when_the_guard_starts_it(
    sentry_ingest: SentryIngest, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/charge").respond_with_data("ok")
    upstream = httpserver.url_for("/").rstrip("/")
    app = leaky_app(sentry_ingest, upstream, SENTRY_DSN=sentry_ingest.dsn)
    event = sentry_ingest.wait_for(secret_request(app))
    assert_no_secret(event)
    assert "page=3" in outbound_crumb(event)["data"]["http.query"]


def test_no_secret_reaches_sentry_when_the_app_starts_it(
    sentry_ingest: SentryIngest, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/charge").respond_with_data("ok")
    upstream = httpserver.url_for("/").rstrip("/")
    sentry_sdk.init(dsn=sentry_ingest.dsn)  # the SDK's defaults: Flask, logging, stdlib...
    app = leaky_app(sentry_ingest, upstream)
    event = sentry_ingest.wait_for(secret_request(app))
    assert_no_secret(event)
    own_id = sentry_sdk.capture_message(f"retrying with token={SECRETS[0]}")
    assert own_id is not None
    assert SECRETS[0] not in json.dumps(sentry_ingest.wait_for(own_id))


def test_app_before_send_sees_scrubbed_events(
    sentry_ingest: SentryIngest, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/charge").respond_with_data("ok")
    seen: list[str] = []

    def before_send(event: Any, hint: Any) -> Any:
        seen.append(json.dumps(event, default=str))
        return event

    sentry_sdk.init(dsn=sentry_ingest.dsn, before_send=before_send)
    app = leaky_app(sentry_ingest, httpserver.url_for("/").rstrip("/"))
    sentry_ingest.wait_for(secret_request(app))
    assert seen
    assert not [s for s in SECRETS if s in seen[-1]]


def test_configured_scrub_fields_reach_breadcrumbs(sentry_ingest: SentryIngest) -> None:
    app = make_app(SENTRY_DSN=sentry_ingest.dsn, GUARD_SENTRY_SCRUB_FIELDS=["tenant"])
    FlaskGuard(app)

    @app.get("/t")
    def tenant() -> NoReturn:
        logging.getLogger("tests.tenant").warning("loading tenant_ref=%s for page=1", TENANT)
        raise RuntimeError("boom")

    response = app.test_client().get("/t", headers={"X-Tenant": TENANT})
    event = sentry_ingest.wait_for(str(error_of(response)["id"]))
    assert TENANT not in json.dumps(event)  # the source lines around the frame name no value


def test_a_failed_outbound_call_leaves_no_query_secret_in_the_exception(
    sentry_ingest: SentryIngest, refused_url: str
) -> None:
    app = make_app(SENTRY_DSN=sentry_ingest.dsn, GUARD_HTTP_RETRIES=0)
    guard = FlaskGuard(app)

    @app.get("/pay")
    def pay() -> NoReturn:
        guard.session.post(f"{refused_url}/v1/charge?api_key={SECRETS[1]}&page=2")
        raise AssertionError("unreachable")

    response = app.test_client().get("/pay")
    event = sentry_ingest.wait_for(str(error_of(response)["id"]))
    messages = " ".join(value["value"] for value in event["exception"]["values"])
    assert "api_key=[Filtered]&page=2" in messages
    assert SECRETS[1] not in json.dumps(event)
