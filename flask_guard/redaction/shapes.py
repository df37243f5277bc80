"""Credentials recognised by their shape alone, whatever name they go by (or none).

* the password of a URL's userinfo (``postgres://app:[Filtered]@db/orders``; the user name
  stays);
* the credential after an HTTP authentication scheme: ``Bearer``, ``Basic``, ``Digest``,
  ``Negotiate``, ``Token`` (``Bearer [Filtered]``), unless it is a plain word
  (``Bearer token expired`` is prose);
* JSON Web Tokens (three or more base64url parts, the first one starting ``eyJ``);
* payment card numbers: 13 to 19 digits, alone or in groups separated by one space or dash,
  that carry a card brand's prefix and length and pass the Luhn check. Numbers glued to a
  letter, a dot, a dash or a ``+`` (``ORD4111…``, ``0.4111…``, ``+4915…``) are not cards,
  nor are numbers starting with 0, 1, 7, 8 or 9 (timestamps, snowflake ids).
"""

from __future__ import annotations

import re

FILTERED = "[Filtered]"

_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/?#@'\"<>\[\]]*:)"
    r"(?P<password>[^\s/?#'\"<>]+)@"
)
_SCHEME_CREDENTIAL = re.compile(
    r"\b(?P<scheme>[Bb]earer|BEARER|[Bb]asic|BASIC|[Dd]igest|[Nn]egotiate|[Tt]oken)"
    r"(?P<space>\s+)(?P<credential>[A-Za-z0-9\-._~+/:]+=*)"
)
_SCHEMES = ("bearer", "basic", "digest", "negotiate", "token")
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]{0,15}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{6,}(?:\.[A-Za-z0-9_\-]*){2,4}")
_CARD = re.compile(
    r"(?<![\w.+\-])"
    r"(?:\d{13,19}|\d{4}(?P<sep>[ \-])\d{4,6}(?P=sep)\d{4,5}(?:(?P=sep)\d{1,4})?)"
    r"(?![\w]|[.,]\d)"
)
_DIGITS = re.compile(r"\d{4}[ \-]?\d{4}")
_CARD_FIRST_DIGITS = frozenset("23456")

# Card brands: (lowest prefix, highest prefix, allowed lengths).
_BRANDS: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa
    (51, 55, frozenset({16})),  # Mastercard
    (2221, 2720, frozenset({16})),  # Mastercard 2-series
    (34, 34, frozenset({15})),  # American Express
    (37, 37, frozenset({15})),
    (6011, 6011, frozenset(range(16, 20))),  # Discover
    (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),
    (3528, 3589, frozenset(range(16, 20))),  # JCB
    (300, 305, frozenset(range(14, 20))),  # Diners Club
    (36, 36, frozenset(range(14, 20))),
    (38, 39, frozenset(range(16, 20))),
    (62, 62, frozenset(range(16, 20))),  # UnionPay
    (50, 50, frozenset(range(13, 20))),  # Maestro
    (56, 58, frozenset(range(13, 20))),
    (63, 63, frozenset(range(13, 20))),
    (67, 67, frozenset(range(13, 20))),
)


def filter_shapes(text: str) -> str:
    """Return ``text`` with every credential that has a well-known shape filtered."""
    if "://" in text and "@" in text:
        text = _USERINFO.sub(_userinfo, text)
    if "eyJ" in text:
        text = _JWT.sub(FILTERED, text)
    lowered = text.lower()
    if any(scheme in lowered for scheme in _SCHEMES):
        text = _SCHEME_CREDENTIAL.sub(_scheme_credential, text)
    if _DIGITS.search(text):
        text = _CARD.sub(_card, text)
    return text


def is_card_number(digits: str) -> bool:
    """Return whether ``digits`` (digits only) is a plausible payment card number."""
    if not 13 <= len(digits) <= 19 or digits[0] not in _CARD_FIRST_DIGITS:
        return False
    if not any(
        low <= int(digits[: len(str(low))]) <= high and len(digits) in lengths
        for low, high, lengths in _BRANDS
    ):
        return False
    return _luhn(digits)


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _userinfo(match: re.Match[str]) -> str:
    if match["password"] == FILTERED:
        return match[0]
    return f"{match['head']}{FILTERED}@"


def _scheme_credential(match: re.Match[str]) -> str:
    credential = match["credential"]
    if credential == FILTERED or _PLAIN_WORD.fullmatch(credential):
        return match[0]
    return f"{match['scheme']}{match['space']}{FILTERED}"


def _card(match: re.Match[str]) -> str:
    digits = match[0].replace(" ", "").replace("-", "")
    return FILTERED if is_card_number(digits) else match[0]
