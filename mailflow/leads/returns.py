"""Bad-lead reports ("returns", #20): the use cases. An installer reports a lead they accepted
(dashboard or the link of the acceptance email); a rule approves it at once or it waits for an
admin (``/admin/returns``), who approves or rejects it in one click. Approval marks the
installer's offer returned (no longer counted by their caps, ``routing.standing.period_counts``,
nor by their score, ``ratings.service.history_for``) and puts the lead back into rotation, or
closes it as invalid (fake data), through the lead's state machine. The installer hears of the
decision by email. The rules are in :mod:`mailflow.domain.returns`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.db import is_postgres
from mailflow.domain import lead as lead_rules
from mailflow.domain import returns as rules
from mailflow.domain.effects import AlertAdmins, Outcome, QueueEmail, Record, outcome
from mailflow.domain.routing import period_starts
from mailflow.models import (
    Actor,
    Installer,
    Lead,
    LeadReturn,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxState,
)
from mailflow.routing.offers import lock_lead

# How far back a duplicate the installer already had is looked for.
DUPLICATE_LOOKBACK = timedelta(days=365)
NOTE_LIMIT = 2000


class ReturnMissing(Exception):
    """No such report."""


class AlreadyDecided(Exception):
    """The report was approved or rejected already (two admins, two clicks)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"this report was {status} already")
        self.state = status


# ------------------------------------------------------------------ figures ----------------
def month_figures(session: Session, installer: Installer, now: datetime) -> tuple[int, int]:
    """(leads the installer accepted, reports they made) in their current month (their time
    zone): the quota's base and what it has used."""
    month = period_starts(now, installer.timezone)[2]
    accepted = session.scalar(
        select(func.count()).where(
            Offer.installer_id == installer.id,
            Offer.status.in_([OfferStatus.ACCEPTED, OfferStatus.CLAIMED]),
            Offer.answered_at >= month,
        )
    )
    reports = session.scalar(
        select(func.count()).where(
            LeadReturn.installer_id == installer.id, LeadReturn.reported_at >= month
        )
    )
    return int(accepted or 0), int(reports or 0)


def quota_left(session: Session, installer: Installer, now: datetime, settings: Settings) -> int:
    accepted, reports = month_figures(session, installer, now)
    return max(0, rules.monthly_quota(accepted, settings.return_quota_percent) - reports)


def report_of(session: Session, lead_id: int, installer_id: int) -> LeadReturn | None:
    """The installer's report of this lead, if any (one per lead and installer)."""
    return session.scalar(
        select(LeadReturn)
        .where(LeadReturn.lead_id == lead_id, LeadReturn.installer_id == installer_id)
        .order_by(LeadReturn.id.desc())
        .limit(1)
    )


def _held_offer(session: Session, lead: Lead, installer: Installer) -> Offer | None:
    return session.scalar(
        select(Offer)
        .where(
            Offer.lead_id == lead.id,
            Offer.installer_id == installer.id,
            Offer.status.in_([OfferStatus.ACCEPTED, OfferStatus.CLAIMED]),
        )
        .order_by(Offer.id.desc())
        .limit(1)
    )


def customer_email_bounced(session: Session, lead: Lead) -> bool:
    """A message of ours to the customer's address came back as a permanent failure."""
    if not lead.email:
        return False
    return (
        session.scalar(
            select(OutboxMessage.id)
            .where(
                func.lower(OutboxMessage.to) == lead.email.strip().lower(),
                OutboxMessage.state == OutboxState.BOUNCED,
            )
            .limit(1)
        )
        is not None
    )


