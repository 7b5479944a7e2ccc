"""Comparing a secret someone sent with the one expected."""

from __future__ import annotations

import hmac


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two texts. ``hmac.compare_digest`` refuses ``str`` with
    non-ASCII characters (TypeError), and what a client sends may contain anything: compare
    the UTF-8 bytes instead (lone surrogates are replaced, so they simply do not match)."""
    return hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8", "replace")
    )
