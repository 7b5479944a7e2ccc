"""The offer's state machine: an offer is open until it is answered, expires or is withdrawn,
and then never changes again."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mailflow.domain import lead as lead_rules
from mailflow.domain.effects import Outcome, QueueEmail, Record, outcome
from mailflow.domain.events import LeadAccepted, LeadNeedsInstaller, OfferMade
from mailflow.domain.statuses import Actor, LeadStatus
from mailflow.domain.statuses import OfferStatus as S

TRANSITIONS: dict[S, frozenset] = {
    S.OFFERED: frozenset({S.ACCEPTED, S.DECLINED, S.EXPIRED, S.WITHDRAWN}),
}


class Refused(Exception):
    """An offer move the table does not allow (the offer was answered already)."""

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"an offer in {current!r} cannot go to {wanted!r}")
        self.current, self.wanted = current, wanted


class HasStatus(Protocol):
    status: S


def move(offer: HasStatus, wanted: S) -> None:
    if wanted not in TRANSITIONS.get(offer.status, frozenset()):
        raise Refused(str(offer.status), str(wanted))
    offer.status = wanted


# ------------------------------------------------------------------ transitions -------------
# Each takes the locked rows, changes them through the tables and returns its Outcome: its own
# timeline line and emails, and the events other features follow up (mailflow.reactions).
DECLINE_REASONS = ("no_capacity", "out_of_area", "not_interested", "spam", "other")
# Declines that say the lead was spam (not held against the installer's score when unconfirmed).
SPAM_DECLINE_REASONS = ("spam",)


class OfferClosed(Exception):
    """The offer cannot be answered any more; ``code`` says why (for the page to show)."""

    def __init__(self, code: str, offer: object | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.offer = offer


# The routing reason of the offers of an escalated lead (offered to everyone left at once)
# starts with this: when another of them won, the page says so kindly.
ESCALATED = "escalated"


def lost_race(offer, lead) -> bool:
    """The offer was one of an escalated lead's, and another installer accepted first."""
    return (offer.routing_reason or "").startswith(ESCALATED) and (
        lead.assigned_installer_id not in (None, offer.installer_id)
    )


def closed_code(
    offer_status: S, lead_status: LeadStatus, *, taken_by_other: bool = False
) -> str | None:
    """Why an offer can no longer be answered, or None while it can. ``taken_by_other``:
    another installer holds the lead (an escalated lead went to the quickest)."""
    if offer_status == S.ACCEPTED:
        return "already_accepted"
    if offer_status == S.DECLINED:
        return "already_declined"
    if offer_status == S.EXPIRED:
        return "expired"
    if offer_status != S.OFFERED or lead_status != LeadStatus.OFFERED:
        return "taken_by_other" if taken_by_other else "taken"
    return None


def offering(lead, *, at: datetime) -> None:
    """The lead's side of a new open offer: it is offered (an escalated lead is offered to
    several installers at once: it is offered already). Called before the offer is stored, so
    that the lead's row is written once with it (a lead created in the same transaction: one
    ``INSERT``, no ``UPDATE`` after it)."""
    if lead.status != LeadStatus.OFFERED:
        lead_rules.move(lead, LeadStatus.OFFERED, by=Actor.SYSTEM)
    lead.updated_at = at


def offered(lead, offer, installer_email: str, *, at: datetime) -> Outcome:
    """A new open offer (already stored, with its id): the lead offered (``offering``, if not
    yet), and what follows."""
    offering(lead, at=at)
    return outcome(
        Record(
            lead.id,
            "offered",
            data={
                "installer": installer_email,
                "offer_id": offer.id,
                "deadline": offer.deadline.isoformat(),
                "reason": offer.routing_reason,
            },
        ),
        QueueEmail("offer", lead_id=lead.id, installer_id=offer.installer_id, subject_id=offer.id),
        OfferMade(offer.id, lead.id, offer.installer_id),
    )


def accept(offer, lead, installer, *, at: datetime, actor: Actor, via: str) -> Outcome:
    move(offer, S.ACCEPTED)
    offer.answered_at = at
    lead_rules.move(lead, LeadStatus.ACCEPTED, by=Actor.SYSTEM)
    lead.assigned_installer_id = installer.id
    lead.updated_at = lead.accepted_at = lead.status_changed_at = at
    installer.last_action_at = at
    return outcome(
        Record(
            lead.id,
            "accepted",
            actor,
            {"installer": installer.email, "offer_id": offer.id, "via": via},
        ),
        LeadAccepted(lead.id, installer.id, offer.id, via),
    )


def decline(
    offer,
    lead,
    installer,
    *,
    reason: str | None,
    note: str | None,
    at: datetime,
    via: str,
    others_open: bool = False,
) -> Outcome:
    """``others_open``: the lead is escalated and still offered to other installers; it
    stays offered to them rather than rotating."""
    # No reason given stays None (the reason is optional); an unknown one is "other".
    if reason is not None and reason not in DECLINE_REASONS:
        reason = "other"
    move(offer, S.DECLINED)
    offer.answered_at = at
    offer.decline_reason, offer.decline_note = reason, (note or None)
    installer.last_action_at = at
    record = outcome(
        Record(
            lead.id,
            "declined",
            Actor.INSTALLER,
            {
                "installer": installer.email,
                "offer_id": offer.id,
                "reason": reason,
                "note": note or None,
                "via": via,
            },
        )
    )
    if others_open:
        return record
    lead_rules.move(lead, LeadStatus.NEW, by=Actor.SYSTEM)  # back to rotation
    return record + outcome(LeadNeedsInstaller(lead.id, "declined"))


def expire(
    offer, lead, installer_email: str, *, at: datetime, others_open: bool = False
) -> Outcome:
    """The deadline passed: the offer expires; an offered lead goes back to rotation (unless
    it is still offered to others: ``others_open``, an escalated lead)."""
    if offer.status != S.OFFERED:
        return Outcome()
    move(offer, S.EXPIRED)
    offer.answered_at = None
    result = outcome(
        Record(
            lead.id,
            "offer_expired",
            data={
                "installer": installer_email,
                "offer_id": offer.id,
                "deadline": offer.deadline.isoformat(),
            },
        )
    )
    if lead.status == LeadStatus.OFFERED and not others_open:
        lead_rules.move(lead, LeadStatus.NEW, by=Actor.SYSTEM)
        result += outcome(LeadNeedsInstaller(lead.id, "offer_expired"))
    return result


def withdraw_unavailable(
    offer, lead, installer_email: str, *, at: datetime, why: str, others_open: bool = False
) -> Outcome:
    """The installer cannot answer any more (vacation, deactivated): the open offer is
    withdrawn and the lead moves on to the next installer at once."""
    if offer.status != S.OFFERED:
        return Outcome()
    move(offer, S.WITHDRAWN)
    offer.answered_at = at
    result = outcome(
        Record(
            lead.id,
            "offer_withdrawn",
            data={"installer": installer_email, "offer_id": offer.id, "reason": why},
        )
    )
    if lead.status == LeadStatus.OFFERED and not others_open:
        lead_rules.move(lead, LeadStatus.NEW, by=Actor.SYSTEM)
        result += outcome(LeadNeedsInstaller(lead.id, "offer_withdrawn"))
    return result


def withdraw(offers, *, at: datetime) -> list[int]:
    """Open offers are withdrawn (their accept links answer "taken"); returns their ids."""
    ids = []
    for offer in offers:
        move(offer, S.WITHDRAWN)
        offer.answered_at = at
        ids.append(offer.id)
    return ids
