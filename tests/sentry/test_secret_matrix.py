"""Zero planted secrets in the bytes Sentry receives, for every way an app starts Sentry.

Each setup runs :mod:`tests.sentry.planting` in a process of its own, with the SDK's real
transport posting to a loopback ingest, and exits (Sentry's at-exit flush included); the
test then greps every envelope as it arrived for every secret.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from flask_guard.testing import SentryIngest

from .planting import SETUPS

ROOT = Path(__file__).parent.parent.parent
LABELS = [
    "local_password",
    "local_repr",
    "local_text",
    "extra_url",
    "extra_named",
    "ctx",
    "tag_named",
    "tag_url",
    "email",
    "log_param",
    "crumb_bearer",
    "crumb_data",
    "outbound_userinfo",
    "outbound_query",
    "span_description",
    "span_data",
    "span_url",
    "cause_colon",
    "cause_dict",
    "message_dq",
    "message_eq",
    "message_url",
    "logentry_param",
    "query",
    "body_cvv",
    "body_password",
    "body_deep",
    "cookie",
    "header_named",
    "header_bearer",
    "header_url",
    "form_otp",
    "form_pin",
    "form_card",
    "form_password",
    "raw_password",
    "basic",
    "sdk_log",
]


def card_number(rng: random.Random) -> str:
    """Return a random Visa number that passes the Luhn check."""
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        total += (digit * 2 - 9 if digit > 4 else digit * 2) if position % 2 == 0 else digit
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def planted_secrets() -> tuple[dict[str, str], str]:
    rng = random.Random()
    secrets = {label: f"Zq{uuid.uuid4().hex[:14]}" for label in LABELS}
    secrets["basic"] = base64.b64encode(f"svc:{uuid.uuid4().hex}".encode()).decode()
    claims = base64.urlsafe_b64encode(json.dumps({"sub": uuid.uuid4().hex}).encode())
    secrets["jwt"] = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        + claims.decode().rstrip("=")
        + "."
        + uuid.uuid4().hex
    )
    for label in ("context_card", "card_text", "body_card_text"):
        secrets[label] = card_number(rng)
    return secrets, card_number(rng)


def run_setup(
    setup: str, ingest: SentryIngest, upstream: str
) -> tuple[dict[str, str], dict[str, Any]]:
    secrets, card = planted_secrets()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sentry.planting",
            setup,
            ingest.dsn,
            upstream,
            json.dumps({"secrets": secrets, "card": card}),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    secrets["card"] = card
    return secrets, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("setup", SETUPS)
def test_no_planted_secret_reaches_the_ingest(
    setup: str, sentry_ingest: SentryIngest, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/charge").respond_with_data("ok")
    upstream = httpserver.url_for("/").rstrip("/")
    secrets, outcome = run_setup(setup, sentry_ingest, upstream)
    for error_id in outcome["ids"]:
        sentry_ingest.wait_for(error_id)
    received = b"\n".join(sentry_ingest.envelopes)
    leaked = {label: s for label, s in secrets.items() if s.encode() in received}
    assert leaked == {}
    events = list(sentry_ingest.events.values())
    assert any("charge failed" in json.dumps(e.get("logentry", {})) for e in events)
    pay = sentry_ingest.events[outcome["ids"][0]]
    assert pay["user"]["id"] == "42"  # what is not secret stays useful
    assert "page=2" in json.dumps(pay["request"])
    message = pay["exception"]["values"][-1]["value"]
    assert "password='[Filtered]'" in message
    assert "postgres://app:[Filtered]@db/orders" in message
    if setup != "guard":  # the SDK's request processor adds the body: scrubbed, not dropped
        assert pay["request"]["data"]["nested"]["deeper"][0]["api_key"] == "[Filtered]"
    if setup == "app before, Sentry logs":
        assert b'"type":"log"' in received
        assert b"password=[Filtered]" in received
    if setup == "app before, tracing":
        assert b'"type":"transaction"' in received
        assert b'"db.password":"[Filtered]"' in received
    if setup == "app before, own before_send":
        assert outcome["before_send_calls"] >= 4
        assert all(s not in seen for seen in outcome["seen"] for s in secrets.values())
        assert pay["tags"]["checked_by"] == "app"
