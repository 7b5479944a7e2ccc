"""Due timers are acted on in groups, one transaction per group (#21): each still acts exactly
once, one that fails stays pending while the others of its group go through, and a reminder
costs its own few statements."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import event, select

from mailflow import schedule
from mailflow.db import get_engine, session_scope
from mailflow.lifecycle.service import record_status
from mailflow.models import Installer, Lead, LeadStatus, OutboxMessage, Timer, TimerStatus
from mailflow.routing import offers
from mailflow.routing.offers import lock_lead
from mailflow.schedule import run_due_timers
from support.offers import load_installers, new_lead, wait_for_offer

PARIS = ZoneInfo("Europe/Paris")
DUE = datetime(2026, 12, 2, 9, 0, tzinfo=PARIS)


def follow_up_leads(settings, n: int) -> list[int]:
    """``n`` accepted leads whose installers asked to be reminded on 2 December."""
    ids = []
    for i in range(n):
        at = datetime(2026, 11, 19, 15, i, tzinfo=PARIS)
        with time_machine.travel(at, tick=False):
            if i == 0:
                load_installers(settings)
            # Another customer and postcode each: not a duplicate.
            lead_id = new_lead(settings, postcode=f"7501{i}", email=f"customer{i}@example.fr")
            (offer,) = wait_for_offer(settings, lead_id)
            with session_scope(settings) as s:
                offers.accept(s, offer.id, offer.installer_id, now=at, settings=settings)
        with session_scope(settings) as s:
            row = lock_lead(s, lead_id)
            installer = s.get(Installer, row.assigned_installer_id)
            record_status(
                s,
                row,
                installer,
                "follow_up",
                {"date": "2026-12-02", "note": f"note {i}"},
                now=datetime(2026, 11, 20, 9, 0, tzinfo=PARIS),
                settings=settings,
            )
        ids.append(lead_id)
    return ids


def reminders_by_lead(settings) -> dict[int, int]:
    with session_scope(settings) as s:
        leads = s.scalars(select(OutboxMessage.lead_id).where(OutboxMessage.template == "reminder"))
        counts: dict[int, int] = {}
        for lead_id in leads:
            counts[lead_id] = counts.get(lead_id, 0) + 1
        return counts


def pending_leads(settings) -> list[int]:
    with session_scope(settings) as s:
        query = select(Timer.lead_id).where(
            Timer.kind == "follow_up_reminder", Timer.status == TimerStatus.PENDING
        )
        return sorted(s.scalars(query))


def test_a_failing_timer_holds_up_no_other_of_its_group(settings, worker, monkeypatch):
    first, broken, last = follow_up_leads(settings, 3)
    handler = schedule.TIMER_HANDLERS["follow_up_reminder"]

    def failing(session, timer, at, config):
        handler(session, timer, at, config)  # its email is written, then it fails
        if timer.lead_id == broken:
            raise RuntimeError("boom")

    monkeypatch.setitem(schedule.TIMER_HANDLERS, "follow_up_reminder", failing)
    assert run_due_timers(settings, DUE) == 2
    assert reminders_by_lead(settings) == {first: 1, last: 1}  # none lost, none doubled
    assert pending_leads(settings) == [broken]  # its email went with its rollback

    monkeypatch.setitem(schedule.TIMER_HANDLERS, "follow_up_reminder", handler)
    assert run_due_timers(settings, DUE) == 1
    assert run_due_timers(settings, DUE) == 0
    assert reminders_by_lead(settings) == {first: 1, broken: 1, last: 1}
    assert pending_leads(settings) == []


def test_a_group_of_reminders_costs_few_statements(settings, worker):
    leads = follow_up_leads(settings, 5)
    statements = []

    sweeper = threading.get_ident()  # the worker sends the emails meanwhile: not counted

    def count(conn, cursor, statement, *args):
        if threading.get_ident() == sweeper and not statement.startswith("BEGIN"):
            statements.append(statement)

    engine = get_engine(settings)
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert run_due_timers(settings, DUE) == 5
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert reminders_by_lead(settings) == dict.fromkeys(leads, 1)
    # One read of the due timers, one claim for the group, one read of the group's leads with
    # their installers (locked); then the group's link tokens, events and outbox rows, written
    # together at commit: one INSERT per table on PostgreSQL; on SQLite, whose RETURNING of
    # several rows SQLAlchemy does not rely on, one per row for the tables whose ids it needs.
    # 8 statements per reminder before #21, 4 before the group's leads were read at once.
    kinds = [" ".join(s.split()[:2]).upper() for s in statements]
    assert [k for k in kinds if not k.startswith("INSERT")] == [
        "SELECT TIMERS.ID",
        "UPDATE TIMERS",
        "SELECT LEADS.ID,",
    ], statements
    inserts = len(statements) - 3
    assert inserts == 3 if settings.database_url.startswith("postgresql") else inserts <= 3 * 5


def test_a_group_reminds_only_of_leads_their_installers_still_hold(settings, worker):
    kept, moved, closed = follow_up_leads(settings, 3)
    # Changed behind the timers' backs (their timers still pending): the rule holds anyway.
    with session_scope(settings) as s:
        other = s.scalar(
            select(Installer.id).where(Installer.id != s.get(Lead, moved).assigned_installer_id)
        )
        s.get(Lead, moved).assigned_installer_id = other
        s.get(Lead, closed).status = LeadStatus.QUOTE_SENT
    assert run_due_timers(settings, DUE) == 3  # all three claimed, in one group
    assert reminders_by_lead(settings) == {kept: 1}
    assert pending_leads(settings) == []
