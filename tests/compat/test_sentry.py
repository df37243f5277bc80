"""The sentry-sdk shape the guard's delivery accounting relies on: the HTTP transport hands
each response and its envelope to ``HttpTransport._handle_response``."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import sentry_sdk
from sentry_sdk.transport import HttpTransport
from werkzeug import Response

from flask_guard.compat.sentry import AnsweredTransport
from tests.compat.shapes import changed
from tests.conftest import serving

if TYPE_CHECKING:
    from sentry_sdk.envelope import Envelope

ATTRIBUTE = "HttpTransport._handle_response(response, envelope)"


class RecordingTransport(AnsweredTransport):
    """Writes down what Sentry answered each envelope carrying an event."""

    answers: ClassVar[list[tuple[int, str | None]]] = []
    answered_once: ClassVar[threading.Event] = threading.Event()

    def answered(self, status: int, envelope: Envelope | None) -> None:
        event = envelope.get_event() if envelope is not None else None
        if event is not None:
            self.answers.append((status, event.get("event_id")))
            self.answered_once.set()


class Ingest:
    """Answers every envelope with one status."""

    def __init__(self, status: int) -> None:
        self.status = status

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        headers = {"Retry-After": "60"} if self.status == 429 else {}
        response = Response("{}", status=self.status, headers=headers)
        return response(environ, start_response)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[RecordingTransport]]:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    RecordingTransport.answers = []
    RecordingTransport.answered_once = threading.Event()
    yield RecordingTransport
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)


def test_the_transport_still_has_the_response_hook_it_overrides() -> None:
    hook = getattr(HttpTransport, "_handle_response", None)
    assert hook is not None, changed("sentry-sdk", ATTRIBUTE, "exists")
    parameters = list(inspect.signature(hook).parameters)
    assert parameters == ["self", "response", "envelope"], changed(
        "sentry-sdk", ATTRIBUTE, "takes (response, envelope)"
    )


@pytest.mark.parametrize("status", [200, 429])
def test_each_answer_of_sentry_reaches_the_hook_with_its_envelope(
    recorded: type[RecordingTransport], status: int
) -> None:
    with serving(Ingest(status)) as url:
        dsn = url.replace("http://", "http://public@") + "/1"
        sentry_sdk.init(dsn=dsn, transport=recorded, default_integrations=False)
        event_id = sentry_sdk.capture_message("is anyone there")
        sentry_sdk.flush(timeout=5)
        answered = recorded.answered_once.wait(5)
    message = changed("sentry-sdk", ATTRIBUTE, "is called with each response and envelope")
    assert answered, message
    assert recorded.answers == [(status, event_id)], message