def duplicate_seen(session: Session, lead: Lead, installer: Installer, now: datetime) -> bool:
    """The intake's duplicate rule (same customer, email or phone, at the same postcode; see
    ``leads.service.find_original``), over a year and whatever the lead's status: another lead
    of this customer that this installer accepted or held."""
    same_contact = [
        column == value
        for column, value in ((Lead.email, lead.email), (Lead.phone, lead.phone))
        if value
    ]
    if not same_contact:
        return False
    others = select(Lead.id).where(
        Lead.id != lead.id,
        Lead.postcode == lead.postcode,
        or_(*same_contact),
        Lead.created_at >= now - DUPLICATE_LOOKBACK,
    )
    held = session.scalar(
        select(Lead.id).where(Lead.id.in_(others), Lead.assigned_installer_id == installer.id)
    )
    if held is not None:
        return True
    accepted = session.scalar(
        select(Offer.id)
        .where(
            Offer.lead_id.in_(others),
            Offer.installer_id == installer.id,
            Offer.status.in_([OfferStatus.ACCEPTED, OfferStatus.CLAIMED]),
        )
        .limit(1)
    )
    return accepted is not None


# ------------------------------------------------------------------ report -----------------
def report(
    session: Session,
    lead: Lead,
    installer: Installer,
    *,
    reason: str,
    attempts: int | None,
    note: str | None,
    via: str,
    now: datetime,
    settings: Settings,
) -> LeadReturn:
    """The installer reports the (locked) lead; raises ``rules.ReportRefused`` when the rules
    do not allow it (nothing is written then). An automatic rule may approve it at once."""
    if lead.assigned_installer_id != installer.id:
        raise rules.ReportRefused("status")
    if is_postgres(session):
        # Two reports of one installer at once (two leads, two tabs) must not both pass the
        # quota: the installer's row serialises them (after the lead's lock, as routing does).
        session.execute(select(Installer.id).where(Installer.id == installer.id).with_for_update())
    previous = report_of(session, lead.id, installer.id)
    accepted, reports = month_figures(session, installer, now)
    rules.check_report(
        status=lead.status,
        reason=reason,
        attempts=attempts,
        min_attempts=settings.return_min_attempts,
        accepted_at=lead.accepted_at,
        now=now,
        window_hours=settings.return_window_hours,
        reports_this_month=reports,
        accepted_this_month=accepted,
        quota_percent=settings.return_quota_percent,
        already_reported=previous is not None,
    )
    offer = _held_offer(session, lead, installer)
    row = LeadReturn(
        lead_id=lead.id,
        installer_id=installer.id,
        offer_id=offer.id if offer else None,
        reason=reason,
        attempts=attempts,
        note=(note or "").strip()[:NOTE_LIMIT] or None,
        via=via,
        state=rules.PENDING,
        reported_at=now,
    )
    session.add(row)
    session.flush()
    uow = UnitOfWork(session, settings, now)
    uow.apply(
        outcome(
            Record(
                lead.id,
                "return_reported",
                Actor.INSTALLER,
                {"installer": installer.email, "kind": reason, "via": via, "return_id": row.id},
            )
        )
    )
    rule = rules.automatic_rule(
        reason,
        customer_email_bounced=customer_email_bounced(session, lead),
        duplicate_seen=duplicate_seen(session, lead, installer, now),
    )
    if rule is not None:
        uow.apply(_approve(session, row, lead, by="rule", actor=Actor.SYSTEM, rule=rule, now=now))
    else:
        uow.apply(
            outcome(
                AlertAdmins(
                    "return",
                    title=f"Lead #{lead.id} reported as a bad lead",
                    message=f"{installer.email}: {reason}. Approve or reject it at /admin/returns.",
                    lead_id=lead.id,
                )
            )
        )
    return row


# ------------------------------------------------------------------ decisions --------------
def lock_return(session: Session, return_id: int) -> LeadReturn | None:
    query = select(LeadReturn).where(LeadReturn.id == return_id)
    if is_postgres(session):
        query = query.with_for_update()
    return session.scalar(query)


