"""Signed one-time links (PRODUCT.md §4).

One itsdangerous serializer per purpose (the purpose is the salt, so a decline token is never a
valid accept token), an expiry, several secret keys so keys can rotate (``MAILFLOW_SECRET_KEYS``,
newest first: new links are signed with the newest, older keys still verify), and a random
nonce stored in the database. One-time purposes mark the nonce used when the link acts;
lasting purposes (status, vacation) work while what they act on is still the installer's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.models import LinkNonce, appends

PURPOSES = (
    "accept",
    "decline",
    "reveal",
    "status",
    "survey",
    "vacation",
    "signin",
    "reply",
    "admin-invite",
    "admin-reset",
    "return",
)
# "return": report an accepted lead as a bad lead (#20), issued with the report window.
ONE_TIME = frozenset(
    {"accept", "decline", "reveal", "survey", "signin", "admin-invite", "admin-reset", "return"}
)
LIFETIME = {
    "accept": timedelta(days=14),
    "decline": timedelta(days=14),
    "reveal": timedelta(days=30),
    "status": timedelta(weeks=26),
    "survey": timedelta(days=60),
    "vacation": timedelta(weeks=26),
    "signin": timedelta(hours=1),
    "reply": timedelta(days=30),
    # An admin's invitation and password reset (pages /admin/welcome/…, /admin/reset/…).
    "admin-invite": timedelta(hours=72),
    "admin-reset": timedelta(hours=72),
    "return": timedelta(hours=72),
}


class LinkError(Exception):
    """A link that cannot act; ``code`` names the page to show."""

    code = "invalid"
    status = 400


class LinkInvalid(LinkError):
    code, status = "invalid", 400


class LinkExpired(LinkError):
    code, status = "expired", 410


class LinkUsed(LinkError):
    code, status = "used", 409


@dataclass(frozen=True)
class LinkData:
    purpose: str
    nonce: str
    subject_id: int | None
    installer_id: int | None
    lead_id: int | None
    extra: dict = field(default_factory=dict)  # signed values carried by the token itself


_serializers: dict[tuple, URLSafeTimedSerializer] = {}


def serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    # itsdangerous signs with the last key and tries all of them when verifying.
    keys = tuple(reversed(settings.signing_keys))
    found = _serializers.get((keys, purpose))
    if found is None:  # made once per keys and purpose (an email signs several links)
        found = _serializers[keys, purpose] = URLSafeTimedSerializer(
            list(keys), salt=f"mailflow.link.{purpose}"
        )
    return found


def nonce_row(session: Session, settings: Settings, purpose: str, token: str):
    """The ``LinkNonce`` row behind a token of ours whatever its state (expired, used), for
    pages that explain what happened to a link; None for anything that is not our token.
    Only the token's own errors are swallowed: a database error propagates (an outage is a
    503, and a session that swallowed it could not commit)."""
    try:
        payload = serializer(settings, purpose).loads(token)
    except Exception:
        return None
    nonce = payload.get("n") if isinstance(payload, dict) else None
    return session.get(LinkNonce, nonce) if isinstance(nonce, str) else None


def issue(
    session: Session,
    settings: Settings,
    purpose: str,
    *,
    now: datetime,
    subject_id: int | None = None,
    installer_id: int | None = None,
    lead_id: int | None = None,
    lifetime: timedelta | None = None,
    extra: dict | None = None,
) -> str:
    """A new token for ``purpose``; its nonce row is written in the caller's transaction."""
    nonce = _new_nonce(
        session, purpose, now, subject_id, installer_id, lead_id, lifetime or LIFETIME[purpose]
    )
    return serializer(settings, purpose).dumps({"n": nonce, **({"x": extra} if extra else {})})


def issue_set(
    session: Session,
    settings: Settings,
    purpose: str,
    extras: list[dict],
    *,
    now: datetime,
    subject_id: int | None = None,
    installer_id: int | None = None,
    lead_id: int | None = None,
) -> list[str]:
    """One token per entry of ``extras``, all behind one nonce row: the links of one email
    that differ only by what they carry (an email's status steps). Not for one-time links,
    which must each be used up on their own."""
    if purpose in ONE_TIME:
        raise ValueError(f"{purpose!r} links are one-time: one nonce each")
    nonce = _new_nonce(session, purpose, now, subject_id, installer_id, lead_id, LIFETIME[purpose])
    signer = serializer(settings, purpose)
    return [signer.dumps({"n": nonce, "x": extra}) for extra in extras]


def _new_nonce(
    session: Session,
    purpose: str,
    now: datetime,
    subject_id: int | None,
    installer_id: int | None,
    lead_id: int | None,
    lifetime: timedelta,
) -> str:
    """A nonce row, added to the caller's transaction; its nonce."""
    nonce = secrets.token_urlsafe(16)
    values = {
        "nonce": nonce,
        "purpose": purpose,
        "subject_id": subject_id,
        "installer_id": installer_id,
        "lead_id": lead_id,
        "created_at": now,
        "expires_at": now + lifetime,
        "used_at": None,
    }
    appends.add(session, LinkNonce, values)
    return nonce


def url(settings: Settings, purpose: str, token: str) -> str:
    action = "reply" if purpose == "reply" else purpose
    return f"{settings.base_url.rstrip('/')}/l/{action}/{token}"


def verify(
    session: Session, settings: Settings, purpose: str, token: str, *, now: datetime
) -> LinkData:
    """Check signature, purpose, expiry and nonce. Raises LinkInvalid, LinkExpired or LinkUsed;
    changes nothing."""
    # The signature proves the token is ours; its expiry is the nonce row's (links may be issued
    # with a lifetime of their own, such as the 30-day sign-in link of a deactivation email).
    try:
        payload = serializer(settings, purpose).loads(token)
    except SignatureExpired:
        raise LinkExpired("this link has expired") from None
    except BadSignature:
        raise LinkInvalid("this link is not valid") from None
    nonce = payload.get("n") if isinstance(payload, dict) else None
    row = session.get(LinkNonce, nonce) if isinstance(nonce, str) else None
    if row is None or row.purpose != purpose:
        raise LinkInvalid("this link is not valid")
    if row.expires_at <= now:
        raise LinkExpired("this link has expired")
    if purpose in ONE_TIME and row.used_at is not None:
        raise LinkUsed("this link has already been used")
    extra = payload.get("x") if isinstance(payload.get("x"), dict) else {}
    return LinkData(purpose, row.nonce, row.subject_id, row.installer_id, row.lead_id, extra)


def consume(session: Session, link: LinkData, *, now: datetime) -> None:
    """Mark a one-time link used, in the caller's transaction. Two requests racing: the
    conditional update lets exactly one through; the other gets LinkUsed."""
    if link.purpose not in ONE_TIME:
        return
    result = session.execute(
        update(LinkNonce)
        .where(LinkNonce.nonce == link.nonce, LinkNonce.used_at.is_(None))
        .values(used_at=now)
    )
    if result.rowcount != 1:
        raise LinkUsed("this link has already been used")
