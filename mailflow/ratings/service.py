"""Surveys (customer ratings after installation) and tiers (from the score)."""

from __future__ import annotations

import logging
import statistics
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, not_, select, update
from sqlalchemy.orm import Session

from mailflow.app.uow import UnitOfWork
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.effects import (
    NOTHING,
    CancelTimers,
    Outcome,
    QueueEmail,
    Record,
    SetTimer,
    outcome,
)
from mailflow.domain.errors import StepInvalid
from mailflow.domain.events import StatusRecorded
from mailflow.domain.offer import SPAM_DECLINE_REASONS
from mailflow.domain.score import History, Thresholds, Weights, compute, decide_tier
from mailflow.models import (
    Actor,
    Installer,
    Lead,
    LeadEvent,
    LeadStatus,
    Offer,
    OfferStatus,
    ServiceStatus,
    Survey,
    TierChange,
)
from mailflow.status_rows import status_row

log = logging.getLogger(__name__)

SURVEY_AFTER = timedelta(days=3)
SURVEY_HOUR = time(10, 0)
REMINDER_AFTER = timedelta(days=7)
HISTORY = timedelta(days=365)
SURVEY_STATUSES = frozenset({LeadStatus.INSTALLATION_SCHEDULED, LeadStatus.INSTALLED})
SURVEY_TIMERS = ("survey", "survey_reminder")


# ------------------------------------------------------------------ surveys ----------------
def schedule_survey(uow: UnitOfWork, event: StatusRecorded) -> Outcome:
    """Reaction: once the installation is scheduled or done, the customer's survey is due
    3 days after the installation date (or after ``installed`` without one), 10:00 local."""
    if event.status not in SURVEY_STATUSES:
        return NOTHING
    lead = uow.session.get(Lead, event.lead_id)
    installer = uow.session.get(Installer, event.installer_id)
    day_text = (lead.progress or {}).get("installation_date")
    tz = ZoneInfo(installer.timezone)
    day = date.fromisoformat(day_text) if day_text else uow.now.astimezone(tz).date()
    due = datetime.combine(day + SURVEY_AFTER, SURVEY_HOUR, tzinfo=tz)
    cancel = outcome(CancelTimers(lead.id, ("survey",)))
    if _survey(uow.session, lead.id) is not None:
        return cancel  # already sent
    return cancel + outcome(
        SetTimer("survey", max(due, uow.now), lead_id=lead.id, installer_id=installer.id)
    )


def _survey(session: Session, lead_id: int) -> Survey | None:
    return session.scalar(select(Survey).where(Survey.lead_id == lead_id))


def _send_survey(session: Session, timer, at: datetime, settings: Settings) -> None:
    lead = session.get(Lead, timer.lead_id)
    if lead is None or lead.status not in SURVEY_STATUSES or not lead.email:
        return  # failed, expired, released… or nobody to ask
    if lead.assigned_installer_id != timer.installer_id or _survey(session, lead.id) is not None:
        return
    survey = Survey(lead_id=lead.id, installer_id=timer.installer_id, created_at=at, sent_at=at)
    session.add(survey)
    session.flush()
    who = {"lead_id": lead.id, "installer_id": survey.installer_id, "subject_id": survey.id}
    UnitOfWork(session, settings, at).apply(
        outcome(
            QueueEmail("survey", **who, data={"reminder": False}),
            Record(lead.id, "survey_sent", data={"to": lead.email}),
            SetTimer("survey_reminder", at + REMINDER_AFTER, **who),
        )
    )


def _remind_survey(session: Session, timer, at: datetime, settings: Settings) -> None:
    survey = session.get(Survey, timer.subject_id)
    if survey is None or survey.submitted_at is not None or survey.reminded_at is not None:
        return
    lead = session.get(Lead, survey.lead_id)
    if lead.status not in SURVEY_STATUSES:
        return
    survey.reminded_at = at
    who = {"lead_id": lead.id, "installer_id": survey.installer_id, "subject_id": survey.id}
    UnitOfWork(session, settings, at).apply(
        outcome(
            QueueEmail("survey", **who, data={"reminder": True}),
            Record(lead.id, "survey_reminder", data={"to": lead.email}),
        )
    )


