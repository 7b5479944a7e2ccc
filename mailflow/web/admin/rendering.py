"""Server-side rendering of the admin pages (English, in the page environment of
:mod:`mailflow.web.pages`, templates in ``templates/web/admin/``; a page whose texts go through
gettext may pass the admin's language)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from mailflow.i18n import DEFAULT_LANGUAGE
from mailflow.web.admin.auth import AdminIdentity, csrf_token
from mailflow.web.admin.redaction import redact_text
from mailflow.web.pages import environment


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
    language: str = DEFAULT_LANGUAGE,
    **context: Any,
) -> HTMLResponse:
    flashes = request.session.pop("flash", []) if admin is not None else []
    html = (
        environment(language)
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
