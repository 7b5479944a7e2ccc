"""Durable timers: rows in ``timers`` that the scheduler sweep acts on when due.

A due timer is claimed by a conditional update (pending → done) in the same transaction as
what it does, so it acts exactly once even when two schedulers sweep at the same moment; if
acting fails, the transaction rolls back and the timer stays pending for the next sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import is_postgres, log_failure, session_scope
from mailflow.models import Timer, TimerStatus

log = logging.getLogger(__name__)

Handler = Callable[[Session, Timer, datetime, Settings], None]
_handlers: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _handlers[kind] = handler
        return handler

    return register


class UnknownTimerKinds(RuntimeError):
    """Pending timers of a kind no handler acts on: starting would leave them undone."""


def unknown_pending_kinds(settings: Settings) -> set[str]:
    with session_scope(settings) as session:
        kinds = session.scalars(
            select(Timer.kind).where(Timer.status == TimerStatus.PENDING).distinct()
        )
        return set(kinds) - set(_handlers)


def check_timer_kinds(settings: Settings) -> None:
    """Run before a process starts sweeping: every pending timer's kind has a handler, or the
    process refuses to start (a reminder must never be dropped because the module that handles
    it was not imported, or because the data comes from a newer version)."""
    unknown = unknown_pending_kinds(settings)
    if unknown:
        raise UnknownTimerKinds(
            f"pending timers of unknown kind {', '.join(sorted(unknown))}: no handler would "
            "act on them (a feature missing from this version of mailflow?). Not starting, so "
            "that they are not lost; run the version that wrote them, or cancel them."
        )


def schedule(
    session: Session,
    kind: str,
    due_at: datetime,
    *,
    lead_id: int | None = None,
    installer_id: int | None = None,
    subject_id: int | None = None,
    data: dict | None = None,
    now: datetime,
) -> Timer:
    timer = Timer(
        kind=kind,
        due_at=due_at,
        lead_id=lead_id,
        installer_id=installer_id,
        subject_id=subject_id,
        data=data or {},
        created_at=now,
    )
    session.add(timer)
    return timer


def cancel(
    session: Session,
    *,
    lead_id: int,
    kinds: tuple[str, ...],
    now: datetime,
    subject_id: int | None = None,
) -> int:
    query = (
        update(Timer)
        .where(Timer.lead_id == lead_id, Timer.kind.in_(kinds), Timer.status == TimerStatus.PENDING)
        .values(status=TimerStatus.CANCELLED, done_at=now)
    )
    if subject_id is not None:
        query = query.where(Timer.subject_id == subject_id)
    return session.execute(query).rowcount


def pending(session: Session, lead_id: int, kind: str) -> list[Timer]:
    return list(
        session.scalars(
            select(Timer).where(
                Timer.lead_id == lead_id, Timer.kind == kind, Timer.status == TimerStatus.PENDING
            )
        )
    )


def run_due(settings: Settings, at: datetime, *, batch: int = 200) -> int:
    """Act on every timer due at ``at``. Returns how many acted."""
    acted = 0
    while True:
        with session_scope(settings) as session:
            query = (
                select(Timer.id)
                .where(
                    Timer.status == TimerStatus.PENDING,
                    Timer.due_at <= at,
                    # A kind without a handler stays pending, never marked done unacted
                    # (check_timer_kinds refuses to start a process that would meet one).
                    Timer.kind.in_(list(_handlers)),
                )
                .order_by(Timer.due_at, Timer.id)
                .limit(batch)
            )
            if is_postgres(session):
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
        for timer_id in ids:
            try:
                with session_scope(settings) as session:
                    if _claim_and_act(session, timer_id, at, settings):
                        acted += 1
            except Exception:
                log_failure(log, "timer %s failed; it stays pending", timer_id)
        if len(ids) < batch:
            return acted


def _claim_and_act(session: Session, timer_id: int, at: datetime, settings: Settings) -> bool:
    claimed = session.execute(
        update(Timer)
        .where(Timer.id == timer_id, Timer.status == TimerStatus.PENDING, Timer.due_at <= at)
        .values(status=TimerStatus.DONE, done_at=at)
        .returning(Timer.kind)
    ).first()
    if claimed is None:
        return False  # another scheduler took it
    timer = session.get(Timer, timer_id)
    _handlers[claimed.kind](session, timer, at, settings)
    return True
