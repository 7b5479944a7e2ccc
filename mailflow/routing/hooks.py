"""Seams between the offer lifecycle and what follows acceptance (status links, reminders).
The lifecycle issue fills these in; until then an accepted lead has no status links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.models import Installer, Lead


def status_links(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> list[dict]:
    return []


def accepted(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> None:
    return None
