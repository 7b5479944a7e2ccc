"""Bad-lead reports ("returns", #20): the report window, the monthly quota (the 11th report of
an installer with 100 accepted leads is refused, in their language), automatic approval for a
bounced customer address, an approval that puts the lead back into rotation and leaves the
installer's caps usage and score as they were before the lead, a rejection that changes
nothing, and the acceptance email's one-time report link (works once; used or expired links get
their page)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain import returns as rules
from mailflow.domain.intake.schema import LeadIn
from mailflow.domain.score import compute
from mailflow.leads import returns
from mailflow.leads.created import lead_created
from mailflow.leads.service import create_lead
from mailflow.links import tokens
from mailflow.models import (
    AuditEntry,
    Installer,
    Lead,
    LeadReturn,
    LeadStatus,
    Offer,
    OfferStatus,
)
from mailflow.ratings.service import history_for, weights_of
from mailflow.routing.offers import accept, lock_lead
from mailflow.routing.standing import installer_standing
from mailflow.web.app import create_app
from support.factories import make_outbox
from support.lifecycle import CUSTOMER
from support.offers import csrf_of, emails_to, load_installers, wait_for_offer
from support.people import GOLD_PARIS
from support.web import post, signed_in_client

PARIS = ZoneInfo("Europe/Paris")
# A Tuesday morning in March: no holiday, no month change within the report window.
ACCEPTED_AT = datetime(2027, 3, 2, 9, 0, tzinfo=PARIS)
RETURN_LINK = re.compile(r"/l/return/[A-Za-z0-9_\-.]+")


# ------------------------------------------------------------------ helpers ----------------
def customer_lead(settings, customer: int) -> int:
    """A new Paris lead of customer number ``customer`` (own address and phone), routed."""
    lead_in = LeadIn.model_validate(
        {
            "product": "pv",
            "customer": {
                "name": f"Customer {customer}",
                "email": CUSTOMER if customer == 0 else f"customer{customer}@example.fr",
                "phone": f"+33 1 40 34 70 {customer:02d}",
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


def accepted_lead(settings, at: datetime, *, installers: bool = True, customer: int = 0) -> int:
    """A lead of its own customer (``customer`` numbers them: the same one twice would be a
    duplicate), routed and accepted at ``at``."""
    with time_machine.travel(at, tick=False):
        if installers:
            load_installers(settings)
        lead_id = customer_lead(settings, customer)
        (offer,) = wait_for_offer(settings, lead_id)
        with session_scope(settings) as s:
            accept(s, offer.id, offer.installer_id, now=at, settings=settings)
    return lead_id


def holder_of(settings, lead_id: int) -> Installer:
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        return s.get(Installer, lead.assigned_installer_id)


def report(settings, lead_id: int, at: datetime, reason: str = rules.OUTSIDE_AREA, **kw):
    with session_scope(settings) as s:
        lead = lock_lead(s, lead_id)
        installer = s.get(Installer, lead.assigned_installer_id)
        row = returns.report(
            s,
            lead,
            installer,
            reason=reason,
            attempts=kw.get("attempts"),
            note=kw.get("note"),
            via="dashboard",
            now=at,
            settings=settings,
        )
        return row.id


def figures(settings, installer_id: int, at: datetime) -> tuple[tuple, float]:
    """(leads counted in the day, week and month against the caps, score) of the installer."""
    with session_scope(settings) as s:
        installer = s.get(Installer, installer_id)
        standing = installer_standing(s, installer, at, settings)
        weights, thresholds = weights_of(settings)
        score = compute(history_for(s, installer_id, now=at), weights, thresholds).score
        return tuple(used for used, _cap in standing.periods), score


def admin_at(settings, at: datetime, role: str = "admin", email: str = "admin@example.com"):
    """An admin signed in at ``at`` (the session's idle limit follows the travelled clock)."""
    with time_machine.travel(at, tick=False):
        return signed_in_client(settings, role=role, email=email)


def post_at(client, at: datetime, url: str):
    with time_machine.travel(at, tick=False):
        return post(client, url, page="/admin/returns")


def the_return(settings, return_id: int) -> LeadReturn:
    with session_scope(settings) as s:
        return s.get(LeadReturn, return_id)


def set_caps(settings, **caps) -> None:
    with session_scope(settings) as s:
        for installer in s.scalars(select(Installer)):
            for key, value in caps.items():
                setattr(installer, key, value)


# ------------------------------------------------------------------ window -----------------
def test_a_report_within_the_window_is_accepted_and_after_it_refused(settings, worker):
    first = accepted_lead(settings, ACCEPTED_AT)
    second = accepted_lead(
        settings, ACCEPTED_AT + timedelta(minutes=5), installers=False, customer=2
    )

    made = report(settings, first, ACCEPTED_AT + timedelta(hours=71, minutes=59))
    row = the_return(settings, made)
    assert (row.state, row.reason, row.lead_id) == (rules.PENDING, rules.OUTSIDE_AREA, first)
    with session_scope(settings) as s:
        assert s.get(Lead, first).status == LeadStatus.ACCEPTED  # waits for an admin

    with pytest.raises(rules.ReportRefused) as refused:
        report(settings, second, ACCEPTED_AT + timedelta(hours=72, minutes=6))
    assert refused.value.code == "window"
    with session_scope(settings) as s:
        assert s.scalar(select(LeadReturn).where(LeadReturn.lead_id == second)) is None


def test_unreachable_needs_the_attempts_and_one_report_per_lead(settings, worker):
    lead_id = accepted_lead(settings, ACCEPTED_AT)
    at = ACCEPTED_AT + timedelta(hours=30)
    with pytest.raises(rules.ReportRefused) as refused:
        report(settings, lead_id, at, rules.UNREACHABLE, attempts=2)
    assert refused.value.code == "attempts"
    report(settings, lead_id, at, rules.UNREACHABLE, attempts=3)
    with pytest.raises(rules.ReportRefused) as again:
        report(settings, lead_id, at, rules.FAKE)
    assert again.value.code == "already"


# ------------------------------------------------------------------ quota ------------------
def hundred_accepted_leads(settings, installer_id: int, month_start: datetime) -> list[int]:
    """100 leads the installer accepted in the month, each within its report window."""
    ids = []
    with session_scope(settings) as s:
        for n in range(100):
            at = month_start + timedelta(hours=n)
            lead = Lead(
                status=LeadStatus.ACCEPTED,
                source="partner-a",
                customer_name=f"Customer {n}",
                email=f"customer{n}@example.fr",
                postcode="75011",
                country="FR",
                assigned_installer_id=installer_id,
                accepted_at=at,
                created_at=at - timedelta(minutes=30),
                updated_at=at,
            )
            s.add(lead)
            s.flush()
            s.add(
                Offer(
                    lead_id=lead.id,
                    installer_id=installer_id,
                    status=OfferStatus.ACCEPTED,
                    offered_at=at - timedelta(minutes=20),
                    answered_at=at,
                    deadline=at + timedelta(days=1),
                )
            )
            ids.append(lead.id)
    return ids


def test_the_quota_refuses_the_eleventh_report_of_a_hundred_accepted_leads(settings, worker):
    load_installers(settings)
    with session_scope(settings) as s:
        gold = s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))
        gold.language = "fr"
        gold_id = gold.id
    month_start = datetime(2027, 3, 1, 8, 0, tzinfo=PARIS)
    leads = hundred_accepted_leads(settings, gold_id, month_start)
    at = month_start + timedelta(hours=100)
    recent = leads[-11:]  # accepted within the last 12 hours: inside the report window
    for lead_id in recent[:10]:
        report(settings, lead_id, at)
    with pytest.raises(rules.ReportRefused) as refused:
        report(settings, recent[10], at)
    assert (refused.value.code, refused.value.values) == ("quota", {"quota": 10})
    with session_scope(settings) as s:
        assert len(s.scalars(select(LeadReturn)).all()) == 10

    # Through the acceptance email's link, the installer reads why, in French.
    with session_scope(settings) as s:
        token = tokens.issue(
            s,
            settings,
            "return",
            now=at,
            subject_id=recent[10],
            installer_id=gold_id,
            lead_id=recent[10],
            lifetime=timedelta(hours=72),
        )
    with time_machine.travel(at, tick=False), TestClient(create_app()) as client:
        page = client.get(f"/l/return/{token}")
        assert page.status_code == 200
        refused_page = client.post(
            f"/l/return/{token}",
            data={"csrf_token": csrf_of(page.text), "reason": rules.OUTSIDE_AREA},
        )
    assert refused_page.status_code == 409
    assert "Vous avez atteint la limite de 10 signalements" in refused_page.text
    with session_scope(settings) as s:
        assert len(s.scalars(select(LeadReturn)).all()) == 10


