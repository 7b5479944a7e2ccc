"""Speed to lead (#20) with the clock travelling: short windows count working minutes, leads
arriving out of hours are held and released staggered at the start of the working day
(durable timers), escalation after silent offers reaches every remaining installer at once
and two concurrent accepts have one winner."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock, config
from mailflow.db import session_scope
from mailflow.domain.calendar import is_working_day
from mailflow.domain.intake.schema import LeadIn
from mailflow.domain.offer import OfferClosed
from mailflow.leads.created import lead_created
from mailflow.leads.service import create_lead
from mailflow.lifecycle.service import record_status
from mailflow.models import Installer, Lead, LeadStatus, Offer, OfferStatus, Timer, TimerStatus
from mailflow.routing import offers
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from support.offers import csrf_of, emails_to, links_in
from support.web import AUTH

PARIS = ZoneInfo("Europe/Paris")


def quiet_week_start() -> date:
    """A Monday at least two weeks ahead of the (possibly travelled) clock, in a week of
    working days with working days around its weekends: the test never depends on today."""
    day = clock.now().astimezone(PARIS).date() + timedelta(days=14)
    while True:
        day += timedelta(days=(7 - day.weekday()) % 7 or 7)
        week = [day + timedelta(days=k) for k in range(-3, 12)]
        if all(is_working_day(d, "FR") for d in week if d.weekday() < 5):
            return day


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS).astimezone(UTC)


@pytest.fixture
def speedy(settings, monkeypatch):
    """The settings with 30-minute windows (and whatever a test adds)."""

    def make(**env):
        monkeypatch.setenv("MAILFLOW_OFFER_WINDOW", "30m")
        for key, value in env.items():
            monkeypatch.setenv(f"MAILFLOW_{key.upper()}", str(value))
        config.reset_settings()
        return config.get_settings()

    return make


def add_installers(settings, *tiers: str) -> list[int]:
    with session_scope(settings) as s:
        rows = [
            Installer(
                email=f"installer{n}@paris.example",
                name=f"Installer {n}",
                language=["fr", "de", "en", "pl"][n % 4],
                country="FR",
                timezone="Europe/Paris",
                postcodes="75",
                tier=tier,
            )
            for n, tier in enumerate(tiers)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def arrive(settings, at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        lead_id = customer_asks(settings, n=int(at.timestamp()) % 10_000_000)
        with session_scope(settings) as s:
            offers.route_lead(s, lead_id, now=at, settings=settings)
        return lead_id


def customer_asks(settings, n: int) -> int:
    """A new lead from a customer of their own (the same one twice would be a duplicate)."""
    lead_in = LeadIn.model_validate(
        {
            "product": "pv",
            "customer": {
                "name": f"Client {n}",
                "email": f"client{n}@example.fr",
                "phone": f"+33 1 {n % 100:02d} {n // 100 % 100:02d} {n // 10_000 % 100:02d} 00",
                "postcode": "75010",
                "city": "Paris",
                "country": "FR",
            },
        }
    )
    with session_scope(settings) as s:
        lead = create_lead(s, lead_in, now=clock.now(), source="email", channel="smtp")
        lead_created(s, lead, now=clock.now(), settings=settings)
        return lead.id


def offers_of(settings, lead_id: int) -> list[Offer]:
    with session_scope(settings) as s:
        return list(s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id)))


def get_lead(settings, lead_id: int) -> Lead:
    with session_scope(settings) as s:
        return s.get(Lead, lead_id)


def sweep(settings, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        run_sweep(settings, at)


def test_lead_arriving_saturday_night_is_offered_monday_at_eight(speedy):
    settings = speedy()
    (installer_id,) = add_installers(settings, "gold")
    monday = quiet_week_start()
    saturday_night = paris(monday - timedelta(days=2), 22)
    lead_id = arrive(settings, saturday_night)

    held = get_lead(settings, lead_id)
    assert held.status == LeadStatus.NEW and offers_of(settings, lead_id) == []
    assert clock.as_utc(held.held_until) == paris(monday, 8)
    sweep(settings, paris(monday - timedelta(days=1), 12))  # Sunday: the drain leaves it held
    sweep(settings, paris(monday, 7, 59))
    assert offers_of(settings, lead_id) == []

    sweep(settings, paris(monday, 8))
    (offer,) = offers_of(settings, lead_id)
    assert offer.installer_id == installer_id
    assert clock.as_utc(offer.offered_at) == paris(monday, 8)
    assert clock.as_utc(offer.deadline) == paris(monday, 8, 30)
    assert get_lead(settings, lead_id).held_until is None
    sweep(settings, paris(monday, 8, 1))  # the timer acted once
    assert len(offers_of(settings, lead_id)) == 1


def test_ten_night_leads_are_released_staggered(speedy):
    settings = speedy(max_pending_offers=20, held_release_gap="2m")
    add_installers(settings, "gold")
    monday = quiet_week_start()
    night = paris(monday - timedelta(days=1), 23)  # Sunday 23:00 onwards
    ids = [arrive(settings, night + timedelta(minutes=3 * k)) for k in range(10)]
    with session_scope(settings) as s:
        due = sorted(
            clock.as_utc(t.due_at)
            for t in s.scalars(select(Timer).where(Timer.kind == "offer_release"))
        )
    assert due == [paris(monday, 8) + timedelta(minutes=2 * k) for k in range(10)]

    sweep(settings, paris(monday, 8))
    assert sum(len(offers_of(settings, i)) for i in ids) == 1  # not ten at once
    sweep(settings, paris(monday, 8, 9))
    assert sum(len(offers_of(settings, i)) for i in ids) == 5
    sweep(settings, paris(monday, 8, 30))
    made = sorted(clock.as_utc(o.offered_at) for i in ids for o in offers_of(settings, i))
    # released in order of arrival, two minutes apart, none lost, none twice
    assert len(made) == 10
    assert [o.offered_at for i in ids for o in offers_of(settings, i)] == sorted(
        o.offered_at for i in ids for o in offers_of(settings, i)
    )
    assert made[0] == paris(monday, 8) and made[1] == paris(monday, 8, 9)
    with session_scope(settings) as s:
        left = s.scalars(
            select(Timer).where(Timer.kind == "offer_release", Timer.status == TimerStatus.PENDING)
        ).all()
    assert left == []


def test_thirty_minute_window_expires_after_thirty_working_minutes(speedy):
    settings = speedy()
    first, second = add_installers(settings, "gold", "silver")
    monday = quiet_week_start()
    friday = monday - timedelta(days=3)
    lead_id = arrive(settings, paris(friday, 17, 45))
    (offer,) = offers_of(settings, lead_id)
    assert offer.installer_id == first
    assert clock.as_utc(offer.deadline) == paris(monday, 8, 15)

    sweep(settings, paris(monday, 8, 14))
    assert [o.status for o in offers_of(settings, lead_id)] == [OfferStatus.OFFERED]
    sweep(settings, paris(monday, 8, 15))
    expired, then = offers_of(settings, lead_id)
    assert expired.status == OfferStatus.EXPIRED
    assert then.installer_id == second and clock.as_utc(then.deadline) == paris(monday, 8, 45)


def test_default_window_is_unchanged(settings):
    (installer_id,) = add_installers(settings, "gold")
    monday = quiet_week_start()
    lead_id = arrive(settings, paris(monday - timedelta(days=2), 22))  # Saturday night
    (offer,) = offers_of(settings, lead_id)  # offered at once, never held
    assert clock.as_utc(offer.deadline) == paris(monday, 17)


def escalated_lead(settings, monday: date) -> tuple[int, list[int]]:
    ids = add_installers(settings, "gold", "silver", "bronze", "bronze", "bronze")
    lead_id = arrive(settings, paris(monday + timedelta(days=1), 10))
    sweep(settings, paris(monday + timedelta(days=1), 10, 30))  # first silent offer
    sweep(settings, paris(monday + timedelta(days=1), 11))  # second: escalation
    return lead_id, ids


def test_escalation_after_silent_offers_reaches_all_remaining_installers(speedy):
    settings = speedy(escalate_after_silent_offers=2)
    monday = quiet_week_start()
    lead_id, ids = escalated_lead(settings, monday)
    rows = offers_of(settings, lead_id)
    assert [o.status for o in rows[:2]] == [OfferStatus.EXPIRED] * 2
    open_ = [o for o in rows if o.status == OfferStatus.OFFERED]
    remaining = set(ids) - {o.installer_id for o in rows[:2]}
    assert {o.installer_id for o in open_} == remaining and len(open_) == 3
    assert all(o.routing_reason.startswith("escalated after 2 silent offers") for o in open_)
    assert get_lead(settings, lead_id).status == LeadStatus.OFFERED

    # One declines: the lead stays offered to the two others.
    with session_scope(settings) as s:
        offers.decline(
            s,
            open_[0].id,
            open_[0].installer_id,
            reason="no_capacity",
            note=None,
            now=paris(monday + timedelta(days=1), 11, 5),
            settings=settings,
        )
    assert get_lead(settings, lead_id).status == LeadStatus.OFFERED

    # The two others accept at the same moment: one winner.
    at = paris(monday + timedelta(days=1), 11, 10)
    barrier = threading.Barrier(2)
    results: dict[int, str] = {}

    def accept(offer: Offer) -> None:
        barrier.wait()
        try:
            with session_scope(settings) as s:
                offers.accept(s, offer.id, offer.installer_id, now=at, settings=settings)
            results[offer.installer_id] = "won"
        except OfferClosed as closed:
            results[offer.installer_id] = closed.code

    threads = [threading.Thread(target=accept, args=(o,)) for o in open_[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results.values()) == ["taken_by_other", "won"], results
    winner = next(i for i, r in results.items() if r == "won")
    loser = next(i for i, r in results.items() if r != "won")
    row = get_lead(settings, lead_id)
    assert row.status == LeadStatus.ACCEPTED and row.assigned_installer_id == winner
    by_installer = {o.installer_id: o.status for o in offers_of(settings, lead_id)}
    assert by_installer[winner] == OfferStatus.ACCEPTED
    assert by_installer[loser] == OfferStatus.WITHDRAWN

    # The loser's link says kindly that another installer was quicker, in their language.
    with session_scope(settings) as s:
        loser_row = s.get(Installer, loser)
        address, language = loser_row.email, loser_row.language
    (mail,) = emails_to(settings, address, "offer")
    with time_machine.travel(at + timedelta(minutes=1), tick=False):
        with TestClient(create_app()) as client:
            page = client.get(links_in(mail)["accept"])
    assert page.status_code == 409
    quicker = {
        "en": "Another installer was quicker this time",
        "fr": "Un autre installateur a été plus rapide cette fois",
        "de": "Ein anderer Installateur war diesmal schneller",
        "pl": "Inny instalator był tym razem szybszy",
    }
    assert quicker[language] in page.text


def test_escalation_is_off_by_default(speedy):
    settings = speedy()
    monday = quiet_week_start()
    lead_id, _ = escalated_lead(settings, monday)
    assert [o.status for o in offers_of(settings, lead_id)] == [
        OfferStatus.EXPIRED,
        OfferStatus.EXPIRED,
        OfferStatus.OFFERED,
    ]


def test_escalation_after_waiting_too_long(speedy):
    settings = speedy(escalate_after_wait="45m")
    monday = quiet_week_start()
    lead_id, ids = escalated_lead(settings, monday)
    # 10:30 (30 min waited): one by one; 11:00 (60 min): everyone left at once
    rows = offers_of(settings, lead_id)
    assert [o.status for o in rows].count(OfferStatus.OFFERED) == 3
    assert rows[-1].routing_reason.startswith("escalated after waiting 1 h 00 min")


def test_first_contact_is_the_first_status_or_the_reveal(settings):
    (installer_id,) = add_installers(settings, "gold")
    tuesday = quiet_week_start() + timedelta(days=1)
    by_status = arrive(settings, paris(tuesday, 10))
    by_reveal = arrive(settings, paris(tuesday, 10, 1))
    for lead_id, minute in ((by_status, 20), (by_reveal, 25)):
        (offer,) = offers_of(settings, lead_id)
        with session_scope(settings) as s:
            offers.accept(
                s, offer.id, installer_id, now=paris(tuesday, 10, minute), settings=settings
            )
    for minute in (40, 50):  # the first status counts, not the next
        with session_scope(settings) as s:
            lead = offers.lock_lead(s, by_status)
            step = "contact_attempted" if minute == 40 else "first_contact"
            record_status(
                s,
                lead,
                s.get(Installer, installer_id),
                step,
                {},
                now=paris(tuesday, 11, minute),
                settings=settings,
            )
    (mail,) = [
        m
        for m in emails_to(settings, "installer0@paris.example", "contact_details")
        if m.lead_id == by_reveal
    ]
    reveal = links_in(mail)["reveal"]
    with time_machine.travel(paris(tuesday, 11, 5), tick=False):
        with TestClient(create_app()) as client:
            page = client.get(reveal)
            shown = client.post(reveal, data={"csrf_token": csrf_of(page.text)})
    assert shown.status_code == 200
    assert clock.as_utc(get_lead(settings, by_status).first_contact_at) == paris(tuesday, 11, 40)
    assert clock.as_utc(get_lead(settings, by_reveal).first_contact_at) == paris(tuesday, 11, 5)


def test_speed_figures_of_a_known_set_match_the_api(settings):
    gold, silver = add_installers(settings, "gold", "silver")
    t0 = paris(quiet_week_start() + timedelta(days=1), 9)
    # (source, holder, minutes to acceptance, minutes to first contact)
    known = [
        ("webhook", gold, 4, 30),
        ("webhook", gold, 10, 50),
        ("webhook", silver, 6, None),
        ("email", silver, 60, 120),
        ("email", None, None, None),  # nobody took it yet
    ]
    with session_scope(settings) as s:
        for n, (source, holder, accepted, contact) in enumerate(known):
            s.add(
                Lead(
                    status=LeadStatus.ACCEPTED if holder else LeadStatus.POOL,
                    source=source,
                    customer_name=f"Client {n}",
                    postcode="75010",
                    country="FR",
                    assigned_installer_id=holder,
                    created_at=t0 + timedelta(hours=n),
                    accepted_at=t0 + timedelta(hours=n, minutes=accepted) if accepted else None,
                    first_contact_at=(
                        t0 + timedelta(hours=n, minutes=contact) if contact else None
                    ),
                )
            )
    with TestClient(create_app()) as client:
        period = {"created_from": clock.iso(t0), "created_to": clock.iso(t0 + timedelta(days=1))}
        overall = client.get("/api/speed", params=period, headers=AUTH).json()["groups"]
        by_source = client.get(
            "/api/speed", params={**period, "by": "source"}, headers=AUTH
        ).json()["groups"]
        by_tier = client.get("/api/speed", params={**period, "by": "tier"}, headers=AUTH)
        odd = client.get("/api/speed", params={"by": "weather"}, headers=AUTH)
    assert overall == [
        {
            "key": None,
            "leads": 5,
            # 4, 6, 10, 60 minutes: median (6 + 10) / 2 = 8, p90 = the 4th = 60
            "to_acceptance": {"count": 4, "median_seconds": 480, "p90_seconds": 3600},
            # 30, 50, 120 minutes
            "to_first_contact": {"count": 3, "median_seconds": 3000, "p90_seconds": 7200},
        }
    ]
    assert [(g["key"], g["leads"]) for g in by_source] == [("email", 2), ("webhook", 3)]
    assert by_source[1]["to_acceptance"] == {
        "count": 3,
        "median_seconds": 360,
        "p90_seconds": 600,
    }
    tiers = {g["key"]: g["to_first_contact"]["median_seconds"] for g in by_tier.json()["groups"]}
    assert tiers == {"gold": 2400, "silver": 7200, None: None}
    assert odd.status_code == 422
