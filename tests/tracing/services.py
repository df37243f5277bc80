"""Two guarded services over real sockets: orders charges through payments, which fails."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

from flask import Flask, request

from flask_guard import ApiError, FlaskGuard, RequestIdFilter
from flask_guard.logs import JsonFormatter
from tests.conftest import make_app, serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
LOGGER = "tests.services"


@dataclass
class Services:
    """The URL of orders, what payments received, and both services' JSON log lines."""

    orders_url: str
    orders: Flask
    payments: Flask
    received: list[dict[str, str]] = field(default_factory=list)
    upstream_error_ids: list[str] = field(default_factory=list)
    stream: io.StringIO = field(default_factory=io.StringIO)

    def lines(self, service: str) -> list[dict[str, object]]:
        """Return the JSON log lines ``service`` wrote with the test's logger."""
        entries = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [e for e in entries if e["logger"] == f"{LOGGER}.{service}"]


@contextmanager
def two_services(
    prepare: Callable[[Flask], object] = lambda app: app, **config: object
) -> Iterator[Services]:
    """Serve payments (its charge fails with a 500) and orders (whose pay view calls it
    through ``guard.session`` and answers 502); log both through one JSON handler.
    ``prepare`` is applied to each app before the guard (an instrumentation)."""
    payments = make_app(**config)
    prepare(payments)
    FlaskGuard(payments)
    with serving(payments) as payments_url:
        orders = make_app(**config)
        prepare(orders)
        orders_guard = FlaskGuard(orders, http_retries=0)
        services = Services("", orders, payments)

        @payments.post("/charge")
        def charge() -> NoReturn:
            services.received.append(dict(request.headers))
            logging.getLogger(f"{LOGGER}.payments").info("charging", extra={"card_number": "4111"})
            raise RuntimeError("the card processor is down")

        @orders.post("/orders/<int:order_id>/pay")
        def pay(order_id: int) -> NoReturn:
            logging.getLogger(f"{LOGGER}.orders").info("paying", extra={"order_id": order_id})
            answer = orders_guard.session.post(f"{payments_url}/charge", json={"order": order_id})
            services.upstream_error_ids.append(answer.headers["X-Error-ID"])
            raise ApiError.bad_gateway("The payment service failed.")

        handler = logging.StreamHandler(services.stream)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        logger = logging.getLogger(LOGGER)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            with serving(orders) as orders_url:
                services.orders_url = orders_url
                yield services
        finally:
            logger.removeHandler(handler)
