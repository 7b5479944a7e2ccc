"""What follows a recorded status (customer surveys plug in here)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.models import Installer, Lead


def status_recorded(
    session: Session,
    lead: Lead,
    installer: Installer,
    status: str,
    *,
    now: datetime,
    settings: Settings,
) -> None:
    from mailflow.models import LeadStatus
    from mailflow.ratings.service import schedule_survey

    if status in (LeadStatus.INSTALLATION_SCHEDULED, LeadStatus.INSTALLED):
        schedule_survey(session, lead, installer, now=now)
