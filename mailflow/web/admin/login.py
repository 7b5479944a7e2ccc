"""The admin sign-in: the login form, signing in (rate limited per email and address) and out."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.models import AdminUser
from mailflow.outbound.names import N_
from mailflow.web.admin import throttle
from mailflow.web.admin.audit import client_ip
from mailflow.web.admin.auth import (
    AdminIdentity,
    end_session,
    optional_admin,
    safe_next,
    start_session,
)
from mailflow.web.admin.common import redirect
from mailflow.web.admin.rendering import console_language, render, tr
from mailflow.web.admin.users import (
    find_candidate,
    new_hash_if_outdated,
    normalize_email,
    password_matches,
)
from mailflow.web.csrf import CsrfForm
from mailflow.web.formats import format_duration

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", include_in_schema=False)


def _field(form: FormData, name: str) -> str:
    # Unstripped: a password may begin or end with a space.
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _login_page(
    request: Request,
    *,
    next_url: str,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    # Nobody is signed in yet: the browser's language (Accept-Language) among the console's.
    return render(
        request,
        "admin/login.html",
        admin=None,
        status_code=status_code,
        headers=headers,
        next=next_url,
        email=email,
        error=error,
        notice=notice,
    )


@router.get("/login")
def login_form(
    request: Request,
    next: str | None = None,
    done: str | None = None,
    admin: AdminIdentity | None = Depends(optional_admin),
) -> Response:
    if admin is not None:
        return redirect(safe_next(next))
    notice = (
        tr(console_language(request, None), N_("Your password is saved. Sign in with it."))
        if done == "password"
        else None
    )
    return _login_page(request, next_url=safe_next(next, default=""), notice=notice)


@router.post("/login")
def login(request: Request, form: CsrfForm) -> Response:
    email, password = normalize_email(_field(form, "email")), _field(form, "password")
    next_url = safe_next(_field(form, "next"), default="")
    ip = client_ip(request) or "unknown"
    at = now()
    # The attempt is counted before the password is looked at: parallel guesses cannot pass
    # the limit. Each step below is its own short transaction, and the slow hash runs in none.
    wait = throttle.reserve(email, ip, at)
    if wait is not None:
        log.warning("admin sign-in rate limited for %s from %s", email, ip)
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            status_code=429,
            headers={"Retry-After": str(wait)},
            error=tr(
                console_language(request, None),
                N_("Too many failed sign-ins. Try again in %(duration)s."),
                duration=format_duration(wait),
            ),
        )
    candidate = find_candidate(email)
    user_email = None
    if password_matches(candidate, password):
        new_hash = new_hash_if_outdated(candidate, password)
        with session_scope() as session:
            user = session.get(AdminUser, candidate.id)
            # Unchanged since the check (no password reset or deactivation in between).
            if user is not None and user.active and user.password_hash == candidate.password_hash:
                if new_hash:
                    user.password_hash = new_hash
                user.last_login_at = at
                start_session(session, request, user, at)
                throttle.succeeded(session, email, ip)
                user_email = user.email
    if user_email is None:
        log.info("failed admin sign-in for %s from %s", email, ip)
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            status_code=401,
            error=tr(console_language(request, None), N_("Wrong email or password.")),
        )
    log.info("admin %s signed in from %s", user_email, ip)
    return redirect(safe_next(next_url))


@router.post("/logout")
def logout(request: Request, _form: CsrfForm) -> Response:
    end_session(request)
    return redirect("/admin/login")
