"""Admin users: argon2 password hashes, creation (CLI) and verification (sign-in)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.models import AdminUser

ROLES = ("admin", "viewer")
MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as much time as a wrong
# password (no account discovery by timing).
_DUMMY_HASH = hasher.hash("not a password of anyone")


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def create_admin_user(
    session: Session, email: str, password: str, role: str = "admin"
) -> AdminUser:
    """Create an admin user; ``ValueError`` with a readable message when the input is refused."""
    email = normalize_email(email)
    if not _EMAIL.match(email):
        raise ValueError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(AdminUser.id).where(func.lower(AdminUser.email) == email)):
        raise ValueError(f"an admin user {email} already exists")
    user = AdminUser(email=email, password_hash=hasher.hash(password), role=role, active=True)
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class Candidate:
    """Who an email would sign in as, read before the (slow) password check."""

    id: int
    password_hash: str
    active: bool


def find_candidate(email: str, settings: Settings | None = None) -> Candidate | None:
    """A short transaction of its own: the hash is checked outside any transaction, so a
    slow argon2 never holds SQLite's write lock (webhooks and SMTP intake wait for it)."""
    email = normalize_email(email)
    if not email:
        return None
    with session_scope(settings) as session:
        user = session.scalar(select(AdminUser).where(func.lower(AdminUser.email) == email))
        return Candidate(user.id, user.password_hash, user.active) if user else None


def password_matches(candidate: Candidate | None, password: str) -> bool:
    """Same cost whether or not the email is known. Call outside any transaction."""
    try:
        hasher.verify(candidate.password_hash if candidate else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return False
    return candidate is not None and candidate.active


def new_hash_if_outdated(candidate: Candidate, password: str) -> str | None:
    """A fresh hash when the parameters changed since it was made (outside any transaction)."""
    return hasher.hash(password) if hasher.check_needs_rehash(candidate.password_hash) else None


def password_fingerprint(user: AdminUser) -> str:
    """Stored in the session: a password change (or reset) signs out every existing session."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
