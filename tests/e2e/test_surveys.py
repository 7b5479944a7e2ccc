"""Customer surveys after installation, scores and tiers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from click.testing import CliRunner
from fastapi.testclient import TestClient

from mailflow.cli import main
from mailflow.db import session_scope
from mailflow.domain.intake.schema import LeadIn
from mailflow.leads.service import add_event, create_lead
from mailflow.models import (
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
    Survey,
    TierChange,
)
from mailflow.ratings.service import history_for, pin_tier, recompute_all
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from support.lifecycle import CUSTOMER, accepted_lead, installed_lead, progress
from support.offers import (
    csrf_of,
    emails_to,
    lead,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS

PARIS = ZoneInfo("Europe/Paris")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def surveys(settings):
    return emails_to(settings, CUSTOMER, "survey")


def test_survey_three_days_after_installation_then_one_reminder(settings, worker):
    installed_lead(settings)
    run_sweep(settings, local(2026, 11, 23, 9, 59))
    assert surveys(settings) == []
    run_sweep(settings, local(2026, 11, 23, 10, 0))  # 3 days later, 10:00 local
    (first,) = surveys(settings)
    assert "/l/survey/" in first.body_text and first.language == "fr"
    run_sweep(settings, local(2026, 11, 29, 10, 0))
    assert len(surveys(settings)) == 1
    run_sweep(settings, local(2026, 11, 30, 10, 0))  # 7 days later: one reminder
    assert len(surveys(settings)) == 2
    run_sweep(settings, local(2026, 12, 30, 10, 0))
    assert len(surveys(settings)) == 2  # and no more


@time_machine.travel(datetime(2026, 11, 23, 10, 5, tzinfo=PARIS), tick=True)
def test_no_reminder_after_a_submission_and_ten_parallel_posts_save_once(
    settings, worker, live_server
):
    lead_id = installed_lead(settings)
    run_sweep(settings, local(2026, 11, 23, 10, 0))
    url = links_in(surveys(settings)[0])["survey"]
    clients = []
    for _ in range(10):
        client = httpx.Client(base_url=live_server, timeout=60)
        page = client.get(url)
        assert page.status_code == 200 and 'name="service"' in page.text
        clients.append((client, csrf_of(page.text)))
    barrier = threading.Barrier(10)
    results = []

    def submit(client, csrf, i):
        barrier.wait()
        results.append(
            client.post(
                url,
                data={
                    "csrf_token": csrf,
                    "service": "5",
                    "installation": "4",
                    "communication": "5",
                    "comment": f"<script>alert({i})</script> Très bien",
                },
            )
        )

    threads = [threading.Thread(target=submit, args=(c, t, i)) for i, (c, t) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in results) == [200] * 10
    saved = [r for r in results if "a bien été enregistrée" in r.text]
    already = [r for r in results if "déjà reçu" in r.text]
    assert len(saved) == 1 and len(already) == 9
    with session_scope(settings) as s:
        (survey,) = s.query(Survey).all()
        assert (survey.service, survey.installation, survey.communication) == (5, 4, 5)
        assert s.get(Installer, survey.installer_id).rating == pytest.approx(4.67, abs=0.01)
    (told,) = emails_to(settings, GOLD_PARIS, "rating_received")
    assert "<script>" in told.body_text and "&lt;script&gt;" in told.body_html  # escaped in HTML
    assert "<script>" not in told.body_html
    run_sweep(settings, local(2026, 12, 5, 10, 0))
    assert len(surveys(settings)) == 1  # answered: no reminder
    assert "rated" in [e.type for e in lead(settings, lead_id).events]


def test_no_survey_for_failed_leads(settings, worker):
    lead_id = accepted_lead(settings, local(2026, 11, 2, 10, 0))
    progress(
        settings,
        lead_id,
        ("order_placed", {}, local(2026, 11, 3, 10, 0)),
        ("installation_scheduled", {"date": "2026-11-20"}, local(2026, 11, 4, 10, 0)),
        ("failed", {"reason": "customer withdrew"}, local(2026, 11, 10, 10, 0)),
    )
    run_sweep(settings, local(2026, 12, 30, 10, 0))
    assert surveys(settings) == []


@time_machine.travel(datetime(2026, 11, 23, 10, 5, tzinfo=PARIS), tick=True)
def test_bad_marks_are_refused_with_the_field(settings, worker):
    installed_lead(settings)
    run_sweep(settings, local(2026, 11, 23, 10, 0))
    url = links_in(surveys(settings)[0])["survey"]
    with TestClient(create_app()) as client:
        page = client.get(url)
        bad = client.post(url, data={"csrf_token": csrf_of(page.text), "service": "9"})
        # In the customer's language (French), never the English code.
        assert bad.status_code == 422 and "Choisissez de 1 à 5 étoiles." in bad.text
        assert "1 to 5" not in bad.text
        good = client.post(
            url,
            data={
                "csrf_token": csrf_of(page.text),
                "service": "3",
                "installation": "3",
                "communication": "3",
            },
        )
        assert good.status_code == 200 and "enregistrée" in good.text


def test_a_tier_change_moves_the_next_lead(settings, worker):
    load_installers(settings)
    first = new_lead(settings, email="a@example.fr")
    assert wait_for_offer(settings, first)[0].installer_id == _id(settings, GOLD_PARIS)
    # An admin pins the gold installer to bronze: the next Paris lead goes to the silver one.
    with session_scope(settings) as s:
        gold = s.query(Installer).filter_by(email=GOLD_PARIS).one()
        pin_tier(s, gold, "bronze", admin="admin@x", now=datetime.now(PARIS), settings=settings)
    second = new_lead(settings, email="b@example.fr", postcode="75011")
    assert wait_for_offer(settings, second)[0].installer_id == _id(
        settings, "devis@ile-de-france-pv.example"
    )
    with session_scope(settings) as s:
        change = s.query(TierChange).one()
        assert (change.old_tier, change.new_tier, change.by) == ("gold", "bronze", "admin@x")
    assert emails_to(settings, GOLD_PARIS, "tier_changed")
    # A recompute leaves a pinned tier alone.
    recompute_all(settings, datetime.now(PARIS) + timedelta(days=1))
    with session_scope(settings) as s:
        assert s.query(Installer).filter_by(email=GOLD_PARIS).one().tier == "bronze"


def _id(settings, email) -> int:
    with session_scope(settings) as s:
        return s.query(Installer).filter_by(email=email).one().id


def test_nightly_recompute_runs_once_a_day(settings, worker):
    load_installers(settings)
    at = local(2026, 11, 20, 2, 0)
    first = run_sweep(settings, at)["tiers"]
    assert run_sweep(settings, at + timedelta(hours=1))["tiers"] == 0
    with session_scope(settings) as s:
        scored = [i.score for i in s.query(Installer)]
    assert all(score is not None for score in scored)
    # Newcomers get a score but keep the tier they were imported with until they have history.
    assert first == 0
    with session_scope(settings) as s:
        assert s.query(Installer).filter_by(email=GOLD_PARIS).one().tier == "gold"
    assert run_sweep(settings, at + timedelta(hours=25))["tiers"] == 0


def test_tiers_recompute_command(settings):
    load_installers(settings)
    result = CliRunner().invoke(main, ["tiers", "recompute"])
    assert result.exit_code == 0, result.output
    assert "0 tier changes" in result.output  # newcomers keep their tier until they have history
    # An installer with a strong record climbs to gold.
    with session_scope(settings) as s:
        bronze = s.query(Installer).filter_by(email="info@sud-energie.example").one()
        _give_history(s, bronze, offers=10, accepted=9, marks=(5, 5, 4))
    result = CliRunner().invoke(main, ["tiers", "recompute"])
    assert "bronze -> gold" in result.output, result.output
    (mail,) = emails_to(settings, "info@sud-energie.example", "tier_changed")
    # The installer reads French: the tier by its French name, not the key or the English word.
    assert mail.subject.endswith(" Or") and "Gold" not in mail.subject


def _give_history(session, installer, *, offers: int, accepted: int, marks: tuple) -> None:
    start = datetime.now(PARIS) - timedelta(days=60)
    for i in range(offers):
        lead_in = LeadIn.model_validate(
            {"customer": {"name": f"C{i}", "email": f"c{i}@ex.fr", "postcode": "69001"}}
        )
        lead = create_lead(session, lead_in, now=start, source="import", channel="import")
        session.add(
            Offer(
                lead_id=lead.id,
                installer_id=installer.id,
                offered_at=start,
                deadline=start + timedelta(days=1),
                answered_at=start + timedelta(hours=1),
                status=OfferStatus.ACCEPTED if i < accepted else OfferStatus.DECLINED,
            )
        )
        if i < accepted:
            lead.status, lead.assigned_installer_id = LeadStatus.INSTALLED, installer.id
            add_event(session, lead, "status", at=start, status="installed")
        if i < len(marks):
            session.add(
                Survey(
                    lead_id=lead.id,
                    installer_id=installer.id,
                    submitted_at=start,
                    service=marks[i],
                    installation=marks[i],
                    communication=marks[i],
                )
            )
    session.flush()
    assert isinstance(lead, Lead)


def test_history_counts_the_last_year_of_answered_offers(settings):
    """The figures behind the score: answered offers of the last 365 days only, acceptance,
    time to answer, and progress on the accepted leads."""

    load_installers(settings)
    now = local(2026, 6, 1, 12)
    with session_scope(settings) as s:
        installer = s.query(Installer).filter_by(email=GOLD_PARIS).one()
        installer_id = installer.id
    leads = [new_lead(settings, email=f"c{i}@example.fr") for i in range(5)]
    rows = [  # (lead, status, offered days ago, hours to answer)
        (leads[0], OfferStatus.ACCEPTED, 10, 2),
        (leads[1], OfferStatus.ACCEPTED, 20, 6),
        (leads[2], OfferStatus.DECLINED, 30, 1),
        (leads[3], OfferStatus.EXPIRED, 40, None),
        (leads[4], OfferStatus.ACCEPTED, 400, 1),  # older than a year: not counted
        (leads[4], OfferStatus.OFFERED, 1, None),  # still open: not answered
    ]
    with session_scope(settings) as s:
        for lead_id, status, days, hours in rows:
            offered = now - timedelta(days=days)
            s.add(
                Offer(
                    lead_id=lead_id,
                    installer_id=installer_id,
                    status=status,
                    offered_at=offered,
                    deadline=offered + timedelta(days=1),
                    answered_at=offered + timedelta(hours=hours) if hours else None,
                )
            )
        add_event(s, s.get(Lead, leads[0]), "status", at=now, actor="installer")
    with session_scope(settings) as s:
        history = history_for(s, installer_id, now=now)
    assert history.offers_answered == 4
    assert history.offers_accepted == 2 and history.accepted_leads == 2
    assert sorted(history.answer_hours) == [1.0, 2.0, 6.0]
    assert history.leads_with_progress == 1
    assert history.lapsed == 0
