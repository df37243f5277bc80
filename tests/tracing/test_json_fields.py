"""JSON log lines keep every ``extra=`` field: JSON-safe, and secrets filtered."""

from __future__ import annotations

import json
import logging
from datetime import date

from flask_guard.logs import JsonFormatter


def line_of(**extra: object) -> dict[str, object]:
    record = logging.getLogger("tests.fields").makeRecord(
        "tests.fields", logging.INFO, __file__, 1, "paid %s", ("order 7",), None, extra=extra
    )
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_every_extra_field_is_kept() -> None:
    entry = line_of(order_id=7, amount=12.5, paid=True, note=None, tags=["a", "b"])
    assert entry["message"] == "paid order 7"
    assert entry["order_id"] == 7
    assert entry["amount"] == 12.5
    assert entry["paid"] is True
    assert entry["note"] is None
    assert entry["tags"] == ["a", "b"]


def test_values_json_cannot_hold_become_text() -> None:
    entry = line_of(day=date(2026, 12, 2), ratio=float("nan"), ids={1, 2}, nested={3: (4, 5)})
    assert entry["day"] == "2026-12-02"
    assert entry["ratio"] == "nan"
    assert entry["ids"] in ([1, 2], [2, 1])
    assert entry["nested"] == {"3": [4, 5]}


def test_secret_fields_are_filtered_by_the_sentry_rules() -> None:
    entry = line_of(
        api_key="k-123",
        card_number="4111111111111111",
        payload={"user": "ann", "password": "hunter2", "inner": {"accessToken": "t"}},
        url="https://api.example/pay?token=abc&order=7",
        author="Ann",
    )
    assert entry["api_key"] == "[Filtered]"
    assert entry["card_number"] == "[Filtered]"
    assert entry["payload"] == {
        "user": "ann",
        "password": "[Filtered]",
        "inner": {"accessToken": "[Filtered]"},
    }
    assert entry["url"] == "https://api.example/pay?token=[Filtered]&order=7"
    assert entry["author"] == "Ann"


def test_an_extra_field_never_replaces_the_lines_own() -> None:
    entry = line_of(level="quiet", logger="mine", time="now")
    assert entry["level"] == "INFO"
    assert entry["logger"] == "tests.fields"


def test_a_value_nested_too_deep_is_cut() -> None:
    deep: list[object] = []
    value = deep
    for _ in range(50):
        value.append([])
        value = value[0]  # type: ignore[assignment]
    entry = line_of(deep=deep)
    assert "[Filtered]" in json.dumps(entry["deep"])
