"""Managing the admin users (the console's ``/admin/users`` and the ``mailflow admin`` commands):
invite, reset a password, change a role, deactivate and reactivate, choose a language.

Every change is written to the audit log in the transaction that makes it (actor: the admin's
email, or ``cli``). An invited user, or one whose password an admin reset, has no usable
password (``password_hash`` holds a random ``!``-marker no argon2 hash can match) until they
choose one through the one-time link of their email (purposes ``admin-invite`` and
``admin-reset``, 72 hours). The link carries the fingerprint of that marker: choosing a password,
or a newer invitation or reset, makes every older link worthless. A reset or a deactivation ends
the user's sessions at once (``auth.load_admin`` compares the password fingerprint and the
``active`` flag on every request).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.i18n import gettext
from mailflow.links import tokens
from mailflow.models import AdminSession, AdminUser
from mailflow.outbound.emails import admin_invitation_email, admin_password_reset_email
from mailflow.outbound.names import N_
from mailflow.outbound.outbox import queue_email
from mailflow.web.admin.audit import record

# The languages the console is offered in (the emails and installer pages have Polish too).
from mailflow.web.admin.rendering import CONSOLE_LANGUAGES
from mailflow.web.admin.users import (
    _EMAIL,
    MIN_PASSWORD_LENGTH,
    ROLES,
    hasher,
    normalize_email,
    password_fingerprint,
)

LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch"}
INVITE, RESET = "admin-invite", "admin-reset"
PATHS = {INVITE: "/admin/welcome/", RESET: "/admin/reset/"}
_PENDING = "!"  # the start of a password_hash no password matches


class AccountError(ValueError):
    """A refused change, with a message for people (an English msgid and its parameters)."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    def text(self, language: str) -> str:
        return gettext(language, self.message, **self.params)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an admin of the console (``user_id``) or the CLI (``None``)."""

    name: str
    user_id: int | None = None
    ip: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        return cls("cli")


def password_pending(user: AdminUser) -> bool:
    """Invited or reset: no password chosen yet."""
    return user.password_hash.startswith(_PENDING)


def status(user: AdminUser) -> str:
    if not user.active:
        return "deactivated"
    return "invited" if password_pending(user) else "active"


def all_users(session: Session) -> list[AdminUser]:
    return list(session.scalars(select(AdminUser).order_by(func.lower(AdminUser.email))))


def find(session: Session, email: str) -> AdminUser:
    email = normalize_email(email)
    user = session.scalar(select(AdminUser).where(func.lower(AdminUser.email) == email))
    if user is None:
        raise AccountError(N_("There is no admin user %(email)s."), email=email)
    return user


def get(session: Session, user_id: int) -> AdminUser:
    user = session.get(AdminUser, user_id)
    if user is None:
        raise AccountError(N_("There is no such admin user."))
    return user


def _active_admins(session: Session) -> int:
    return session.scalar(
        select(func.count())
        .select_from(AdminUser)
        .where(AdminUser.role == "admin", AdminUser.active.is_(True))
    )


def _end_sessions(session: Session, user: AdminUser) -> None:
    session.execute(delete(AdminSession).where(AdminSession.admin_user_id == user.id))


def _audit(session: Session, actor: Actor, action: str, user: AdminUser, summary: str, **data):
    record(
        session,
        actor.name,
        action,
        object_type="admin_user",
        object_id=user.id,
        summary=summary,
        data={"email": user.email, **data},
        ip=actor.ip,
    )


def link_url(settings: Settings, purpose: str, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}{PATHS[purpose]}{token}"


def _send_link(
    session: Session, settings: Settings, user: AdminUser, purpose: str, at: datetime, by: str
) -> str:
    """A fresh pending marker (older links die with the old one), a link, the email."""
    user.password_hash = f"{_PENDING}{purpose}:{secrets.token_urlsafe(16)}"
    session.flush()
    token = tokens.issue(
        session,
        settings,
        purpose,
        now=at,
        subject_id=user.id,
        extra={"f": password_fingerprint(user)},
    )
    url = link_url(settings, purpose, token)
    hours = int(tokens.LIFETIME[purpose].total_seconds() // 3600)
    if purpose == INVITE:
        spec = admin_invitation_email(
            user.email, language=user.language, role=user.role, invited_by=by, url=url, hours=hours
        )
    else:
        spec = admin_password_reset_email(user.email, language=user.language, url=url, hours=hours)
    queue_email(session, spec, now=at, settings=settings)
    return url


def invite(
    session: Session,
    settings: Settings,
    email: str,
    *,
    role: str,
    language: str,
    actor: Actor,
    at: datetime,
) -> tuple[AdminUser, str]:
    """A new admin user without a password, and the email with their link (returned too, for
    the CLI). Inviting again someone who has not chosen a password yet sends a new link."""
    email = normalize_email(email)
    if not _EMAIL.match(email) or len(email) > 320:
        raise AccountError(N_("%(email)s is not an email address."), email=email)
    if role not in ROLES:
        raise AccountError(N_("The role must be admin or viewer."))
    if language not in CONSOLE_LANGUAGES:
        language = "en"
    user = session.scalar(select(AdminUser).where(func.lower(AdminUser.email) == email))
    if user is not None and not password_pending(user):
        raise AccountError(N_("An admin user %(email)s already exists."), email=email)
    if user is None:
        user = AdminUser(
            email=email, password_hash=_PENDING, role=role, active=True, language=language
        )
        session.add(user)
    else:
        user.role, user.active, user.language = role, True, language
    url = _send_link(session, settings, user, INVITE, at, actor.name)
    _audit(session, actor, "admin_user.invite", user, f"invited {email} as {role}", role=role)
    return user, url


def reset_password(
    session: Session, settings: Settings, user: AdminUser, *, actor: Actor, at: datetime
) -> str:
    """The old password stops working (and the user's sessions end); a link to choose a new
    one goes to them."""
    if not user.active:
        raise AccountError(
            N_("%(email)s is deactivated: activate the account first."), email=user.email
        )
    purpose = INVITE if user.password_hash == _PENDING or _is_invite(user) else RESET
    url = _send_link(session, settings, user, purpose, at, actor.name)
    _end_sessions(session, user)
    _audit(session, actor, "admin_user.reset_password", user, f"password reset for {user.email}")
    return url


def _is_invite(user: AdminUser) -> bool:
    return user.password_hash.startswith(f"{_PENDING}{INVITE}:")


def _check_not_self_or_last(session: Session, user: AdminUser, actor: Actor, what: str) -> None:
    if actor.user_id == user.id:
        raise AccountError(
            N_("You cannot demote yourself: ask another admin.")
            if what == "demote"
            else N_("You cannot deactivate yourself: ask another admin.")
        )
    if user.role == "admin" and user.active and _active_admins(session) <= 1:
        raise AccountError(
            N_("%(email)s is the last active admin: make someone else admin first."),
            email=user.email,
        )


def change_role(session: Session, user: AdminUser, role: str, *, actor: Actor) -> bool:
    """True when the role changed (False: it already was)."""
    if role not in ROLES:
        raise AccountError(N_("The role must be admin or viewer."))
    if user.role == role:
        return False
    if role != "admin":
        _check_not_self_or_last(session, user, actor, "demote")
    old, user.role = user.role, role
    _audit(
        session,
        actor,
        "admin_user.role",
        user,
        f"{user.email}: role {old} -> {role}",
        old=old,
        new=role,
    )
    return True


def deactivate(session: Session, user: AdminUser, *, actor: Actor) -> bool:
    """Signs the user out everywhere; False when they already were deactivated."""
    if not user.active:
        return False
    _check_not_self_or_last(session, user, actor, "deactivate")
    user.active = False
    _end_sessions(session, user)
    _audit(session, actor, "admin_user.deactivate", user, f"deactivated {user.email}")
    return True


def activate(session: Session, user: AdminUser, *, actor: Actor) -> bool:
    if user.active:
        return False
    user.active = True
    _audit(session, actor, "admin_user.activate", user, f"reactivated {user.email}")
    return True


def set_language(session: Session, user: AdminUser, language: str, *, actor: Actor) -> None:
    if language not in CONSOLE_LANGUAGES:
        raise AccountError(N_("This language is not offered."))
    if user.language != language:
        old, user.language = user.language, language
        _audit(
            session,
            actor,
            "admin_user.language",
            user,
            f"{user.email}: language {old} -> {language}",
            old=old,
            new=language,
        )


# ------------------------------------------------------------------ the links -------------
def link_user(
    session: Session, settings: Settings, purpose: str, token: str, *, at: datetime
) -> tuple[tokens.LinkData, AdminUser]:
    """The user a link of ours is for; ``tokens.LinkError`` when it cannot act (invalid,
    expired, used, or outdated by a newer link or a chosen password: shown as used)."""
    link = tokens.verify(session, settings, purpose, token, now=at)
    user = session.get(AdminUser, link.subject_id) if link.subject_id else None
    if user is None:
        raise tokens.LinkInvalid("this link is not valid")
    if not user.active or link.extra.get("f") != password_fingerprint(user):
        raise tokens.LinkUsed("this link is no longer valid")
    return link, user


def choose_password(
    session: Session,
    settings: Settings,
    purpose: str,
    token: str,
    password: str,
    *,
    at: datetime,
    ip: str | None,
) -> AdminUser:
    link, user = link_user(session, settings, purpose, token, at=at)
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(
            N_("The password must have at least %(count)s characters."), count=MIN_PASSWORD_LENGTH
        )
    tokens.consume(session, link, now=at)
    user.password_hash = hasher.hash(password)
    _end_sessions(session, user)
    _audit(
        session,
        Actor(user.email, user.id, ip),
        "admin_user.password_set",
        user,
        f"{user.email} chose a password ({'invitation' if purpose == INVITE else 'reset'})",
    )
    return user