# ------------------------------------------------------------------ automatic approval -----
def test_a_bounced_customer_address_approves_the_report_at_once(settings, worker):
    lead_id = accepted_lead(settings, ACCEPTED_AT)
    holder = holder_of(settings, lead_id)
    make_outbox(settings, "bounced", to=CUSTOMER.upper())  # our survey bounced, say
    made = report(
        settings, lead_id, ACCEPTED_AT + timedelta(hours=5), rules.UNREACHABLE, attempts=3
    )
    row = the_return(settings, made)
    assert (row.state, row.rule, row.decided_by, row.outcome) == (
        rules.APPROVED,
        rules.RULE_BOUNCED,
        "rule",
        rules.ROTATION,
    )
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert lead.assigned_installer_id != holder.id
        offers = list(s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id)))
        assert offers[0].returned_at is not None
        assert lead.status in (LeadStatus.OFFERED, LeadStatus.POOL, LeadStatus.NEW)
        assert all(o.installer_id != holder.id for o in offers[1:])
    (mail,) = emails_to(settings, holder.email, "return_decided")  # the corpus speaks French
    assert mail.subject == f"Votre signalement du lead n°{lead_id} a été accepté"
    assert "Il est transmis à un autre installateur." in mail.body_text


def test_without_a_bounce_or_visible_duplicate_the_report_waits(settings, worker):
    lead_id = accepted_lead(settings, ACCEPTED_AT)
    make_outbox(settings, "sent", to=CUSTOMER)  # delivered: no evidence
    made = report(settings, lead_id, ACCEPTED_AT + timedelta(hours=5), rules.FAKE)
    assert the_return(settings, made).state == rules.PENDING


