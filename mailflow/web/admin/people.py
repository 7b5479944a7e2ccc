"""The admin users' pages: ``/admin/users`` (admins only: invite, change a role, reset a
password, deactivate, reactivate), ``/admin/preferences`` (every admin: the console's language),
and the pages of the invitation and reset links (``/admin/welcome/<token>``,
``/admin/reset/<token>``) where the invitee chooses a password. The changes themselves are in
:mod:`mailflow.web.admin.accounts`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.links import tokens
from mailflow.outbound.names import N_
from mailflow.web.admin import accounts
from mailflow.web.admin.accounts import AccountError, Actor
from mailflow.web.admin.audit import client_ip
from mailflow.web.admin.auth import (
    Action,
    AdminIdentity,
    CurrentAdmin,
    Refused,
    load_admin,
    require_action,
)
from mailflow.web.admin.common import field, redirect, valid_id
from mailflow.web.admin.rendering import console_language, flash, render, tr
from mailflow.web.admin.users import MIN_PASSWORD_LENGTH, ROLES
from mailflow.web.csrf import CsrfForm

router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE = "/admin/users"
ONLY_ADMINS = N_("Only admins can manage the admin users.")
ROLE_LABELS = (N_("admin"), N_("viewer"))  # the roles as the page names them


def _actor(request: Request, admin: AdminIdentity) -> Actor:
    return Actor(admin.email, admin.id, client_ip(request))


def _only_admins(admin: AdminIdentity) -> None:
    if not admin.can_act:
        raise Refused(403, ONLY_ADMINS, admin)


@router.get("/users")
def users_page(request: Request, admin: CurrentAdmin) -> Response:
    _only_admins(admin)
    with session_scope() as session:
        rows = [
            {
                "id": user.id,
                "email": user.email,
                "role": user.role,
                "status": accounts.status(user),
                "language": user.language,
                "created_at": user.created_at,
                "last_login_at": user.last_login_at,
                "me": user.id == admin.id,
            }
            for user in accounts.all_users(session)
        ]
    return render(
        request,
        "admin/users.html",
        admin=admin,
        rows=rows,
        roles=ROLES,
        languages=accounts.LANGUAGE_NAMES,
    )


def _refused_for_viewers(action: Action) -> None:
    _only_admins(action.admin)


@router.post("/users/invite")
def invite(request: Request, action: Action = Depends(require_action)) -> Response:
    _refused_for_viewers(action)
    admin, settings = action.admin, get_settings()
    email = field(action.form, "email", 400)
    try:
        with session_scope() as session:
            user, _url = accounts.invite(
                session,
                settings,
                email,
                role=field(action.form, "role", 16),
                language=field(action.form, "language", 8) or admin.language,
                actor=_actor(request, admin),
                at=now(),
            )
            email = user.email
    except AccountError as exc:
        flash(request, exc.text(admin.language), "error")
        return redirect(PAGE)
    flash(request, tr(admin, N_("Invitation sent to %(email)s."), email=email))
    return redirect(PAGE)


_CHANGES = {
    "role": N_("%(email)s is now %(role)s."),
    "reset": N_("A link to choose a new password was sent to %(email)s."),
    "deactivate": N_("%(email)s is deactivated and signed out."),
    "activate": N_("%(email)s is active again."),
}


@router.post("/users/{user_id}/{change}")
def change(
    request: Request, user_id: int, change: str, action: Action = Depends(require_action)
) -> Response:
    _refused_for_viewers(action)
    admin, settings = action.admin, get_settings()
    if change not in _CHANGES or not valid_id(user_id):
        raise Refused(404, N_("There is no such admin user."), admin)
    role = field(action.form, "role", 16)
    actor = _actor(request, admin)
    try:
        with session_scope() as session:
            user = accounts.get(session, user_id)
            email = user.email
            if change == "role":
                accounts.change_role(session, user, role, actor=actor)
            elif change == "reset":
                accounts.reset_password(session, settings, user, actor=actor, at=now())
            elif change == "deactivate":
                accounts.deactivate(session, user, actor=actor)
            else:
                accounts.activate(session, user, actor=actor)
    except AccountError as exc:
        flash(request, exc.text(admin.language), "error")
        return redirect(PAGE)
    flash(request, tr(admin, _CHANGES[change], email=email, role=tr(admin, role)))
    return redirect(PAGE)


# ------------------------------------------------------------------ preferences ------------
@router.get("/preferences")
def preferences_page(request: Request, admin: CurrentAdmin) -> Response:
    return render(request, "admin/preferences.html", admin=admin, languages=accounts.LANGUAGE_NAMES)


@router.post("/preferences")
def save_preferences(request: Request, form: CsrfForm) -> Response:
    # Viewers choose their language too (require_action would refuse them: read-only).
    admin = load_admin(request)
    if admin is None:
        raise Refused(403, N_("You are not signed in (or your session has expired)."))
    language = field(form, "language", 8)
    try:
        with session_scope() as session:
            user = accounts.get(session, admin.id)
            accounts.set_language(session, user, language, actor=_actor(request, admin))
    except AccountError as exc:
        flash(request, exc.text(admin.language), "error")
        return redirect("/admin/preferences")
    flash(request, tr(language, N_("Your preferences are saved.")))
    return redirect("/admin/preferences")


# ------------------------------------------------------------------ the links --------------
_TITLES = {
    accounts.INVITE: N_("Welcome: choose your password"),
    accounts.RESET: N_("Choose a new password"),
}
_PROBLEMS = {
    "invalid": N_("This link is not valid. Ask an admin for a new one."),
    "expired": N_("This link has expired. Ask an admin to send you a new one."),
    "used": N_(
        "This link has already been used. Sign in with your password, or ask an admin for a new link."
    ),
}


def _link_problem(request: Request, code: str, status: int) -> Response:
    language = console_language(request, None)
    return render(
        request,
        "admin/error.html",
        admin=None,
        status_code=status,
        title=tr(language, N_("This link cannot be used")),
        message=tr(language, _PROBLEMS.get(code, _PROBLEMS["invalid"])),
    )


def _password_page(
    request: Request, purpose: str, email: str, error: str | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "admin/set_password.html",
        admin=None,
        status_code=status,
        title=tr(console_language(request, None), _TITLES[purpose]),
        email=email,
        error=error,
        min_length=MIN_PASSWORD_LENGTH,
    )


def _show(request: Request, purpose: str, token: str) -> Response:
    try:
        with session_scope() as session:
            _link, user = accounts.link_user(session, get_settings(), purpose, token, at=now())
            email = user.email
    except tokens.LinkError as exc:
        return _link_problem(request, exc.code, exc.status)
    return _password_page(request, purpose, email)


def _choose(request: Request, purpose: str, token: str, form) -> Response:
    password, again = form.get("password"), form.get("password_again")
    password = password if isinstance(password, str) else ""
    language = console_language(request, None)
    try:
        with session_scope() as session:
            _link, user = accounts.link_user(session, get_settings(), purpose, token, at=now())
            email = user.email
    except tokens.LinkError as exc:
        return _link_problem(request, exc.code, exc.status)
    if password != again:
        error = tr(language, N_("The two passwords are not the same."))
        return _password_page(request, purpose, email, error, 400)
    try:
        with session_scope() as session:
            accounts.choose_password(
                session, get_settings(), purpose, token, password, at=now(), ip=client_ip(request)
            )
    except tokens.LinkError as exc:
        return _link_problem(request, exc.code, exc.status)
    except AccountError as exc:
        return _password_page(request, purpose, email, exc.text(language), 400)
    return redirect("/admin/login?done=password")


@router.get("/welcome/{token}")
def welcome_page(request: Request, token: str) -> Response:
    return _show(request, accounts.INVITE, token)


@router.post("/welcome/{token}")
def welcome_choose(request: Request, token: str, form: CsrfForm) -> Response:
    return _choose(request, accounts.INVITE, token, form)


@router.get("/reset/{token}")
def reset_page(request: Request, token: str) -> Response:
    return _show(request, accounts.RESET, token)


@router.post("/reset/{token}")
def reset_choose(request: Request, token: str, form: CsrfForm) -> Response:
    return _choose(request, accounts.RESET, token, form)