class AlreadyAnswered(Exception):
    pass


def submit_survey(
    session: Session, survey_id: int, form: dict, *, now: datetime, settings: Settings
) -> Survey:
    """Save the customer's answers once (a conditional update: parallel submissions → one)."""
    errors = {}
    marks = {}
    for name in ("service", "installation", "communication"):
        try:
            mark = int(str(form.get(name) or ""))
            if not 1 <= mark <= 5:
                raise ValueError
            marks[name] = mark
        except ValueError:
            errors[name] = "choose 1 to 5 stars"
    if errors:
        raise StepInvalid(errors)
    comment = str(form.get("comment") or "").strip()[:4000] or None
    done = session.execute(
        update(Survey)
        .where(Survey.id == survey_id, Survey.submitted_at.is_(None))
        .values(submitted_at=now, comment=comment, **marks)
    )
    if done.rowcount != 1:
        raise AlreadyAnswered()
    survey = session.get(Survey, survey_id)
    session.refresh(survey)
    lead = session.get(Lead, survey.lead_id)
    installer = session.get(Installer, survey.installer_id)
    # The rating first: the email tells the installer their new average.
    installer.rating = average_rating(session, installer.id, now=now)
    UnitOfWork(session, settings, now).apply(
        outcome(
            CancelTimers(lead.id, ("survey_reminder",)),
            Record(lead.id, "rated", Actor.CUSTOMER, {**marks, "comment": bool(comment)}),
            QueueEmail(
                "rating_received", lead_id=lead.id, installer_id=installer.id, subject_id=survey.id
            ),
        )
    )
    return survey


def average_rating(session: Session, installer_id: int, *, now: datetime) -> float | None:
    surveys = session.scalars(
        select(Survey).where(
            Survey.installer_id == installer_id, Survey.submitted_at >= now - HISTORY
        )
    )
    marks = [s.average for s in surveys if s.average is not None]
    return round(sum(marks) / len(marks), 2) if marks else None


# ------------------------------------------------------------------ scores and tiers -------
# Declines saying the lead is fake: they count (as any decline) only once an admin confirmed
# the lead was real; until then the score ignores the offer altogether (SPAM_DECLINE_REASONS).
def unconfirmed_spam_decline():
    return and_(
        Offer.status == OfferStatus.DECLINED,
        func.coalesce(Offer.decline_reason, "").in_(SPAM_DECLINE_REASONS),
        Offer.decline_confirmed_at.is_(None),
    )


def history_for(session: Session, installer_id: int, *, now: datetime) -> History:
    since = now - HISTORY
    ratings = tuple(
        s.average
        for s in session.scalars(
            select(Survey)
            .where(Survey.installer_id == installer_id, Survey.submitted_at >= since)
            .order_by(Survey.submitted_at, Survey.id)  # the latest last: decide_tier reads it
        )
        if s.average
    )
    # Plain rows, not ORM objects: a busy installer answers thousands of offers a year, and the
    # nightly recompute reads every installer's year.
    offers = session.execute(
        select(Offer.status, Offer.offered_at, Offer.answered_at, Offer.lead_id).where(
            Offer.installer_id == installer_id,
            Offer.offered_at >= since,
            Offer.status.in_([OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED]),
            not_(unconfirmed_spam_decline()),
            Offer.returned_at.is_(None),  # approved bad-lead reports do not count (#20)
        )
    ).all()
    accepted = [o for o in offers if o.status == OfferStatus.ACCEPTED]
    hours = tuple(
        (o.answered_at - o.offered_at).total_seconds() / 3600
        for o in offers
        if o.answered_at is not None
    )
    lead_ids = [o.lead_id for o in accepted]
    with_progress = 0
    lapsed = 0
    if lead_ids:
        with_progress = (
            session.scalar(
                select(func.count(func.distinct(LeadEvent.lead_id))).where(
                    LeadEvent.lead_id.in_(lead_ids), LeadEvent.type == "status"
                )
            )
            or 0
        )
        lapsed_events = session.scalars(
            select(LeadEvent).where(
                LeadEvent.lead_id.in_(lead_ids), LeadEvent.type == "released", LeadEvent.at >= since
            )
        )
        lapsed = sum(
            1
            for e in lapsed_events
            if "lapsed" in str((e.data or {}).get("reason", ""))
            and (e.data or {}).get("installer_id") == installer_id
        )
    return History(
        ratings=ratings,
        offers_answered=len(offers),
        offers_accepted=len(accepted),
        answer_hours=hours,
        accepted_leads=len(accepted),
        leads_with_progress=with_progress,
        lapsed=lapsed,
    )


