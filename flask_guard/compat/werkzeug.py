"""Werkzeug's public API as it moves between releases.

No private name is used here: werkzeug 3.2 deprecates the parsing functions of
``werkzeug.http`` for ``from_header`` class methods that older releases do not have, and the
guard must run without a warning on both.
"""

from __future__ import annotations

from werkzeug.datastructures import MIMEAccept


def parse_mime_accept(value: str | None) -> MIMEAccept:
    """Parse an ``Accept`` header (werkzeug 3.2's ``MIMEAccept.from_header``, or
    ``parse_accept_header`` before it)."""
    from_header = getattr(MIMEAccept, "from_header", None)
    if from_header is not None:
        parsed: MIMEAccept = from_header(value)
        return parsed
    from werkzeug.http import parse_accept_header  # deprecated from werkzeug 3.2 on

    return parse_accept_header(value, MIMEAccept)
