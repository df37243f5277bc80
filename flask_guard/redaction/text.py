"""Secret values inside free text: a log line, an exception message, a repr, a raw body.

A value follows a secret-looking name and a separator, in any of the forms text takes:
``name=value`` (query strings, reprs), ``name: value`` (headers, YAML, log lines),
``"name": "value"`` (JSON), ``'name': 'value'`` (a Python dict's repr), quoted values
(``password='x'``, ``password="x"``, ``b'x'``) and ``name: Bearer x``. The whole value is
replaced, quotes and all, never a part of it: ``password='x'`` becomes
``password='[Filtered]'``. Text that is a JSON document is parsed and scrubbed member by
member at any depth instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from .shapes import FILTERED

# A name (bare, or quoted as in JSON and Python reprs) and the separator after it. A bare
# name starts where a run of name characters starts, and never gives characters back.
_NAME_AND_SEPARATOR = re.compile(
    r"""
    (?: "(?P<dq>[^"\\\n]{1,100})"
      | '(?P<sq>[^'\\\n]{1,100})'
      | (?<![\w.\-\[\]%])(?P<bare>[\w.\-\[\]%]{1,256}+)
    )
    (?P<sep>\s{0,3}[:=]\s{0,3}|%3[dD])
    """,
    re.VERBOSE,
)
# What a value can be, tried in order at the position after the separator.
_VALUE = re.compile(
    r"""(?P<quoted>[bBrRuU]{0,2}(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))"""
    r"""|(?P<scheme>(?:[Bb]earer|[Bb]asic|[Dd]igest|[Nn]egotiate|[Tt]oken)\s+[^\s,;&'"<>)}\]]+)"""
    r"""|(?P<open>["'][^\n]*)"""
    r"""|(?P<nested>[{\[])"""
    r"""|(?P<plain>[^\s&,;'"<>(){}\[\]]+)""",
    re.DOTALL,
)
_PLAIN_AFTER_EQUALS = re.compile(r"[^\s&#,;'\"<>(){}\[\]]+")
_NOT_A_NAME = re.compile(r"(?:Error|Exception|Warning|Exit|Interrupt)$")
_JSON_START = re.compile(r"\s*[\[{]")
_MAX_JSON_TEXT = 200_000


def filter_pairs(text: str, is_secret: Callable[[str], bool]) -> str:
    """Return ``text`` with the value of every secret-named pair filtered whole."""
    if "=" not in text and ":" not in text and "%3" not in text:
        return text
    pieces: list[str] = []
    kept_from = position = 0
    search = _NAME_AND_SEPARATOR.search
    while (match := search(text, position)) is not None:
        name = match["dq"] or match["sq"] or match["bare"]
        position = match.end()
        if not is_secret(name) or (":" in match["sep"] and _NOT_A_NAME.search(name)):
            continue
        end, replacement = _value_at(text, position, match["sep"])
        if end > position:
            pieces += (text[kept_from:position], replacement)
            kept_from = position = end
    if not pieces:
        return text
    pieces.append(text[kept_from:])
    return "".join(pieces)


def _value_at(text: str, position: int, separator: str) -> tuple[int, str]:
    """Return where the value at ``position`` ends and what replaces it (``position`` and
    "" when there is no value to filter)."""
    if text.startswith(FILTERED, position):
        return position, ""
    value = _VALUE.match(text, position)
    if value is None:
        return position, ""
    if value["plain"] is not None and "=" in separator:
        # After "=" a "#" starts a URL's fragment, not more of the value.
        plain = _PLAIN_AFTER_EQUALS.match(text, position)
        if plain is None:
            return position, ""
        return plain.end(), FILTERED
    found = value[0]
    if value["quoted"] is not None:
        quote = found.lstrip("bBrRuU")[0]
        return value.end(), f"{quote}{FILTERED}{quote}"
    if value["nested"] is not None:
        return _closing(text, position) + 1, FILTERED
    if value["open"] is not None:
        return value.end(), f"{found[0]}{FILTERED}"
    return value.end(), FILTERED


def _closing(text: str, start: int) -> int:
    """Return the index of the bracket closing the one at ``start`` (or of the end of the
    line or text if it is never closed), skipping quoted strings."""
    depth = 0
    quote = ""
    index = start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index
        elif char == "\n" and depth == 1:
            break
        index += 1
    return index - 1


def parse_json_document(text: str) -> object | None:
    """Return the JSON value ``text`` holds if it is a JSON object or array, else None."""
    if _JSON_START.match(text) is None or len(text) > _MAX_JSON_TEXT:
        return None
    try:
        parsed: object = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed
