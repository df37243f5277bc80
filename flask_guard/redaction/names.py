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
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+|[0-9]+")
_CACHE_SIZE = 4096


class SecretNames:
    """Decide which field, header and parameter names are secret (cached per name)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._extra: tuple[str, ...] = ()
        self._verdicts: dict[str, bool] = {}
        self._lock = threading.Lock()
        self.add(extra)

    def add(self, names: Iterable[str]) -> None:
        """Filter every name containing one of ``names`` too (case-insensitive)."""
        with self._lock:
            new = {_normal(name) for name in names} - set(self._extra)
            if new:
                self._extra = (*self._extra, *sorted(new))
                self._verdicts = {}

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


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_")


_DEFAULT = SecretNames()


def looks_secret(name: str) -> bool:
    """Return whether ``name`` (a header, field or parameter) looks like it holds a secret."""
    return _DEFAULT.is_sensitive(name)
