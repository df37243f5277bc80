"""Cost of scrubbing one error event, next to what the SDK spends on the same event: its own
``EventScrubber`` (names only) and its serializer, in one process and one run.

Run: ``python benchmarks/bench_scrubbing.py`` (``--smoke`` to check it runs).
The event is what ``before_send`` gets from an app-started client with FlaskIntegration:
a JSON body, 12 headers, 25 frames (10 of the app's, with variables and source lines), 30
breadcrumbs, extra, tags and contexts. Only events pay this: a request that succeeds sends
none. Goal: scrubbing / the SDK's serializer <= 1.5 (about what the SDK itself spends).
"""

from __future__ import annotations

import copy
from typing import Any

from sentry_sdk.scrubber import EventScrubber
from sentry_sdk.serializer import serialize

from _timing import best_per_call, parse_args
from flask_guard.redaction.scrubbing import Scrubber

GOAL = 1.5


def frame(n: int) -> dict[str, Any]:
    in_app = n % 5 < 2
    return {
        "filename": f"app/views_{n}.py" if in_app else f"site-packages/lib/mod_{n}.py",
        "function": f"handler_{n}",
        "lineno": 40 + n,
        "in_app": in_app,
        "context_line": f"    result = client.charge(order_id={n}, amount=amount)",
        "pre_context": [f"    line {i} = compute(x, y={i})" for i in range(5)],
        "post_context": [f"    return {{'ok': True, 'n': {i}}}" for i in range(5)],
        "vars": {
            "self": f"<app.Service object at 0x7f{n:08x}>",
            "order_id": str(1000 + n),
            "amount": "12.50",
            "password": "'hunter2'",
            "creds": "Creds(user='bob', password='hunter2')",
            "url": f"'https://api.example/v1/charge?api_key=sk_live_{n}&page=2'",
        },
    }


def event() -> dict[str, Any]:
    return {
        "event_id": "9f0c" * 8,
        "level": "error",
        "request": {
            "url": "https://shop.example/pay",
            "method": "POST",
            "query_string": "access_token=abc123&page=2",
            "headers": {f"X-Header-{i}": f"value {i}" for i in range(10)}
            | {"Authorization": "Bearer abc.def.ghi", "Content-Type": "application/json"},
            "data": {
                "card_number": "4111111111111111",
                "cvv": "123",
                "items": [{"sku": f"SKU-{i}", "qty": i} for i in range(10)],
                "nested": {"api_key": "sk_live_abc", "note": "deliver after 5pm"},
            },
        },
        "exception": {
            "values": [
                {
                    "type": "ConnectionError",
                    "value": "HTTPSConnectionPool(host='api.example', port=443): Max retries "
                    "exceeded with url: /v1/charge?api_key=sk_live_1&page=2",
                    "stacktrace": {"frames": [frame(n) for n in range(25)]},
                }
            ]
        },
        "breadcrumbs": {
            "values": [
                {
                    "category": "httplib" if i % 3 == 0 else "app",
                    "message": f"GET https://api.example/v1/items/{i}?page={i}",
                    "data": {"url": "https://api.example/v1/items", "http.query": f"page={i}"},
                    "level": "info",
                }
                for i in range(30)
            ]
        },
        "extra": {"db_url": "postgres://app:secret@db/orders", "attempt": 3},
        "tags": {"request_id": "r" * 32, "error_code": "UPSTREAM_UNAVAILABLE"},
        "contexts": {"trace": {"trace_id": "a" * 32, "span_id": "b" * 16}},
        "user": {"id": "42", "email": "alice@example.com"},
    }


def main() -> None:
    args = parse_args(__doc__ or "")
    calls, rounds = (5, 2) if args.smoke else (300, 7)
    template = event()
    ours, sdk_scrubber = Scrubber(), EventScrubber()
    results = best_per_call(
        {
            "copy only": lambda: copy.deepcopy(template),
            "flask-guard Scrubber": lambda: ours.event(copy.deepcopy(template)),
            "SDK EventScrubber": lambda: sdk_scrubber.scrub_event(copy.deepcopy(template)),  # type: ignore[arg-type]
            "SDK serialize": lambda: serialize(copy.deepcopy(template)),
        },
        calls,
        rounds,
    )
    base = results.pop("copy only")
    costs = {name: seconds - base for name, seconds in results.items()}
    for name, seconds in costs.items():
        print(f"{name:22} {seconds * 1e6:9.1f} us/event")
    ratio = costs["flask-guard Scrubber"] / costs["SDK serialize"]
    peer = costs["flask-guard Scrubber"] / costs["SDK EventScrubber"]
    print(f"flask-guard scrubbing / SDK EventScrubber: {peer:.2f}x (it also reads text)")
    print(f"flask-guard scrubbing / SDK serialize: {ratio:.2f}x   goal <= {GOAL}x")


if __name__ == "__main__":
    main()
