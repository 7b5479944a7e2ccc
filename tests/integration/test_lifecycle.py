"""After acceptance: the state machine, reminders, lapses, follow-ups, expiry, deactivation."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mailflow.db import session_scope
from mailflow.domain import lead as states
from mailflow.lifecycle.service import record_status
from mailflow.models import Installer, LeadStatus, Offer, OfferStatus
from mailflow.routing.offers import lock_lead
from mailflow.schedule import run_due_timers, run_sweep
from support.lifecycle import accepted_lead, offers_of
from support.offers import emails_to, lead, load_installers, new_lead, wait_for_offer
from support.people import GOLD_PARIS, SILVER_PARIS

PARIS = ZoneInfo("Europe/Paris")
S = LeadStatus

# The expected table, written out independently of the code: from → allowed installer steps.
EXPECTED = {
    "accepted": "contact_attempted first_contact quote_sent order_placed failed follow_up released",
    "contact_attempted": "contact_attempted first_contact quote_sent order_placed failed follow_up released",
    "first_contact": "first_contact quote_sent order_placed failed follow_up released",
    "quote_sent": "quote_sent order_placed failed follow_up released",
    "order_placed": "installation_scheduled installed failed",
    "installation_scheduled": "installation_scheduled installed failed",
    "follow_up": "contact_attempted first_contact quote_sent order_placed failed follow_up released",
    "installed": "",
    "failed": "",
}
ALL_STEPS = [*(str(s) for s in states.INSTALLER_STEPS), states.RELEASE]


@pytest.mark.parametrize("current", [s.value for s in LeadStatus])
@pytest.mark.parametrize("step", ALL_STEPS)
def test_every_transition_allowed_or_refused(current, step):
    allowed = step in EXPECTED.get(current, "").split()
    if allowed:
        states.check_installer_step(LeadStatus(current), step)
    else:
        with pytest.raises(states.Refused):
            states.check_installer_step(LeadStatus(current), step)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def sweep(settings, at):
    return run_sweep(settings, at)


def reminders(settings):
    return emails_to(settings, GOLD_PARIS, "reminder")


def test_reminder_then_lapse_then_next_installer(settings, worker):
    lead_id = accepted_lead(settings, local(2026, 11, 19, 15, 0))  # Thursday
    sweep(settings, local(2026, 11, 23, 14, 59))
    assert reminders(settings) == []
    sweep(settings, local(2026, 11, 23, 15, 0))  # Monday: 2 business days, weekend skipped
    (reminder,) = reminders(settings)
    assert "/l/status/" in reminder.body_text
    sweep(settings, local(2026, 11, 23, 15, 5))  # again: nothing more
    assert len(reminders(settings)) == 1
    sweep(settings, local(2026, 11, 25, 14, 59))
    assert lead(settings, lead_id).status == S.ACCEPTED
    sweep(settings, local(2026, 11, 25, 15, 0))  # Wednesday: the reservation lapses
    wait_for_offer(settings, lead_id, 2)
    got = lead(settings, lead_id)
    assert got.status == S.OFFERED and got.assigned_installer_id is None
    released = [e for e in got.events if e.type == "released"][0]
    assert "reservation lapsed" in released.data["reason"]
    assert emails_to(settings, GOLD_PARIS, "reservation_lapsed")
    assert emails_to(settings, SILVER_PARIS, "offer")


def test_a_public_holiday_moves_each_step_by_a_day(settings, worker):
    # Tuesday 10 November; Wednesday 11 November (Armistice) is a holiday in France.
    lead_id = accepted_lead(settings, local(2026, 11, 10, 15, 0))
    sweep(settings, local(2026, 11, 12, 15, 0))  # Thursday: without the holiday, the reminder
    assert reminders(settings) == []
    sweep(settings, local(2026, 11, 13, 15, 0))  # Friday
    assert len(reminders(settings)) == 1
    sweep(settings, local(2026, 11, 16, 15, 0))  # Monday: not yet (Fri + 2 = Tuesday)
    assert lead(settings, lead_id).status == S.ACCEPTED
    sweep(settings, local(2026, 11, 17, 15, 0))  # Tuesday: lapses
    assert lead(settings, lead_id).assigned_installer_id is None


def test_a_status_recorded_in_time_cancels_the_reminder(settings, worker):
    lead_id = accepted_lead(settings, local(2026, 11, 19, 15, 0))
    with session_scope(settings) as s:
        row = lock_lead(s, lead_id)
        installer = s.get(Installer, row.assigned_installer_id)
        record_status(
            s,
            row,
            installer,
            "contact_attempted",
            {},
            now=local(2026, 11, 20, 9, 0),
            settings=settings,
        )
    sweep(settings, local(2026, 11, 30, 15, 0))
    assert reminders(settings) == []
    assert lead(settings, lead_id).status == S.CONTACT_ATTEMPTED


def test_follow_up_reminder_at_nine_once_with_two_schedulers(settings, worker):
    lead_id = accepted_lead(settings, local(2026, 11, 19, 15, 0))
    with session_scope(settings) as s:
        row = lock_lead(s, lead_id)
        installer = s.get(Installer, row.assigned_installer_id)
        record_status(
            s,
            row,
            installer,
            "follow_up",
            {"date": "2026-12-02", "note": "call back"},
            now=local(2026, 11, 20, 9, 0),
            settings=settings,
        )
    sweep(settings, local(2026, 12, 2, 8, 59))
    assert reminders(settings) == []

    # The sweep runs every few seconds, in two scheduler processes at once.
    instants = [local(2026, 12, 2, 9, 0) + timedelta(seconds=3 * i) for i in range(10)]
    barrier = threading.Barrier(2)

    def scheduler():
        barrier.wait()
        for at in instants:
            run_due_timers(settings, at)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    (reminder,) = reminders(settings)
    assert "call back" in reminder.body_text
    assert reminder.created_at == local(2026, 12, 2, 9, 0)


def test_leads_expire_after_eight_weeks(settings, worker):
    created = local(2026, 9, 1, 10, 0)
    lead_id = accepted_lead(settings, created)
    with session_scope(settings) as s:
        row = lock_lead(s, lead_id)
        installer = s.get(Installer, row.assigned_installer_id)
        record_status(
            s,
            row,
            installer,
            "first_contact",
            {},
            now=created + timedelta(days=1),
            settings=settings,
        )
    results = sweep(settings, created + timedelta(weeks=8) - timedelta(minutes=1))
    assert results["expiry"] == 0
    results = sweep(settings, created + timedelta(weeks=8))
    assert results["expiry"] == 1
    got = lead(settings, lead_id)
    assert got.status == S.EXPIRED
    assert [e for e in got.events if e.type == "expired"]


def test_offered_leads_expire_and_their_offer_is_withdrawn(settings, worker):
    created = local(2026, 9, 1, 10, 0)
    with time_machine.travel(created, tick=False):
        load_installers(settings)
        lead_id = new_lead(settings)
        wait_for_offer(settings, lead_id)
    with session_scope(settings) as s:  # keep it offered: push the deadline far away
        for offer in s.query(Offer).filter_by(lead_id=lead_id):
            offer.deadline = created + timedelta(weeks=10)
    sweep(settings, created + timedelta(weeks=8, minutes=1))
    assert lead(settings, lead_id).status == S.EXPIRED
    assert [o.status for o in offers_of(settings, lead_id)] == [OfferStatus.WITHDRAWN]


def test_silent_installers_are_deactivated_and_told(settings, worker):
    lead_id = accepted_lead(settings, local(2026, 9, 1, 10, 0))
    with session_scope(settings) as s:
        for installer in s.query(Installer):
            installer.created_at = local(2026, 8, 1)
    results = sweep(settings, local(2026, 10, 26, 10, 0))  # 8 weeks after the acceptance - 1 day
    deactivated = {i.email for i in _installers(settings) if not i.active}
    assert GOLD_PARIS not in deactivated  # accepted on 1 September: still within 8 weeks
    assert "info@sud-energie.example" in deactivated  # never did anything since 1 August
    sweep(settings, local(2026, 10, 27, 10, 1))
    assert GOLD_PARIS in {i.email for i in _installers(settings) if not i.active}
    (mail,) = emails_to(settings, GOLD_PARIS, "account_deactivated")
    assert re.search(r"/l/signin/\S+", mail.body_text)
    assert results["inactive_installers"] >= 1
    assert lead_id


def _installers(settings):
    with session_scope(settings) as s:
        return list(s.query(Installer))