def test_a_duplicate_the_system_sees_is_approved_at_once(settings, worker):
    first = accepted_lead(settings, ACCEPTED_AT)
    holder = holder_of(settings, first)
    # The same customer again a day later, given to the same installer by an admin.
    with time_machine.travel(ACCEPTED_AT + timedelta(days=1), tick=False):
        with session_scope(settings) as s:
            original = s.get(Lead, first)
            again = Lead(
                status=LeadStatus.ACCEPTED,
                source=original.source,
                customer_name=original.customer_name,
                email=original.email,
                phone=original.phone,
                postcode=original.postcode,
                country="FR",
                assigned_installer_id=holder.id,
                accepted_at=ACCEPTED_AT + timedelta(days=1),
            )
            s.add(again)
            s.flush()
            second = again.id
    made = report(settings, second, ACCEPTED_AT + timedelta(days=1, hours=1), rules.DUPLICATE)
    row = the_return(settings, made)
    assert (row.state, row.rule) == (rules.APPROVED, rules.RULE_DUPLICATE)


# ------------------------------------------------------------------ admin decisions --------
def test_approval_puts_the_lead_back_and_leaves_caps_and_score_as_before(settings, worker):
    load_installers(settings)
    set_caps(settings, cap_month=40)
    before_at = ACCEPTED_AT - timedelta(minutes=1)
    with session_scope(settings) as s:
        installer_ids = [i.id for i in s.scalars(select(Installer))]
    baseline = {i: figures(settings, i, before_at) for i in installer_ids}

    lead_id = accepted_lead(settings, ACCEPTED_AT, installers=False)
    holder = holder_of(settings, lead_id)
    at = ACCEPTED_AT + timedelta(hours=2)
    accepted_usage, _score = figures(settings, holder.id, at)
    assert accepted_usage == tuple(n + 1 for n in baseline[holder.id][0])
    made = report(settings, lead_id, at, rules.HAS_INSTALLER, note="Already signed elsewhere")

    viewer = admin_at(settings, at, role="viewer", email="viewer@example.com")
    with time_machine.travel(at, tick=False):
        page = viewer.get("/admin/returns")
    assert page.status_code == 200
    assert f'id="return-{made}"' in page.text and "Already signed elsewhere" in page.text
    assert f'id="approve-{made}"' not in page.text  # viewers read, never act
    refused = post_at(viewer, at, f"/admin/returns/{made}/approve")
    assert refused.status_code == 403
    assert the_return(settings, made).state == rules.PENDING

    admin = admin_at(settings, at)
    done = post_at(admin, at + timedelta(minutes=10), f"/admin/returns/{made}/approve")
    assert done.status_code == 303
    row = the_return(settings, made)
    assert (row.state, row.decided_by, row.outcome) == (
        rules.APPROVED,
        "admin@example.com",
        rules.ROTATION,
    )
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert lead.assigned_installer_id != holder.id
        new_offers = list(
            s.scalars(select(Offer).where(Offer.lead_id == lead_id, Offer.id > row.offer_id))
        )
        assert lead.status == LeadStatus.OFFERED
        assert len(new_offers) == 1 and new_offers[0].installer_id != holder.id
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "return.approved")).one()
        assert (entry.actor, entry.object_id) == ("admin@example.com", str(lead_id))

    # Caps usage and score of the reporting installer: as before they had the lead.
    after = at + timedelta(minutes=20)
    usage, score = figures(settings, holder.id, after)
    assert usage == baseline[holder.id][0]
    assert score == baseline[holder.id][1]
    (mail,) = emails_to(settings, holder.email, "return_decided")  # the corpus speaks French
    assert mail.subject == f"Votre signalement du lead n°{lead_id} a été accepté"
    assert "(Le client a déjà un installateur) a été accepté" in mail.body_text

    again = post_at(admin, at + timedelta(minutes=11), f"/admin/returns/{made}/reject")
    assert again.status_code == 303  # decided already: a message, nothing changes
    assert the_return(settings, made).state == rules.APPROVED


