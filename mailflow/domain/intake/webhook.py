"""The webhook's signature: HMAC-SHA256 over ``timestamp.body`` with the shared secret, and a
timestamp window that bounds replays (``now`` comes in as a parameter)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime


class SignatureError(Exception):
    """The request is not from someone who knows the webhook secret (or is too old)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: datetime,
    tolerance_seconds: int,
) -> SignedRequest:
    if not timestamp or not signature:
        raise SignatureError("missing X-Mailflow-Timestamp or X-Mailflow-Signature header")
    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        raise SignatureError("X-Mailflow-Timestamp must be Unix seconds") from None
    if abs(now.timestamp() - sent_at) > tolerance_seconds:
        raise SignatureError("timestamp outside the allowed window (more than 5 minutes off)")
    expected = sign(secret, timestamp.strip(), body)
    # Compared as bytes: a header may hold any character (compare_digest refuses non-ASCII str).
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise SignatureError("signature does not match")
    expires_at = datetime.fromtimestamp(sent_at + tolerance_seconds, UTC)
    return SignedRequest(expected.removeprefix("sha256="), expires_at)


@dataclass(frozen=True)
class SignedRequest:
    """A verified signature, and when its timestamp stops being accepted."""

    signature: str
    expires_at: datetime
