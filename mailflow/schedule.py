"""What the scheduler does, as two explicit tables.

``SWEEPS``: the sweep jobs, run in this order by ``run_sweep`` (``mailflow sweep --at ISO`` for
one instant; ``mailflow scheduler`` and ``mailflow run`` in a loop). Deadlines and retries live
in the database, never only in the broker, so a lost broker loses nothing. Jobs are idempotent
and claim their rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two schedulers never act
twice.

``TIMER_HANDLERS``: which function acts on a due durable timer of each kind. A process that
would sweep refuses to start while a pending timer has a kind missing from it
(``check_timer_kinds``): a reminder is never dropped because its handler is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.app.reports.samples import record_sample
from mailflow.clock import now as clock_now
from mailflow.config import Settings, get_settings
from mailflow.db import log_failure, session_scope
from mailflow.infra import timers
from mailflow.intake.process import process_one
from mailflow.leads.imports import resume_stalled_imports
from mailflow.leads.retention import purge
from mailflow.leads.search import index_pending
from mailflow.lifecycle.service import (
    _follow_up_reminder,
    _reservation_lapse,
    _status_reminder,
    deactivate_silent_installers,
    expire_stale_leads,
    lock_held_leads,
    send_digests,
)
from mailflow.lifecycle.visits import _visit_reminder
from mailflow.metrics import SWEEP_ACTIONS, SWEEP_FAILURES, SWEEP_SECONDS
from mailflow.models import InboundMessage, InboundOutcome, Timer
from mailflow.outbound.outbox import sweep_outbox
from mailflow.ratings.service import _remind_survey, _send_survey, nightly_recompute
from mailflow.routing.alerts import send_admin_digests
from mailflow.routing.exchange import _claim_lapse, send_exchange_mail
from mailflow.routing.sweeps import expire_due_offers, reoffer_pool
from mailflow.routing.waiting import offer_waiting_leads, release_held
from mailflow.routing.withdrawals import withdraw_unavailable_offers

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------ timers ------------
TimerHandler = Callable[[Session, Timer, datetime, Settings], None]

TIMER_HANDLERS: Mapping[str, TimerHandler] = {
    "status_reminder": _status_reminder,
    "reservation_lapse": _reservation_lapse,
    "follow_up_reminder": _follow_up_reminder,
    "visit_reminder": _visit_reminder,
    "survey": _send_survey,
    "survey_reminder": _remind_survey,
    "claim_lapse": _claim_lapse,
    "offer_release": release_held,  # leads held for the installer's working hours (#20)
}


class UnknownTimerKinds(RuntimeError):
    """Pending timers of a kind no handler acts on: starting would leave them undone."""


def unknown_pending_kinds(settings: Settings) -> set[str]:
    with session_scope(settings) as session:
        return timers.pending_kinds(session) - TIMER_HANDLERS.keys()


def check_timer_kinds(settings: Settings) -> None:
    """Run before a process starts sweeping: every pending timer's kind has a handler, or the
    process refuses to start (a reminder must never be dropped because its handler is missing,
    or because the data comes from a newer version)."""
    unknown = unknown_pending_kinds(settings)
    if unknown:
        raise UnknownTimerKinds(
            f"pending timers of unknown kind {', '.join(sorted(unknown))}: no handler would "
            "act on them (a feature missing from this version of mailflow?). Not starting, so "
            "that they are not lost; run the version that wrote them, or cancel them."
        )


# Due timers acted on in one transaction (one commit, one claim statement): a reminder costs
# its own statements only. A failure rolls the group back and its timers are retried one by
# one, each in its own transaction, so that one timer's failure never holds up the others.
TIMER_GROUP = 20


def _act_on_timers(settings: Settings, ids: list[int], at: datetime) -> int:
    with session_scope(settings) as session:
        claimed = timers.claim_many(session, ids, at)  # the others: another scheduler's
        lock_held_leads(session, claimed)  # the reminders' leads, in one statement
        for timer in claimed:
            TIMER_HANDLERS[timer.kind](session, timer, at, settings)
        return len(claimed)


def run_due_timers(
    settings: Settings, at: datetime, *, batch: int = 200, group: int = TIMER_GROUP
) -> int:
    """Act on every timer due at ``at``, each claimed in the transaction of what it does
    (groups of ``group`` per transaction; a group that fails is redone one timer per
    transaction, and a timer that fails alone stays pending). A kind without a handler stays
    pending, never marked done unacted (``check_timer_kinds`` refuses to start a process that
    would meet one). Returns how many acted."""
    acted = 0
    while True:
        with session_scope(settings) as session:
            ids = timers.due(session, at, TIMER_HANDLERS, batch=batch)
        for start in range(0, len(ids), group):
            chunk = ids[start : start + group]
            try:
                acted += _act_on_timers(settings, chunk, at)
                continue
            except Exception:
                if len(chunk) == 1:
                    log_failure(log, "timer %s failed; it stays pending", chunk[0])
                    continue
                log.info("a timer of %s failed; acting on them one by one", chunk)
            for timer_id in chunk:
                try:
                    acted += _act_on_timers(settings, [timer_id], at)
                except Exception:
                    log_failure(log, "timer %s failed; it stays pending", timer_id)
        if len(ids) < batch:
            return acted


# ------------------------------------------------------------------------ sweeps ------------
class Sweep(NamedTuple):
    name: str  # the label of the sweep metrics
    run: Callable[[Settings, datetime], int]  # returns how many rows it acted on


def process_pending_inbound(
    settings: Settings, at: datetime, *, grace: timedelta | None = None, batch: int = 200
) -> int:
    """Stored messages whose processing job was lost (broker down, process killed) are
    processed here."""
    if grace is None:
        grace = timedelta(seconds=settings.pending_grace_seconds)
    done = 0
    while True:
        with session_scope(settings) as session:
            query = (
                select(InboundMessage.id)
                .where(
                    InboundMessage.outcome == InboundOutcome.PENDING,
                    InboundMessage.received_at <= at - grace,
                    InboundMessage.channel != "webhook",
                )
                .order_by(InboundMessage.id)
                .limit(batch)
            )
            ids = list(session.scalars(query))
        if not ids:
            return done
        for inbound_id in ids:
            try:
                if process_one(inbound_id, now=at, settings=settings):
                    done += 1
            except Exception:
                log_failure(log, "sweep: inbound message %s failed", inbound_id)
        if len(ids) < batch:
            return done


def index_search_terms(settings: Settings, at: datetime) -> int:
    """Search terms of new (or edited) leads."""
    return index_pending(settings, limit=10_000)


def route_waiting_leads(settings: Settings, at: datetime) -> int:
    """Leads waiting for a free installer (oldest first), new leads whose routing job was
    lost, and pool leads that may have a taker now."""
    return offer_waiting_leads(settings, at) + reoffer_pool(settings, at)


SWEEPS: tuple[Sweep, ...] = (
    Sweep("inbound", process_pending_inbound),
    Sweep("retention", purge),  # raw messages and sent bodies past their retention periods
    Sweep("lead_search", index_search_terms),
    Sweep("timers", run_due_timers),
    Sweep("expiry", expire_stale_leads),
    Sweep("inactive_installers", deactivate_silent_installers),
    Sweep("digests", send_digests),
    Sweep("outbox", sweep_outbox),
    Sweep("tiers", nightly_recompute),
    Sweep("withdrawals", withdraw_unavailable_offers),  # vacation started, deactivated
    Sweep("offers", expire_due_offers),
    Sweep("route", route_waiting_leads),
    # After routing: what is still in the exchange goes into the daily email.
    Sweep("exchange_mail", send_exchange_mail),
    Sweep("admin_digest", send_admin_digests),  # after routing: this sweep's pool leads too
    Sweep("report_samples", record_sample),  # pool, waiting line, outbox, queues (reports)
    Sweep("imports", resume_stalled_imports),  # an import whose job was lost resumes
)
assert len({sweep.name for sweep in SWEEPS}) == len(SWEEPS), "sweep names are metric labels"


def run_sweep(settings: Settings | None = None, at: datetime | None = None) -> dict[str, int]:
    """Every sweep job once, in order; a failing job is logged and counted (-1), the others
    still run."""
    settings = settings or get_settings()
    at = at or clock_now()
    results = {}
    with SWEEP_SECONDS.time():
        for name, run in SWEEPS:
            try:
                results[name] = run(settings, at)
            except Exception:
                log_failure(log, "sweep job %s failed", name)
                SWEEP_FAILURES.labels(name).inc()
                results[name] = -1
            else:
                if isinstance(results[name], int) and results[name] > 0:
                    SWEEP_ACTIONS.labels(name).inc(results[name])
    return results