def test_rejection_leaves_everything_as_it_is(settings, worker):
    load_installers(settings)
    set_caps(settings, cap_month=40)
    lead_id = accepted_lead(settings, ACCEPTED_AT, installers=False)
    holder = holder_of(settings, lead_id)
    at = ACCEPTED_AT + timedelta(hours=3)
    made = report(settings, lead_id, at, rules.OUTSIDE_AREA)
    before = figures(settings, holder.id, at)
    with session_scope(settings) as s:
        offers_before = [
            (o.id, o.status, o.returned_at)
            for o in s.scalars(select(Offer).where(Offer.lead_id == lead_id))
        ]

    admin = admin_at(settings, at)
    assert (
        post_at(admin, at + timedelta(minutes=5), f"/admin/returns/{made}/reject").status_code
        == 303
    )
    row = the_return(settings, made)
    assert (row.state, row.outcome) == (rules.REJECTED, None)
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert (lead.status, lead.assigned_installer_id) == (LeadStatus.ACCEPTED, holder.id)
        assert offers_before == [
            (o.id, o.status, o.returned_at)
            for o in s.scalars(select(Offer).where(Offer.lead_id == lead_id))
        ]
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "return.rejected")).one()
    assert figures(settings, holder.id, at) == before
    (mail,) = emails_to(settings, holder.email, "return_decided")
    assert mail.subject == f"Votre signalement du lead n°{lead_id} n'a pas été accepté"
    assert "le lead reste le vôtre" in mail.body_text


def test_an_approved_fake_lead_is_closed_as_invalid(settings, worker):
    lead_id = accepted_lead(settings, ACCEPTED_AT)
    holder = holder_of(settings, lead_id)
    made = report(settings, lead_id, ACCEPTED_AT + timedelta(hours=1), rules.FAKE)
    with session_scope(settings) as s:
        returns.approve(
            s, made, by="admin@example.com", now=ACCEPTED_AT + timedelta(hours=2), settings=settings
        )
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert lead.status == LeadStatus.FAILED
        assert "fake" in lead.progress["failed_reason"]
        assert [
            o.installer_id for o in s.scalars(select(Offer).where(Offer.lead_id == lead_id))
        ] == [holder.id]
    assert the_return(settings, made).outcome == rules.CLOSED


