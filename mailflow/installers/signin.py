"""Sign-in links for installers, sent by a job.

``POST /dashboard/signin`` only enqueues the ``send_signin_link`` job with the address as
typed, known or not: the request does the same work either way, so its timing does not tell which
addresses belong to installers (looking the installer up, signing a token and queueing the
email took measurably longer than nothing). The job does the rest, and nothing for an
unknown address.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import is_postgres, session_scope
from mailflow.links import tokens
from mailflow.models import Installer, LinkNonce
from mailflow.outbound.emails import signin_email
from mailflow.outbound.outbox import queue_email

log = logging.getLogger(__name__)

DASHBOARD = "/dashboard/"
# Sign-in emails per address: at most this many per window. Counted from the sign-in nonces in
# the database, so the limit holds across web processes and restarts.
SIGNIN_LIMIT = 5
SIGNIN_WINDOW = timedelta(hours=1)


def send_signin_link(address: str, next_url: str) -> None:
    """The body of the ``send_signin_link`` job."""
    settings = get_settings()
    with session_scope(settings) as session:
        query = select(Installer).where(Installer.email == address)
        if is_postgres(session):
            # Concurrent jobs for one address count the recent links one after the other, so
            # the hourly limit holds (SQLite serialises writers already).
            query = query.with_for_update()
        installer = session.scalar(query)
        if installer is not None:
            email_signin_link(session, installer, settings, now(), next_url)


def email_signin_link(
    session: Session, installer: Installer, settings: Settings, at: datetime, next_url: str
) -> None:
    recent = session.scalar(
        select(func.count())
        .select_from(LinkNonce)
        .where(
            LinkNonce.purpose == "signin",
            LinkNonce.installer_id == installer.id,
            LinkNonce.created_at > at - SIGNIN_WINDOW,
        )
    )
    if recent >= SIGNIN_LIMIT:
        log.warning(
            "sign-in link for installer %s not sent: %s in the last hour", installer.id, recent
        )
        return
    extra = {"next": next_url} if next_url != DASHBOARD else None
    token = tokens.issue(
        session,
        settings,
        "signin",
        now=at,
        subject_id=installer.id,
        installer_id=installer.id,
        extra=extra,
    )
    queue_email(
        session,
        signin_email(installer, signin_url=tokens.url(settings, "signin", token)),
        now=at,
        settings=settings,
    )
