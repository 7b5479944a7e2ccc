"""Seams between the offer lifecycle and what follows acceptance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.models import Installer, Lead


def status_links(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> list[dict]:
    from mailflow.lifecycle.service import status_links as links

    return links(session, lead, installer, now=now, settings=settings)


def accepted(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> None:
    from mailflow.lifecycle.service import on_accepted

    on_accepted(session, lead, installer, now=now)
