"""Why an installer got a lead, and why the others did not (#20): the decision recorded with
each offer, the admin's lead page, the offer email's one line."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.routing_why import WHY_YOU
from mailflow.i18n import gettext
from mailflow.models import Installer, Lead, LeadStatus, RoutingDecision
from mailflow.routing.offers import route_lead
from mailflow.web.app import create_app
from support.database import use_postgres
from support.offers import (
    csrf_of,
    emails_to,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS, SILVER_PARIS
from support.waiting import wait_for
from support.web import choose_language, signed_in_client


@pytest.fixture
def client(settings):
    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


def new_lead_quietly(settings, postcode: str) -> int:
    """A new lead, not routed yet (its routing job goes to the stub broker, no worker runs)."""
    return new_lead(settings, postcode=postcode)


def decisions_of(settings, lead_id: int) -> list[RoutingDecision]:
    with session_scope(settings) as s:
        return list(
            s.scalars(
                select(RoutingDecision)
                .where(RoutingDecision.lead_id == lead_id)
                .order_by(RoutingDecision.id)
            )
        )


def ids(settings) -> dict[str, int]:
    with session_scope(settings) as s:
        return {i.email: i.id for i in s.scalars(select(Installer))}


def installers_outside(settings, country: str, prefix: str) -> int:
    with session_scope(settings) as s:
        return sum(
            1
            for i in s.scalars(select(Installer).where(Installer.country == country))
            if not any(prefix.startswith(p) for p in i.postcode_prefixes)
        )


def test_an_offer_records_every_candidates_verdict_and_tells_the_installer_why(
    settings, worker, admin_client
):
    load_installers(settings)
    people = ids(settings)
    lead_id = new_lead(settings, postcode="75010")
    (offer,) = wait_for_offer(settings, lead_id)

    (decision,) = decisions_of(settings, lead_id)
    assert (decision.kind, decision.offer_id, decision.installer_id) == (
        "offered",
        offer.id,
        people[GOLD_PARIS],
    )
    # Both Paris installers have had no lead: equal on offers, the gold one wins on tier.
    assert decision.reason == "higher_tier"
    verdicts = {c["installer_id"]: (c["outcome"], c["reason"]) for c in decision.candidates}
    assert verdicts == {
        people[GOLD_PARIS]: ("chosen", "higher_tier"),
        people[SILVER_PARIS]: ("passed", "lower_tier"),
    }
    silver = next(c for c in decision.candidates if c["installer_id"] == people[SILVER_PARIS])
    assert silver["facts"]["tier"] == "silver" and silver["facts"]["area"] == "75"
    # The country's installers outside the postcode are counted, not listed.
    assert decision.rest == {"out_of_area": installers_outside(settings, "FR", "75010")}
    assert decision.rest["out_of_area"] >= 1

    # The offer email says why, in the installer's language (French here).
    (mail,) = emails_to(settings, GOLD_PARIS, "offer")
    line = gettext("fr", WHY_YOU["higher_tier"], area="75010")
    assert line != WHY_YOU["higher_tier"] % {"area": "75010"}  # translated
    assert gettext("fr", "Why you: %(reason)s", reason=line) in mail.body_text
    # on a line of its own, after the time left to answer (it was glued to that sentence)
    assert "\n" + gettext("fr", "Why you: %(reason)s", reason=line) in mail.body_text
    assert line in html.unescape(mail.body_html)

    # The admin's lead page lists the decision: who, why, and who was passed over and why.
    choose_language(admin_client, "en")
    page = admin_client.get(f"/admin/leads/{lead_id}")
    assert page.status_code == 200
    section = page.text[page.text.index('id="decisions-h"') :]
    section = section[: section.index("</section>")]
    assert f"Offered to {GOLD_PARIS}: as many leads as others lately, higher tier" in section
    rows = re.findall(r'<tr data-installer="(\d+)" data-reason="(\w+)">', section)
    assert rows == [
        (str(people[GOLD_PARIS]), "higher_tier"),
        (str(people[SILVER_PARIS]), "lower_tier"),
    ]
    assert "same number of leads, lower tier" in section
    assert f"does not serve this postcode ({decision.rest['out_of_area']})" in section

    # In German, the same section.
    choose_language(admin_client, "de")
    page = admin_client.get(f"/admin/leads/{lead_id}")
    assert gettext("de", "Routing decisions") in page.text
    assert gettext("de", "Routing decisions") != "Routing decisions"


def test_after_a_decline_the_next_decision_says_who_declined(settings, worker, client):
    load_installers(settings)
    people = ids(settings)
    lead_id = new_lead(settings, postcode="75010")
    wait_for_offer(settings, lead_id)
    decline = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["decline"]
    page = client.get(decline)
    done = client.post(
        decline, data={"csrf_token": csrf_of(page.text), "reason": "no_capacity", "note": ""}
    )
    assert done.status_code == 200
    (_, second) = wait_for_offer(settings, lead_id, 2)
    first, then = wait_for(lambda: (d := decisions_of(settings, lead_id)) and len(d) == 2 and d)
    assert (then.offer_id, then.installer_id) == (second.id, people[SILVER_PARIS])
    assert then.reason == "only_eligible"
    verdicts = {c["installer_id"]: c["reason"] for c in then.candidates}
    assert verdicts[people[GOLD_PARIS]] == "declined"
    (mail,) = emails_to(settings, SILVER_PARIS, "offer")
    assert gettext("fr", WHY_YOU["only_eligible"], tier=gettext("fr", "silver"), area="75010") in (
        mail.body_text
    )


def test_a_lead_nobody_can_take_records_why_it_went_to_the_pool(settings, worker, admin_client):
    load_installers(settings)
    # Nobody in the corpus serves Brest's 29.
    lead_id = new_lead(settings, postcode="29200", city="Brest")
    (decision,) = wait_for(lambda: decisions_of(settings, lead_id) or None)
    assert (decision.kind, decision.offer_id, decision.installer_id) == ("pooled", None, None)
    assert decision.candidates == []
    assert decision.rest == {"out_of_area": installers_outside(settings, "FR", "29200")}
    assert decision.rest["out_of_area"] == 3
    page = admin_client.get(f"/admin/leads/{lead_id}")
    section = page.text[page.text.index('id="decisions-h"') :]
    assert "Nobody could take the lead: it went to the pool." in section
    assert "does not serve this postcode (3)" in section


@pytest.mark.skipif(not use_postgres(), reason="PostgreSQL: workers claim installers' rows")
def test_an_installer_being_offered_another_lead_right_now_is_passed_over_not_waited_for(
    settings, broker
):
    """Another worker holds the best installer's row (it is offering them a lead this very
    moment): the lead goes to the next best at once instead of waiting for the drain, and the
    decision says why the best was passed over."""
    load_installers(settings)
    people = ids(settings)
    lead_id = new_lead_quietly(settings, postcode="75010")
    with session_scope(settings) as other_worker:
        other_worker.scalar(
            select(Installer.id).where(Installer.id == people[GOLD_PARIS]).with_for_update()
        )
        with session_scope(settings) as s:
            route_lead(s, lead_id, now=clock.now(), settings=settings)
    (decision,) = decisions_of(settings, lead_id)
    assert decision.installer_id == people[SILVER_PARIS]
    assert decision.reason == "only_eligible"
    verdicts = {c["installer_id"]: c["reason"] for c in decision.candidates}
    assert verdicts[people[GOLD_PARIS]] == "busy"
    with session_scope(settings) as s:
        assert s.get(Lead, lead_id).status == LeadStatus.OFFERED


@pytest.mark.skipif(not use_postgres(), reason="PostgreSQL: workers claim installers' rows")
def test_many_installers_held_at_once_are_passed_over_in_one_statement(settings, broker):
    """Five workers are offering the five best installers a lead at this very moment: the lead
    goes to the sixth, found in one locking statement (not one per installer), and the
    decision names the five as busy. With all of the line held, the lead waits."""
    with session_scope(settings) as s:
        for n in range(7):
            s.add(
                Installer(
                    email=f"solaire{n}@lyon.example",
                    name=f"Solaire {n}",
                    language="fr",
                    country="FR",
                    timezone="Europe/Paris",
                    postcodes="69",
                    tier="gold" if n < 6 else "bronze",
                )
            )
    lead_id = new_lead_quietly(settings, postcode="69003")
    with session_scope(settings) as s:
        people = dict(s.execute(select(Installer.email, Installer.id)).all())
    gold = [people[f"solaire{n}@lyon.example"] for n in range(6)]
    bronze = people["solaire6@lyon.example"]
    with session_scope(settings) as other_workers:
        other_workers.scalars(
            select(Installer.id).where(Installer.id.in_(gold[:5])).with_for_update()
        ).all()
        with session_scope(settings) as s:
            route_lead(s, lead_id, now=clock.now(), settings=settings)
    (decision,) = decisions_of(settings, lead_id)
    assert decision.installer_id == gold[5]
    verdicts = {c["installer_id"]: c["reason"] for c in decision.candidates}
    assert [verdicts[i] for i in gold[:5]] == ["busy"] * 5
    assert bronze not in verdicts or verdicts[bronze] != "busy"

    second = new_lead_quietly(settings, postcode="69007")
    with session_scope(settings) as other_workers:
        other_workers.scalars(
            select(Installer.id).where(Installer.id.in_([*gold, bronze])).with_for_update()
        ).all()
        with session_scope(settings) as s:
            route_lead(s, second, now=clock.now(), settings=settings)
    with session_scope(settings) as s:
        waiting = s.get(Lead, second)
        assert (waiting.status, waiting.waiting_since is not None) == (LeadStatus.NEW, True)
