"""Rendering dashboard pages and messages."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import HTMLResponse

from mailflow.i18n import pick_language
from mailflow.web.dashboard.common import _t
from mailflow.web.dashboard.labels import MESSAGES, NOTICES
from mailflow.web.dashboard.sessions import SignedIn
from mailflow.web.pages import render_page

log = logging.getLogger(__name__)


def _page(
    template: str,
    who: SignedIn | None,
    *,
    status_code: int = 200,
    language=None,
    section: str = "",
    **context,
) -> HTMLResponse:
    installer = who.installer if who else None
    language = pick_language(language or (installer.language if installer else None))
    return render_page(
        f"dashboard/{template}",
        language,
        status_code=status_code,
        me=(
            {"name": installer.name, "company": installer.company or "", "email": installer.email}
            if installer
            else None
        ),
        session_csrf=who.row.csrf_token if who else "",
        section=section,
        **context,
    )


def _message(code: str, who: SignedIn | None, language: str | None = None) -> HTMLResponse:
    status, title, text = MESSAGES[code]
    lang = pick_language(language or (who.installer.language if who else None))
    return _page(
        "message.html",
        who,
        status_code=status,
        language=lang,
        title=_t(lang, title),
        text=_t(lang, text),
        signin=(code == "signed_out"),
    )


def _notice(request: Request, language: str) -> str | None:
    code = request.query_params.get("done")
    return _t(language, NOTICES[code]) if code in NOTICES else None
