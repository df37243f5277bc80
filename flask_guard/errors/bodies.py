"""What an error looks like on the wire: the JSON envelope and RFC 9457 problem details."""

from __future__ import annotations

import json
from collections.abc import Callable

from .report import INTERNAL_ERROR, ErrorReport, phrase

ENVELOPE_MIMETYPE = "application/json"
PROBLEM_MIMETYPE = "application/problem+json"

BodyBuilder = Callable[[ErrorReport, str, "str | None", str], dict[str, object]]


def envelope_body(
    report: ErrorReport, error_id: str, request_id: str | None, path: str
) -> dict[str, object]:
    """Return ``{"error": {id, code, message, status, request_id[, details]}}``."""
    error: dict[str, object] = {
        "id": error_id,
        "code": report.code,
        "message": report.message,
        "status": report.status,
        "request_id": request_id,
    }
    if report.details:
        error["details"] = list(report.details)
    return {"error": error}


def problem_body(
    report: ErrorReport, error_id: str, request_id: str | None, path: str
) -> dict[str, object]:
    """Return an RFC 9457 problem object with ``code``, ``error_id`` and ``request_id`` members."""
    problem: dict[str, object] = {
        "type": "about:blank",
        "title": phrase(report.status),
        "status": report.status,
        "detail": report.message,
        "instance": path,
        "code": report.code,
        "error_id": error_id,
        "request_id": request_id,
    }
    if report.details:
        problem["details"] = list(report.details)
    return problem


def minimal_body(build: BodyBuilder, error_id: str, request_id: str | None, path: str) -> str:
    """Return the generic 500 body as text, using nothing that could fail to serialize."""
    return json.dumps(build(INTERNAL_ERROR, error_id, request_id, path))
