"""Secrets never reach Sentry: names matched by pattern, in every part of every event."""

from __future__ import annotations

import json
import logging
import random
from typing import Any, NoReturn

import pytest
import sentry_sdk
from flask import Flask
from pytest_httpserver import HTTPServer

from flask_guard import FlaskGuard
from flask_guard.redaction.scrubbing import Scrubber
from flask_guard.redaction.shapes import FILTERED
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


SECRET = "hunter2x"


@pytest.mark.parametrize(
    "text",
    [
        f"password='{SECRET}'",
        f'password="{SECRET}"',
        f"password={SECRET}",
        f"api_key: {SECRET}",
        f"{{'password': '{SECRET}'}}",
        f"{{'password': b'{SECRET}'}}",
        f'{{"password": "{SECRET}", "page": 2}}',
        f"Creds(user='bob', password='{SECRET}')",
        f"password = '{SECRET} with spaces'",
        f"credentials: admin:{SECRET}",
        f"secret: {{'inner': '{SECRET}'}}",
        f"password='{SECRET}",  # cut short by a truncation
        f"Authorization: Bearer {SECRET}",
        f"X-Api-Key:{SECRET}",
        f"token={SECRET}==&page=2",
    ],
)
def test_a_filtered_value_is_replaced_whole(text: str) -> None:
    scrubbed = Scrubber().text(text)
    assert FILTERED in scrubbed
    assert SECRET not in scrubbed
    assert "hunt" not in scrubbed  # no fragment either
    assert "r2x" not in scrubbed


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"postgres://app:{SECRET}@db:5432/orders", "postgres://app:[Filtered]@db:5432/orders"),
        (f"redis://:{SECRET}@cache:6379/0", "redis://:[Filtered]@cache:6379/0"),
        (f"retrying with Bearer {SECRET}", "retrying with Bearer [Filtered]"),
        ("upstream said Basic c3ZjOmh1bnRlcjJ4", "upstream said Basic [Filtered]"),
        (
            "presented eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl today",
            "presented [Filtered] today",
        ),
        ("paid with 4111 1111 1111 1111.", "paid with [Filtered]."),
        ("paid with 4111-1111-1111-1111", "paid with [Filtered]"),
        ("card 5555555555554444 declined", "card [Filtered] declined"),
        ("amex 378282246310005", "amex [Filtered]"),
    ],
)
def test_well_known_token_shapes_are_filtered_without_a_secret_name(text: str, kept: str) -> None:
    assert Scrubber().text(text) == kept


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 shipped",  # fails Luhn
        "order ORD4111111111111111",  # glued to letters
        "event at 1733140000000 ms",  # a timestamp in milliseconds
        "snowflake 1864723423142322176",
        "call +4915112345678",
        "ratio 0.4111111111111111",
        "iban DE89370400440532013000",
        "id 6f1c2b9a-4111-1111-1111-111111111111",
        "missing Bearer token",
        "Basic usage of the API",
        "KeyError: 'api_key'",
        "TokenError: token expired",
        "author=alice&keyword=guard&page=2",
    ],
)
def test_what_only_looks_like_a_secret_is_kept(text: str) -> None:
    assert Scrubber().text(text) == text


def test_order_ids_and_timestamps_are_never_taken_for_card_numbers() -> None:
    rng = random.Random(19)
    # Millisecond and nanosecond timestamps and snowflake ids start with 1; no brand does.
    samples = [
        rng.choice("1789") + str(rng.randrange(10**18)).zfill(18)[: rng.randrange(12, 19)]
        for _ in range(5000)
    ]
    assert [s for s in samples if Scrubber().text(f"order {s}") != f"order {s}"] == []


def test_a_json_body_sent_as_text_is_scrubbed_at_any_depth() -> None:
    body = json.dumps({"a": [{"b": {"api_key": SECRET}}], "card": "4111111111111111", "n": 1})
    scrubbed = json.loads(Scrubber().text(body))
    assert scrubbed == {"a": [{"b": {"api_key": FILTERED}}], "card": FILTERED, "n": 1}


def test_a_log_parameter_in_a_secret_place_is_filtered_and_the_others_kept() -> None:
    event = {
        "logentry": {
            "message": "login for %s password=%s from %s",
            "params": ["alice", SECRET, "4111111111111111"],
            "formatted": f"login for alice password={SECRET} from 4111111111111111",
        }
    }
    entry = Scrubber().event(event)["logentry"]
    assert entry["params"] == ["alice", FILTERED, FILTERED]
    assert entry["formatted"] == f"login for alice password={FILTERED} from {FILTERED}"


def test_a_user_keeps_only_its_id_and_traces_keep_their_ids() -> None:
    trace = {"trace_id": "4111111111111111" * 2, "span_id": "4111111111111111", "op": "http"}
    event = Scrubber().event(
        {
            "user": {"id": "42", "email": "alice@example.com", "ip_address": "10.0.0.1"},
            "contexts": {"trace": trace, "db": {"url": f"mysql://root:{SECRET}@db/x"}},
            "tags": {"api_key": SECRET, "route": "/pay"},
        }
    )
    assert event["user"] == {"id": "42", "email": FILTERED, "ip_address": FILTERED}
    assert event["contexts"]["trace"] == trace
    assert SECRET not in json.dumps(event)
    assert event["tags"]["route"] == "/pay"