# ------------------------------------------------------------------ the email link ---------
def test_the_email_link_reports_once_and_refuses_used_or_expired_links(settings, worker):
    lead_id = accepted_lead(settings, ACCEPTED_AT)
    holder = holder_of(settings, lead_id)
    (mail,) = [
        m for m in emails_to(settings, holder.email, "offer_accepted") if m.lead_id == lead_id
    ]
    link = RETURN_LINK.search(mail.body_text).group(0)
    assert "72" in mail.body_text

    at = ACCEPTED_AT + timedelta(hours=10)
    with time_machine.travel(at, tick=False), TestClient(create_app()) as client:
        page = client.get(link)
        assert page.status_code == 200
        assert 'name="reason"' in page.text
        done = client.post(
            link,
            data={"csrf_token": csrf_of(page.text), "reason": rules.OUTSIDE_AREA, "note": "Lyon"},
        )
        assert done.status_code == 200, done.text
        assert 'id="report-result"' in done.text
        used = client.post(
            link, data={"csrf_token": csrf_of(page.text), "reason": rules.OUTSIDE_AREA}
        )
        assert used.status_code == 409
        assert client.get(link).status_code == 409
    with session_scope(settings) as s:
        (row,) = s.scalars(select(LeadReturn).where(LeadReturn.lead_id == lead_id)).all()
        assert (row.via, row.note, row.state) == ("email link", "Lyon", rules.PENDING)

    # Another lead's link, opened after the window: expired, nothing reported.
    other = accepted_lead(settings, ACCEPTED_AT + timedelta(hours=1), installers=False, customer=2)
    holder = holder_of(settings, other)
    (mail,) = [m for m in emails_to(settings, holder.email, "offer_accepted") if m.lead_id == other]
    late_link = RETURN_LINK.search(mail.body_text).group(0)
    late = ACCEPTED_AT + timedelta(hours=1 + 72, minutes=1)
    with time_machine.travel(late, tick=False), TestClient(create_app()) as client:
        expired = client.get(late_link)
        assert expired.status_code == 410
        assert "expired" in expired.text.lower() or "expir" in expired.text.lower()
    with session_scope(settings) as s:
        assert s.scalar(select(LeadReturn).where(LeadReturn.lead_id == other)) is None


# ------------------------------------------------------------------ source quality ---------
def test_source_quality_counts_reported_and_approved_leads_per_source(settings, worker):
    first = accepted_lead(settings, ACCEPTED_AT)
    second = accepted_lead(
        settings, ACCEPTED_AT + timedelta(minutes=5), installers=False, customer=2
    )
    third = accepted_lead(
        settings, ACCEPTED_AT + timedelta(minutes=10), installers=False, customer=3
    )
    with session_scope(settings) as s:
        for lead_id, source in ((first, "partner-a"), (second, "partner-a"), (third, "partner-b")):
            s.get(Lead, lead_id).source = source
    generous = settings.model_copy(update={"return_quota_percent": 100.0})
    made = report(generous, first, ACCEPTED_AT + timedelta(hours=1))
    report(generous, third, ACCEPTED_AT + timedelta(hours=1))
    with session_scope(settings) as s:
        returns.approve(
            s, made, by="admin@example.com", now=ACCEPTED_AT + timedelta(hours=2), settings=settings
        )
    period = returns.Period(ACCEPTED_AT - timedelta(days=1), ACCEPTED_AT + timedelta(days=1))
    with session_scope(settings) as s:
        quality = {q.source: q for q in returns.source_quality(s, period)}
    assert (quality["partner-a"].leads, quality["partner-a"].reported) == (2, 1)
    assert (quality["partner-a"].approved, quality["partner-a"].approved_share) == (1, 0.5)
    assert (quality["partner-b"].leads, quality["partner-b"].reported) == (1, 1)
    assert (quality["partner-b"].approved, quality["partner-b"].approved_share) == (0, 0.0)

    admin = admin_at(settings, ACCEPTED_AT + timedelta(hours=3))
    with time_machine.travel(ACCEPTED_AT + timedelta(hours=3), tick=False):
        page = admin.get("/admin/returns?days=30")
    assert page.status_code == 200
    row = re.search(r'id="quality-partner-a">(.*?)</tr>', page.text, re.S).group(1)
    assert re.findall(r">(\d+)<", row) == ["2", "1", "1"] and "50.0 %" in row