def _approve(
    session: Session,
    row: LeadReturn,
    lead: Lead,
    *,
    by: str,
    actor: Actor,
    rule: str | None,
    now: datetime,
) -> Outcome:
    row.state, row.decided_at, row.decided_by, row.rule = rules.APPROVED, now, by, rule
    offer = session.get(Offer, row.offer_id) if row.offer_id else None
    if offer is not None:
        offer.returned_at = now
    decided = Record(
        lead.id,
        "return_approved",
        actor,
        {"installer_id": row.installer_id, "kind": row.reason, "by": by, "return_id": row.id},
    )
    email = QueueEmail(
        "return_decided", lead_id=lead.id, installer_id=row.installer_id, subject_id=row.id
    )
    still_theirs = (
        lead.assigned_installer_id == row.installer_id and lead.status in rules.REPORTABLE
    )
    if not still_theirs:
        # Moved on meanwhile (an admin reassigned or closed it): only the counting changes.
        row.outcome = None
        return outcome(decided, email)
    row.outcome = rules.outcome_for(row.reason)
    moved = lead_rules.returned(
        lead,
        at=now,
        actor=actor,
        close=row.outcome == rules.CLOSED,
        reason=f"bad-lead report approved: {row.reason}",
    )
    return outcome(decided) + moved + outcome(email)


def _decide(
    session: Session, return_id: int, *, approve: bool, by: str, now: datetime, settings: Settings
) -> LeadReturn:
    row = session.get(LeadReturn, return_id)
    if row is None:
        raise ReturnMissing(return_id)
    lead = lock_lead(session, row.lead_id)
    row = lock_return(session, return_id)
    session.refresh(row)
    if row.state != rules.PENDING:
        raise AlreadyDecided(row.state)
    uow = UnitOfWork(session, settings, now)
    if approve:
        uow.apply(_approve(session, row, lead, by=by, actor=Actor.ADMIN, rule=None, now=now))
        return row
    row.state, row.decided_at, row.decided_by = rules.REJECTED, now, by
    uow.apply(
        outcome(
            Record(
                lead.id,
                "return_rejected",
                Actor.ADMIN,
                {"installer_id": row.installer_id, "kind": row.reason, "by": by},
            ),
            QueueEmail(
                "return_decided", lead_id=lead.id, installer_id=row.installer_id, subject_id=row.id
            ),
        )
    )
    return row


def approve(
    session: Session, return_id: int, *, by: str, now: datetime, settings: Settings
) -> LeadReturn:
    """An admin approves the report: the offer stops counting, the lead moves on."""
    return _decide(session, return_id, approve=True, by=by, now=now, settings=settings)


def reject(
    session: Session, return_id: int, *, by: str, now: datetime, settings: Settings
) -> LeadReturn:
    """An admin rejects the report: nothing else changes (the lead stays the installer's)."""
    return _decide(session, return_id, approve=False, by=by, now=now, settings=settings)


# ------------------------------------------------------------------ lists and figures ------
def pending_reports(session: Session, limit: int = 200) -> list[LeadReturn]:
    return list(
        session.scalars(
            select(LeadReturn)
            .where(LeadReturn.state == rules.PENDING)
            .order_by(LeadReturn.reported_at, LeadReturn.id)
            .limit(limit)
        )
    )


def decided_reports(session: Session, limit: int = 50) -> list[LeadReturn]:
    return list(
        session.scalars(
            select(LeadReturn)
            .where(LeadReturn.state != rules.PENDING)
            .order_by(LeadReturn.decided_at.desc(), LeadReturn.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime


def source_quality(session: Session, period: Period) -> list[rules.SourceQuality]:
    """The quality figure of every source, over the leads created in the period: how many were
    reported as bad, and how many of those reports were approved (for the admin reports)."""
    in_period = (Lead.created_at >= period.since, Lead.created_at < period.until)
    leads = session.execute(select(Lead.source, Lead.id).where(*in_period)).all()
    reports = session.execute(
        select(Lead.source, LeadReturn.lead_id, LeadReturn.state)
        .join(Lead, Lead.id == LeadReturn.lead_id)
        .where(*in_period)
    ).all()
    return rules.source_quality(
        ((source, lead_id) for source, lead_id in leads),
        ((source, lead_id, status) for source, lead_id, status in reports),
    )
