"""Admin users: argon2 password hashes, creation (CLI) and verification (sign-in)."""

from __future__ import annotations

import hashlib
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

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


def authenticate(session: Session, email: str, password: str) -> AdminUser | None:
    """The active user with this email and password, or None (same cost either way)."""
    email = normalize_email(email)
    user = (
        session.scalar(select(AdminUser).where(func.lower(AdminUser.email) == email))
        if email
        else None
    )
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def password_fingerprint(user: AdminUser) -> str:
    """Stored in the session: a password change (or reset) signs out every existing session."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
