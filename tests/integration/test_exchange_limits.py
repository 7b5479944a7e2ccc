"""Claims from the open exchange respect the installer's capacity and caps (#17): a claim
counts toward the day/week/month caps like an offer, and an installer at a limit is told so on
the Available tab and by a clear refusal, not offered a button that cannot work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.models import Installer, Offer, OfferStatus
from mailflow.routing import exchange
from mailflow.routing.standing import installer_standing
from mailflow.web.app import create_app
from support.exchange import installer_id, pooled_lead, signed_in
from support.offers import csrf_of, lead, load_installers
from support.people import GOLD_PARIS, SILVER_PARIS


@pytest.fixture
def client(settings, worker):
    with TestClient(create_app()) as client:
        yield client


def _offers_today(settings, installer: int) -> int:
    with session_scope(settings) as s:
        row = s.get(Installer, installer)
        return installer_standing(s, row, clock.now(), settings).periods[0][0]


def _set(settings, installer: int, **values) -> None:
    with session_scope(settings) as s:
        row = s.get(Installer, installer)
        for name, value in values.items():
            setattr(row, name, value)


def test_a_claim_counts_toward_the_daily_cap_and_the_cap_then_refuses_a_claim(settings, client):
    load_installers(settings)
    first, second = pooled_lead(settings, client, 1), pooled_lead(settings, client, 2)
    gold = installer_id(settings, GOLD_PARIS)
    before = _offers_today(settings, gold)  # the two offers it declined count already
    _set(settings, gold, cap_day=before + 1)
    with session_scope(settings) as s:
        exchange.claim(s, first, gold, now=clock.now(), settings=settings)
    assert lead(settings, first).assigned_installer_id == gold
    with session_scope(settings) as s:
        (claimed,) = s.scalars(
            select(Offer).where(
                Offer.lead_id == first,
                Offer.installer_id == gold,
                Offer.status == OfferStatus.CLAIMED,
            )
        )
        assert claimed.routing_reason == "claimed from the open exchange"
    assert _offers_today(settings, gold) == before + 1
    with pytest.raises(exchange.ClaimRefused) as refused, session_scope(settings) as s:
        exchange.claim(s, second, gold, now=clock.now(), settings=settings)
    assert refused.value.code == "cap_reached"
    assert lead(settings, second).assigned_installer_id is None
    _set(settings, gold, cap_day=None)
    with session_scope(settings) as s:
        exchange.claim(s, second, gold, now=clock.now(), settings=settings)
    assert lead(settings, second).assigned_installer_id == gold


def test_an_installer_at_capacity_sees_why_and_a_claim_gets_a_clear_refusal(settings, client):
    load_installers(settings)
    first, second = pooled_lead(settings, client, 3), pooled_lead(settings, client, 4)
    gold = installer_id(settings, GOLD_PARIS)
    _set(settings, gold, capacity=1)
    dashboard = signed_in(settings, GOLD_PARIS)
    page = dashboard.get("/dashboard/?tab=available")
    assert 'id="claim-limit"' not in page.text
    assert f'action="/dashboard/exchange/{first}/claim"' in page.text
    done = dashboard.post(
        f"/dashboard/exchange/{first}/claim",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = dashboard.get("/dashboard/?tab=available")
    # The installer reads French: "Vous êtes à votre capacité…", and no button that cannot work.
    assert 'id="claim-limit"' in page.text and f'id="exchange-{second}"' in page.text
    assert f'action="/dashboard/exchange/{second}/claim"' not in page.text
    refused = dashboard.post(
        f"/dashboard/exchange/{second}/claim",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 409
    assert lead(settings, second).assigned_installer_id is None
    dashboard.close()


def test_no_daily_exchange_email_to_an_installer_who_may_not_claim(settings, client):
    load_installers(settings)
    pooled_lead(settings, client, 5)
    gold = installer_id(settings, GOLD_PARIS)
    silver_id = installer_id(settings, SILVER_PARIS)
    _set(settings, gold, cap_day=1)  # its declined offer of today reaches it
    at = clock.now()
    assert exchange.send_exchange_mail(settings, at + timedelta(minutes=1)) == 1
    with session_scope(settings) as s:
        assert s.get(Installer, gold).last_exchange_mail_at is None
        silver = s.get(Installer, silver_id)
        assert silver.last_exchange_mail_at is not None  # the other Paris installer hears of it