def weights_of(settings: Settings) -> tuple[Weights, Thresholds]:
    return (
        Weights(
            settings.score_weight_rating,
            settings.score_weight_acceptance,
            settings.score_weight_responsiveness,
            settings.score_weight_diligence,
        ),
        Thresholds(settings.tier_silver_threshold, settings.tier_gold_threshold),
    )


def recompute_installer(
    session: Session, installer: Installer, *, now: datetime, settings: Settings
) -> TierChange | None:
    weights, thresholds = weights_of(settings)
    history = history_for(session, installer.id, now=now)
    result = compute(history, weights, thresholds)
    installer.score = result.score
    installer.score_details = {
        "parts": result.parts,
        "advice": result.advice,
        "computed_at": now.isoformat(),
    }
    installer.rating = average_rating(session, installer.id, now=now)
    decision = decide_tier(
        installer.tier, history, weights, thresholds, pinned=installer.tier_pinned
    )
    if decision.tier == installer.tier:
        return None
    return change_tier(
        session,
        installer,
        decision.tier,
        now=now,
        settings=settings,
        score=result.score,
        advice=result.advice,
    )


def change_tier(
    session: Session,
    installer: Installer,
    tier: str,
    *,
    now: datetime,
    settings: Settings,
    by: str = "system",
    score: float | None = None,
    advice: list[str] | None = None,
    reason: str | None = None,
) -> TierChange:
    change = TierChange(
        installer_id=installer.id,
        at=now,
        old_tier=installer.tier,
        new_tier=tier,
        score=score if score is not None else installer.score,
        by=by,
        reason=reason,
    )
    session.add(change)
    installer.tier, installer.tier_changed_at = tier, now
    session.flush()
    UnitOfWork(session, settings, now).apply(
        outcome(
            QueueEmail(
                "tier_changed",
                installer_id=installer.id,
                subject_id=change.id,
                data={"advice": tuple(advice or ())},
            )
        )
    )
    return change


def pin_tier(
    session: Session,
    installer: Installer,
    tier: str | None,
    *,
    admin: str,
    now: datetime,
    settings: Settings,
) -> None:
    """An admin fixes the tier (``None`` unpins: the score decides again at the next run)."""
    if tier is None:
        installer.tier_pinned = False
        return
    installer.tier_pinned = True
    if tier != installer.tier:
        change_tier(
            session,
            installer,
            tier,
            now=now,
            settings=settings,
            by=admin,
            reason="pinned by an admin",
        )


def recompute_all(settings: Settings, at: datetime) -> list[TierChange]:
    changes = []
    with session_scope(settings) as session:
        ids = list(session.scalars(select(Installer.id).order_by(Installer.id)))
    for installer_id in ids:
        with session_scope(settings) as session:
            installer = session.get(Installer, installer_id)
            change = recompute_installer(session, installer, now=at, settings=settings)
            if change is not None:
                changes.append(change)
    return changes


NIGHTLY = "tiers"


def nightly_recompute(settings: Settings, at: datetime) -> int:
    """Once a day (the first sweep after 24 hours): one scheduler wins the claim."""
    with session_scope(settings) as session:
        status_row(session, NIGHTLY, data={}, updated_at=at - timedelta(days=2))
    with session_scope(settings) as session:
        claimed = session.execute(
            update(ServiceStatus)
            .where(
                ServiceStatus.name == NIGHTLY, ServiceStatus.updated_at <= at - timedelta(hours=24)
            )
            .values(updated_at=at)
        ).rowcount
    if not claimed:
        return 0
    changes = recompute_all(settings, at)
    log.info("tiers recomputed: %d changes", len(changes))
    return len(changes)


def median_hours(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
