"""One CSRF scheme for every page: each form carries the field ``csrf_token``; the token it
must echo is the session's when the page belongs to a session (the installer's session row, the
admin's session), and otherwise (link pages, the sign-in form) the token of a double-submit
cookie ``mf_csrf``, signed so that a cookie planted by another site or subdomain is worthless.

Handlers that need only "a form from this site" declare ``form: CsrfForm``; pages that hold a
session pass its token to :func:`verify`."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData

from mailflow.config import Settings, get_settings
from mailflow.web.secrets import same_secret

FIELD = "csrf_token"
COOKIE = "mf_csrf"
COOKIE_MAX_AGE = 3600
_SALT = "mailflow.csrf-cookie"


class CsrfRefused(Exception):
    """The form's token does not match: the app answers 403 and nothing changes."""


def _signer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with all of them.
    return URLSafeTimedSerializer(list(reversed(settings.signing_keys)), salt=_SALT)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_token(request: Request, settings: Settings | None = None) -> str | None:
    """The token of a valid double-submit cookie, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        token = _signer(settings or get_settings()).loads(raw, max_age=COOKIE_MAX_AGE)
    except (BadSignature, UnicodeError, ValueError):
        return None
    return token if isinstance(token, str) and token else None


def page_token(request: Request) -> str:
    """The token for a form on a page without a session: the browser's current one (so a page
    open in another tab keeps working), else a new one. Send it with :func:`with_cookie`."""
    return cookie_token(request) or new_token()


def cookie_value(token: str, settings: Settings | None = None) -> str:
    """The signed form of ``token`` that the cookie carries."""
    return _signer(settings or get_settings()).dumps(token)


def with_cookie(response: Response, token: str, settings: Settings | None = None) -> Response:
    settings = settings or get_settings()
    response.set_cookie(
        COOKIE,
        cookie_value(token, settings),
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.base_url.lower().startswith("https://"),
    )
    return response


def verify(request: Request, form: FormData | dict, session_token: str | None = None) -> bool:
    """Does the form echo the session's token, or (without a session) the cookie's?"""
    expected = session_token or cookie_token(request)
    given = form.get(FIELD)
    return bool(expected) and isinstance(given, str) and same_secret(given, expected)


def session_token_of(request: Request) -> str | None:
    """The token kept in a cookie session (the admin pages), if the request has one."""
    if "session" not in request.scope:
        return None
    token = request.session.get("csrf")
    return token if isinstance(token, str) else None


async def csrf_form(request: Request) -> FormData:
    """The POSTed form, once its token matches."""
    form = await request.form()
    if not verify(request, form, session_token_of(request)):
        raise CsrfRefused()
    return form


CsrfForm = Annotated[FormData, Depends(csrf_form)]
