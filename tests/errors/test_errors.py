"""ApiError: factories, subclassing, to_dict."""

from __future__ import annotations

import pytest

from flask_guard import ApiError


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ApiError.bad_request(), 400, "BAD_REQUEST"),
        (ApiError.unauthorized(), 401, "UNAUTHORIZED"),
        (ApiError.forbidden(), 403, "FORBIDDEN"),
        (ApiError.not_found(), 404, "NOT_FOUND"),
        (ApiError.conflict(), 409, "CONFLICT"),
        (ApiError.validation_error(), 422, "VALIDATION_ERROR"),
        (ApiError.too_many_requests(), 429, "TOO_MANY_REQUESTS"),
        (ApiError.bad_gateway(), 502, "BAD_GATEWAY"),
        (ApiError.service_unavailable(), 503, "SERVICE_UNAVAILABLE"),
        (ApiError.gateway_timeout(), 504, "GATEWAY_TIMEOUT"),
    ],
)
def test_factory_sets_status_and_code(error: ApiError, status: int, code: str) -> None:
    assert (error.status, error.code) == (status, code)
    assert error.message
    assert error.details == []
    assert error.headers == {}


def test_not_found_names_the_resource() -> None:
    assert ApiError.not_found("Order").message == "Order not found"


def test_factories_take_message_and_details() -> None:
    details = [{"field": "email", "message": "Not a valid address"}]
    error = ApiError.validation_error(details, message="Check the form")
    assert error.message == "Check the form"
    assert error.details == details
    assert ApiError.bad_request("Nope", details).details == details
    assert ApiError.conflict("Taken", details).details == details


@pytest.mark.parametrize("factory", [ApiError.too_many_requests, ApiError.service_unavailable])
@pytest.mark.parametrize(("seconds", "header"), [(5, "5"), (0.2, "1"), (2.5, "3"), (0, "1")])
def test_retry_after_is_whole_seconds_at_least_one(
    factory: type[ApiError], seconds: float, header: str
) -> None:
    assert factory(retry_after=seconds).headers == {"Retry-After": header}  # type: ignore[call-arg]


def test_retry_after_is_the_first_argument_as_in_the_contract() -> None:
    assert ApiError.too_many_requests(30).headers == {"Retry-After": "30"}
    assert ApiError.service_unavailable(5, "Down for upgrade").message == "Down for upgrade"


def test_constructor_with_headers_and_details() -> None:
    error = ApiError("PAYMENT_DECLINED", "Declined", 402, [{"reason": "funds"}], {"X-A": "1"})
    assert error.to_dict() == {
        "code": "PAYMENT_DECLINED",
        "message": "Declined",
        "status": 402,
        "details": [{"reason": "funds"}],
    }
    assert error.headers == {"X-A": "1"}
    assert str(error) == "402 PAYMENT_DECLINED: Declined"


def test_to_dict_omits_empty_details() -> None:
    assert "details" not in ApiError("X", "y", 400).to_dict()


def test_default_status_is_500() -> None:
    assert ApiError("X", "y").status == 500


class PaymentDeclined(ApiError):
    code = "PAYMENT_DECLINED"
    status = 402
    message = "The card was declined"


def test_subclass_brings_its_own_code_status_and_message() -> None:
    error = PaymentDeclined(details=[{"reason": "funds"}])
    assert (error.code, error.status, error.message) == (
        "PAYMENT_DECLINED",
        402,
        "The card was declined",
    )
    assert PaymentDeclined(message="Expired card").message == "Expired card"


def test_factories_build_the_subclass() -> None:
    assert type(PaymentDeclined.not_found("Card")) is PaymentDeclined


@pytest.mark.parametrize("status", [200, 302, 399, 600])
def test_status_outside_error_range_is_rejected(status: int) -> None:
    with pytest.raises(ValueError, match=f"400 to 599, got {status}"):
        ApiError("X", "y", status)
