"""Which names are secret: one judgement for Sentry scrubbing and for the headers a session
keeps from another host (no Sentry import here: a session must not load the SDK)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import unquote

#: Name fragments that mark a field as secret, matched case-insensitively inside each word
#: of a name (``X-Auth-Token`` is the words ``x``, ``auth``, ``token``).
PATTERNS = (
    "token",
    "secret",
    "passw",
    "passphrase",
    "pwd",
    "key",
    "auth",
    "session",
    "csrf",
    "xsrf",
    "signature",
    "cookie",
    "jwt",
    "credential",
    "bearer",
    "private",
    "cvv",
    "cvc",
    "hmac",
)
#: Whole words of a name that mark it as secret (``X-Sig``, ``x-otp``, ``card_number``),
#: too short or too common to match inside other words.
SECRET_WORDS = frozenset({"pass", "passcode", "sig", "otp", "pin", "ssn", "card", "cert"})
#: Whole names that are secret alone (an OAuth ``code``) but not as a part
#: (``error_code``, ``status_code``).
SECRET_NAMES = frozenset({"code"})
#: Whole names filtered for another reason: they carry the client's address.
ADDRESS_FIELDS = frozenset(
    {
        "forwarded",
        "x_forwarded_for",
        "x_real_ip",
        "true_client_ip",
        "cf_connecting_ip",
        "ip_address",
        "remote_addr",
    }
)
# Everyday words that contain a pattern and name nothing secret.
_HARMLESS_WORDS = frozenset(
    {
        "author",
        "authors",
        "authored",
        "authority",
        "authorities",
        "keyboard",
        "keyword",
        "keywords",
        "monkey",
        "turkey",
        "donkey",
        "hockey",
        "jockey",
        "whiskey",
    }
)
_ADDRESS_FRAGMENTS = (
    "forwarded",
    "real_ip",
    "real-ip",
    "client_ip",
    "client-ip",
    "connecting_ip",
    "connecting-ip",
    "ip_address",
    "ip-address",
    "remote_addr",
    "remote-addr",
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+|[0-9]+")
_CACHE_SIZE = 4096


class SecretNames:
    """Decide which field, header and parameter names are secret (cached per name)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._extra: tuple[str, ...] = ()
        self._verdicts: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._fragments = _fragments(())
        self.add(extra)

    def add(self, names: Iterable[str]) -> None:
        """Filter every name containing one of ``names`` too (case-insensitive)."""
        with self._lock:
            new = {_normal(name) for name in names} - set(self._extra)
            if new:
                self._extra = (*self._extra, *sorted(new))
                self._verdicts = {}
                self._fragments = _fragments(self._extra)

    def might_name_a_secret(self, text: str) -> bool:
        """Return False if no name inside ``text`` can be secret (a quick test that spares
        looking at each name of most text)."""
        if "%" in text:
            return True
        lowered = text.lower()
        return any(fragment in lowered for fragment in self._fragments)

    def is_sensitive(self, name: str) -> bool:
        """Return whether a field called ``name`` must not reach Sentry."""
        verdict = self._verdicts.get(name)
        if verdict is None:
            verdict = self._judge(name)
            if len(self._verdicts) >= _CACHE_SIZE:  # hostile clients invent names
                self._verdicts = {}
            self._verdicts[name] = verdict
        return verdict

    def _judge(self, name: str) -> bool:
        normal = _normal(unquote(name))
        if normal in ADDRESS_FIELDS or normal in SECRET_NAMES:
            return True
        if any(extra in normal for extra in self._extra):
            return True
        words = [w.lower() for w in _WORDS.findall(unquote(name))]
        if not SECRET_WORDS.isdisjoint(words):
            return True
        return any(
            pattern in word and word not in _HARMLESS_WORDS
            for word in words
            for pattern in PATTERNS
        ) or any(pattern in normal.replace("_", "") for pattern in ("password", "apikey"))


def _fragments(extra: Iterable[str]) -> tuple[str, ...]:
    """Return what every secret name contains one of, lowercased (a few others too)."""
    parts = {*PATTERNS, *SECRET_WORDS, *SECRET_NAMES, *_ADDRESS_FRAGMENTS}
    parts |= {variant for name in extra for variant in (name, name.replace("_", "-"))}
    # "pass" is in "passw" and "passcode": the shortest fragments make the longer ones moot.
    return tuple(sorted(p for p in parts if not any(q != p and q in p for q in parts)))


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_")


_DEFAULT = SecretNames()


def looks_secret(name: str) -> bool:
    """Return whether ``name`` (a header, field or parameter) looks like it holds a secret."""
    return _DEFAULT.is_sensitive(name)