# ------------------------------------------------------------------ the dashboard ----------
def _outbox_row(settings, address: str, template: str, before: int, seconds: float = 20.0):
    """The first email of ``template`` to ``address`` after the ``before`` there were."""
    deadline = time.perf_counter() + seconds  # perf_counter: not frozen by time_machine
    while len(rows := emails_to(settings, address, template)) <= before:
        assert time.perf_counter() < deadline, f"no {template} email to {address}"
        time.sleep(0.02)
    return rows[before]


def dashboard_client(settings, address: str, at: datetime) -> TestClient:
    """A browser signed in to the dashboard by the emailed link, at ``at``."""
    client = TestClient(create_app())
    with time_machine.travel(at, tick=False):
        page = client.get("/dashboard/signin")
        before = len(emails_to(settings, address, "signin"))
        client.post("/dashboard/signin", data={"csrf_token": csrf_of(page.text), "email": address})
        # The link job writes the email to the outbox: wait for that row, not for the send
        # (a send retried by the outbox waits on real time, which is frozen here).
        body = _outbox_row(settings, address, "signin", before).body_text
        path = re.search(r"/l/signin/[A-Za-z0-9_\-.]+", body).group(0)
        page = client.get(path)
        done = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert done.status_code == 303
    return client


def test_the_dashboard_card_reports_and_explains_refusals_in_french(settings, worker):
    lead_id = accepted_lead(settings, ACCEPTED_AT)
    holder = holder_of(settings, lead_id)
    at = ACCEPTED_AT + timedelta(hours=4)
    client = dashboard_client(settings, holder.email, at)
    with time_machine.travel(at, tick=False):
        page = client.get(f"/dashboard/leads/{lead_id}")
        assert 'id="report-form"' in page.text and "Signaler un mauvais lead" in page.text
        assert "Vous pouvez encore faire 1 signalement ce mois-ci." in page.text
        form = {"csrf_token": csrf_of(page.text), "reason": rules.UNREACHABLE, "attempts": "1"}
        refused = client.post(f"/dashboard/leads/{lead_id}/report", data=form)
        assert refused.status_code == 409
        assert "au moins 3 tentatives de contact" in refused.text
        done = client.post(
            f"/dashboard/leads/{lead_id}/report",
            data={**form, "attempts": "4"},
            follow_redirects=False,
        )
        assert done.headers["location"] == f"/dashboard/leads/{lead_id}?done=reported"
        page = client.get(done.headers["location"])
        assert "Signalé : en attente de la décision" in page.text
        assert 'id="report-form"' not in page.text
    with session_scope(settings) as s:
        (row,) = s.scalars(select(LeadReturn)).all()
        assert (row.reason, row.attempts, row.via) == (rules.UNREACHABLE, 4, "dashboard")

    # Past the window, another lead's page offers no report.
    with session_scope(settings) as s:
        for installer in s.scalars(select(Installer).where(Installer.id != holder.id)):
            installer.active = False  # the next lead goes to the same installer
    other = accepted_lead(settings, ACCEPTED_AT, installers=False, customer=5)
    assert holder_of(settings, other).id == holder.id
    late = ACCEPTED_AT + timedelta(hours=72, minutes=1)
    client = dashboard_client(settings, holder.email, late)
    with time_machine.travel(late, tick=False):
        page = client.get(f"/dashboard/leads/{other}")
        assert page.status_code == 200 and 'id="report"' not in page.text
        inside = client.get(f"/dashboard/leads/{lead_id}")  # reported: the card says so
        assert "Signalé : en attente de la décision" in inside.text
