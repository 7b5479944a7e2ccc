"""Signed VERP return paths: ``bounces+<outbox id>-<signature>@<domain>``.

A bounce may only act on a message we sent. The outbox id alone is sequential and guessable,
so the return path also carries an HMAC of the id under the signing key
(``MAILFLOW_SECRET_KEYS``, newest first: new addresses use the newest key, every key still
verifies, so a rotation does not orphan the bounces of mail already out). The signature is
80 bits in lower-case base32: short, case-insensitive (some MTAs fold local parts) and within
the dot-atom charset of a local part. Addresses without a signature (sent before signing, or
guessed) never verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from mailflow.config import Settings

SIGNATURE_BYTES = 10  # 80 bits → 16 base32 characters
_CONTEXT = b"mailflow.verp.v1:"


def signature(key: str, outbox_id: int) -> str:
    digest = hmac.new(key.encode(), _CONTEXT + str(outbox_id).encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:SIGNATURE_BYTES]).decode().lower()


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip(">").lower() or "localhost"


def verp_address(settings: Settings, outbox_id: int) -> str:
    """Where bounces of this outbox message come back to."""
    key = settings.signing_keys[0]
    return f"bounces+{outbox_id}-{signature(key, outbox_id)}@{domain_of(settings.from_address)}"


def verified_outbox_id(
    settings: Settings, outbox_id: int | None, signed_with: str | None
) -> int | None:
    """The outbox id when ``signed_with`` is its signature under one of our keys, else None."""
    if outbox_id is None or not signed_with or outbox_id <= 0:
        return None
    given = signed_with.lower().encode()
    for key in settings.signing_keys:
        if hmac.compare_digest(signature(key, outbox_id).encode(), given):
            return outbox_id
    return None
