"""The admins' review queue: leads held by the intake limit, and leads an installer declined
as spam whose decline does not count against the installer until an admin says the lead was
real. Releasing a held lead is "back to rotation" and rejecting one is "mark as spam"
(``admin_actions``); confirming a spam decline is here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.domain.offer import SPAM_DECLINE_REASONS
from mailflow.leads.admin_actions import ActionRefused, LeadMissing, admin_event
from mailflow.models import Lead, LeadStatus, Offer, OfferStatus

PAGE = 200


def held_leads(session: Session) -> list[Lead]:
    return list(
        session.scalars(
            select(Lead).where(Lead.status == LeadStatus.HELD).order_by(Lead.id).limit(PAGE)
        )
    )


def _unconfirmed(lead_ids=None):
    query = select(Offer).where(
        Offer.status == OfferStatus.DECLINED,
        Offer.decline_reason.in_(SPAM_DECLINE_REASONS),
        Offer.decline_confirmed_at.is_(None),
    )
    return query if lead_ids is None else query.where(Offer.lead_id.in_(lead_ids))


def spam_declines(session: Session) -> list[Offer]:
    """Declines for spam awaiting an admin's word, on leads not already judged spam."""
    return list(
        session.scalars(
            _unconfirmed()
            .join(Lead, Lead.id == Offer.lead_id)
            .where(Lead.spam.is_(False))
            .order_by(Offer.answered_at, Offer.id)
            .limit(PAGE)
        )
    )


def counts(session: Session) -> dict[str, int]:
    held = session.scalar(select(func.count()).where(Lead.status == LeadStatus.HELD)) or 0
    return {"held": held}


def confirm_real(session: Session, lead_id: int, *, by: str, now: datetime) -> list[Offer]:
    """The lead was real: its spam declines count in the installers' scores from now on."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise LeadMissing(lead_id)
    offers = list(session.scalars(_unconfirmed([lead_id])))
    if not offers:
        raise ActionRefused(f"Lead #{lead_id} has no decline for spam to confirm.")
    for offer in offers:
        offer.decline_confirmed_at = now
    admin_event(
        session,
        lead,
        "spam_decline_confirmed",
        at=now,
        by=by,
        offers=[o.id for o in offers],
    )
    return offers
