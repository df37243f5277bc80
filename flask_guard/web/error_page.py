"""Which clients get JSON errors, and the HTML error page the others get."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import escape

from ..compat.werkzeug import parse_mime_accept
from ..config.keys import JsonErrors
from ..errors.report import ErrorReport, phrase

HTML_MIMETYPE = "text/html"

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{status} {title}</title></head>
<body>
<h1>{title}</h1>
<p>{message}</p>
<p>Error id: <code>{error_id}</code><br>Request id: <code>{request_id}</code></p>
</body>
</html>
"""


def wants_json(json_errors: JsonErrors, accept_header: str | None, path: str) -> bool:
    """Return whether a client gets a JSON error rather than an HTML page.

    ``"negotiate"``: JSON unless the ``Accept`` header prefers ``text/html`` to
    ``application/json`` (as browsers do; ``*/*`` or no header mean JSON). ``"always"``: JSON.
    Path prefixes: JSON under them, HTML elsewhere.
    """
    if json_errors == "negotiate":
        if not accept_header or ("html" not in accept_header and "text/*" not in accept_header):
            return True
        accept = parse_mime_accept(accept_header)
        return accept["text/html"] <= accept["application/json"]
    if json_errors == "always":
        return True
    return _under(path, json_errors)


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path.startswith(prefix) for prefix in prefixes)


def html_page(report: ErrorReport, error_id: str, request_id: str | None) -> str:
    """Return a small HTML error page that shows the error id to quote."""
    return _PAGE.format(
        status=report.status,
        title=escape(phrase(report.status)),
        message=escape(report.message),
        error_id=escape(error_id),
        request_id=escape(request_id or "-"),
    )
