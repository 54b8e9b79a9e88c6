"""The staff bypass: a secret header, or a signed cookie obtained by visiting a secret path.

The cookie never holds the secret itself: it holds an expiry and an HMAC-SHA256 of that
expiry keyed by the secret, like Laravel's ``artisan down --secret`` cookie. Changing
the secret invalidates every cookie handed out. All comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["make_token", "secret_matches", "token_valid"]

_CONTEXT = b"gatekeeper-bypass-v1:"


def _mac(secret: str, expires: int) -> str:
    message = _CONTEXT + str(expires).encode("ascii")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def make_token(secret: str, now: float, max_age: int) -> str:
    """A cookie value valid for ``max_age`` seconds from ``now``."""
    expires = int(now) + max_age
    return f"{expires}.{_mac(secret, expires)}"


def token_valid(secret: str, token: str | None, now: float) -> bool:
    """Whether a cookie value was made with ``secret`` and has not expired."""
    if not token or len(token) > 100:
        return False
    expires_text, dot, mac = token.partition(".")
    if not dot or not expires_text.isascii() or not expires_text.isdigit():
        return False
    expires = int(expires_text)
    if expires < now:
        return False
    return hmac.compare_digest(_mac(secret, expires).encode(), mac.encode("utf-8", "replace"))


def secret_matches(secret: str, candidate: str | None) -> bool:
    """Constant-time comparison of a presented secret (header or path segment)."""
    if candidate is None:
        return False
    return hmac.compare_digest(secret.encode("utf-8"), candidate.encode("utf-8", "replace"))
