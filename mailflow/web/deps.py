"""FastAPI dependencies shared by the pages and the API: what a handler needs from the request
(the reader's language, the settings, ...) declared in its signature instead of computed in
every handler."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailflow.app.emails import customer_language
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.i18n import negotiate
from mailflow.links import tokens
from mailflow.models import Installer, Lead


def request_language(request: Request) -> str:
    """The language of a page whose reader is not known yet: an explicit, supported ``?lang=``,
    else the best supported language of ``Accept-Language`` (by its q-values), else English.
    Pages that know the installer pass ``negotiate(header, installer.language)`` instead."""
    return negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))


def link_language(session: Session, installer_id: int | None, request: Request) -> str:
    """The installer's language when the link says whose it is, the browser's otherwise."""
    installer = session.get(Installer, installer_id) if installer_id else None
    return negotiate(
        request.headers.get("accept-language"), installer.language if installer else None
    )


def token_language(
    session: Session, settings: Settings, purpose: str, token: str, request: Request
) -> str:
    """The language of whoever a link was written for, even when the link no longer acts
    (used, expired: its signed nonce still says whose it was): the customer's for a survey,
    the installer's otherwise. A token that is not ours follows the browser."""
    row = tokens.nonce_row(session, settings, purpose, token)
    if row is not None and purpose == "survey":
        lead = session.get(Lead, row.lead_id) if row.lead_id else None
        if lead is not None:
            return negotiate(request.headers.get("accept-language"), customer_language(lead))
    return link_language(session, row.installer_id if row else None, request)


def path_language(request: Request, settings: Settings) -> str:
    """The language of a page answered before its handler ran (a refused form on a link page):
    whoever the link in the path was written for, else the browser's. A database that cannot
    answer only costs the hint."""
    parts = request.url.path.split("/")
    if len(parts) >= 4 and parts[1] == "l" and parts[2] in tokens.PURPOSES:
        try:
            with session_scope(settings) as session:
                return token_language(session, settings, parts[2], parts[3], request)
        except SQLAlchemyError:
            pass
    return request_language(request)


Language = Annotated[str, Depends(request_language)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# The admin's dependencies (CurrentAdmin, require_action) stay in web/admin/auth.py: the admin
# package imports this module, so this one cannot import it back.
