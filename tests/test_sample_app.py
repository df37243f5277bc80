"""The demo app behaves as the README walkthrough says."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sample_app import create_app

from .conftest import error_of


@pytest.fixture(scope="module")
def demo() -> Flask:
    return create_app(PROPAGATE_EXCEPTIONS=False)


@pytest.fixture
def client(demo: Flask) -> FlaskClient:
    return demo.test_client()


def test_existing_order(client: FlaskClient) -> None:
    response = client.get("/orders/1", headers={"X-Request-ID": "demo-1"})
    assert response.get_json()["item"] == "coffee beans"
    assert response.headers["X-Request-ID"] == "demo-1"


def test_missing_order_is_a_404_envelope(client: FlaskClient) -> None:
    assert error_of(client.get("/orders/999"))["message"] == "Order not found"


def test_invalid_order_lists_every_problem(client: FlaskClient) -> None:
    error = error_of(client.post("/orders", json={"item": "", "quantity": 0}))
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == ["item", "quantity"]  # type: ignore[attr-defined]


def test_valid_order_is_created(client: FlaskClient) -> None:
    response = client.post("/orders", json={"item": "filters", "quantity": 3})
    assert response.status_code == 201
    assert client.get(f"/orders/{response.get_json()['id']}").status_code == 200


def test_crash_hides_the_secret(client: FlaskClient) -> None:
    response = client.get("/_demo/crash")
    assert error_of(response)["status"] == 500
    assert "hunter2" not in response.get_data(as_text=True)
