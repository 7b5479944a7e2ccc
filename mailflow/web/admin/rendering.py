"""Server-side rendering of the admin pages (in the page environment of
:mod:`mailflow.web.pages`, templates in ``templates/web/admin/``), in the signed-in admin's
language (English, French or German, chosen on ``/admin/preferences``); pages without a
signed-in admin (the login form, the set-password pages) follow the browser's Accept-Language."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from mailflow.i18n import DEFAULT_LANGUAGE, gettext, negotiate
from mailflow.web.admin.auth import AdminIdentity, csrf_token
from mailflow.web.admin.redaction import redact_text
from mailflow.web.pages import environment

# The console is offered in these languages (Polish is for installers and customers).
CONSOLE_LANGUAGES = ("en", "fr", "de")


def console_language(request: Request, admin: AdminIdentity | None) -> str:
    """The signed-in admin's choice, else the best console language of Accept-Language."""
    if admin is not None and admin.language in CONSOLE_LANGUAGES:
        return admin.language
    if admin is not None:
        return DEFAULT_LANGUAGE
    best = negotiate(request.headers.get("accept-language"))
    return best if best in CONSOLE_LANGUAGES else DEFAULT_LANGUAGE


def tr(admin: AdminIdentity | str | None, message: str, **params: Any) -> str:
    """``message`` (an English msgid) in the admin's language (or the language given)."""
    language = admin if isinstance(admin, str) else (admin.language if admin else DEFAULT_LANGUAGE)
    return gettext(
        language if language in CONSOLE_LANGUAGES else DEFAULT_LANGUAGE, message, **params
    )


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message shown once, on the next page (after the redirect of a POST)."""
    request.session["flash"] = [*request.session.get("flash", []), {"kind": kind, "text": text}]


def current_url(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def render(
    request: Request,
    template: str,
    *,
    admin: AdminIdentity | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    language: str | None = None,
    **context: Any,
) -> HTMLResponse:
    flashes = request.session.pop("flash", []) if admin is not None else []
    html = (
        environment(language or console_language(request, admin))
        .get_template(template)
        .render(
            admin=admin,
            csrf_token=csrf_token(request),
            flashes=flashes,
            here=current_url(request),
            path=request.url.path,
            **context,
        )
    )
    # Pages that show email content redact it at the source (MIME bodies must be decoded
    # first); this pass catches a token in any other field (a bounce reason quoting our
    # message, an event's data, a relay's error text).
    return HTMLResponse(redact_text(html), status_code=status_code, headers=headers)
