"""The offers of a lead as the API shows them. Offers arrive with routing; until then a lead
has none."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailflow.models import Lead


def offers_for(session: Session, lead: Lead) -> list[dict]:
    return []
