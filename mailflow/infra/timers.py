"""Durable timers: rows in ``timers`` that the scheduler sweep acts on when due.

A due timer is claimed by a conditional update (pending → done) in the same transaction as
what it does, so it acts exactly once even when two schedulers sweep at the same moment; if
acting fails, the transaction rolls back and the timer stays pending for the next sweep.
Which function acts on each kind is the table ``mailflow.schedule.TIMER_HANDLERS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailflow.db import is_postgres
from mailflow.models import Timer, TimerStatus


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


def pending_kinds(session: Session) -> set[str]:
    """The kinds of every pending timer."""
    return set(
        session.scalars(select(Timer.kind).where(Timer.status == TimerStatus.PENDING).distinct())
    )


def due(session: Session, at: datetime, kinds: Iterable[str], *, batch: int) -> list[int]:
    """Ids of pending timers of ``kinds`` due at ``at``, oldest first. Read without a lock:
    two schedulers' lists may overlap, and ``claim_many`` gives each timer to one of them. (A
    locking read here, ``SKIP LOCKED``, made one scheduler's claim skip a timer that the other
    was only listing, and the other's claim skip it in turn while the first listed it again:
    nobody acted until the next sweep.)"""
    return list(
        session.scalars(
            select(Timer.id)
            .where(
                Timer.status == TimerStatus.PENDING,
                Timer.due_at <= at,
                Timer.kind.in_(list(kinds)),
            )
            .order_by(Timer.due_at, Timer.id)
            .limit(batch)
        )
    )


def claim(session: Session, timer_id: int, at: datetime) -> Timer | None:
    """Mark a due timer done in this transaction, or ``None`` if another scheduler took it.
    What it does must happen in the same transaction: a rollback leaves it pending."""
    claimed = claim_many(session, [timer_id], at)
    return claimed[0] if claimed else None


def claim_many(session: Session, timer_ids: Iterable[int], at: datetime) -> list[Timer]:
    """``claim`` for several timers in one statement (the rows come back with it: no second
    read), oldest first. On PostgreSQL a timer another scheduler's transaction holds is left
    to it (``SKIP LOCKED``) instead of waited for: two schedulers acting on batches never wait
    on each other's timers."""
    ids = list(timer_ids)
    due = (Timer.id.in_(ids), Timer.status == TimerStatus.PENDING, Timer.due_at <= at)
    if is_postgres(session):
        free = select(Timer.id).where(*due).with_for_update(skip_locked=True)
        where = (Timer.id.in_(free.scalar_subquery()),)
    else:
        where = due
    claimed = session.scalars(
        update(Timer)
        .where(*where)
        .values(status=TimerStatus.DONE, done_at=at)
        .returning(Timer)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed, key=lambda timer: (timer.due_at, timer.id))
