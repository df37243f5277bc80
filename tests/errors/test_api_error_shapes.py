"""ApiError takes the shapes a newcomer writes, or refuses them as it is built."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_guard import ApiError

from ..conftest import error_of


def test_a_status_given_as_the_code_is_the_status_with_its_code(app: Flask) -> None:
    @app.get("/order")
    def order() -> str:
        raise ApiError(404, "Order not found")

    response = app.test_client().get("/order")
    assert response.status_code == 404
    error = error_of(response)
    assert (error["code"], error["message"]) == ("NOT_FOUND", "Order not found")


def test_a_status_as_code_that_disagrees_with_the_status_is_refused() -> None:
    with pytest.raises(ValueError, match="got status 404 as its code and 500"):
        ApiError(404, "Not found", status=500)


def test_a_status_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(TypeError, match="status must be a whole number 400 to 599, got '404'"):
        ApiError("NOT_FOUND", "Not found", status="404")  # type: ignore[arg-type]


def test_a_dict_of_field_errors_becomes_one_item_per_message(app: Flask) -> None:
    @app.post("/signup")
    def signup() -> str:
        raise ApiError.validation_error({"email": ["Too long", "Not valid"], "name": "Missing"})

    error = error_of(app.test_client().post("/signup"))
    assert error["details"] == [
        {"field": "email", "message": "Too long"},
        {"field": "email", "message": "Not valid"},
        {"field": "name", "message": "Missing"},
    ]


@pytest.mark.parametrize("details", ["bad field", 3, [1, 2], ["email"]])
def test_details_that_are_not_objects_are_refused(details: object) -> None:
    with pytest.raises(TypeError, match="ApiError details must be a list of objects"):
        ApiError.bad_request(details=details)  # type: ignore[arg-type]


def test_a_retry_after_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(TypeError, match="retry_after must be a number of seconds, got '5'"):
        ApiError.too_many_requests(retry_after="5")  # type: ignore[arg-type]
