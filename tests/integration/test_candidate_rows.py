"""Candidate installers read as plain rows with their figures in grouped statements (#21): the
figures are those the per-installer queries give, and choosing among 40 installers takes as
many statements as among 4."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from mailflow.db import get_engine, session_scope
from mailflow.models import HELD_STATUSES, Installer, Lead, LeadStatus, Offer, OfferStatus
from mailflow.routing import candidates as candidate_rows
from mailflow.routing.offers import area_candidates, route_lead
from mailflow.routing.standing import period_counts
from tests.support.factories import make_lead

NOW = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)  # a Wednesday; already Thursday in Tokyo
ZONES = ("Europe/Paris", "Asia/Tokyo", "America/New_York")


def _network(settings, n: int, seed: int = 3) -> list[int]:
    tag = f"n{n}s{seed}"
    """``n`` installers serving 75, a third with caps in three time zones, and a history of
    offers (every status, some returned) over the last 40 days, and held leads."""
    rng = random.Random(seed)
    with session_scope(settings) as s:
        rows = [
            Installer(
                email=f"i{k}.{tag}@example.fr",
                name=f"Installer {k}",
                country="FR",
                postcodes="75 92" if k % 2 else "75",
                timezone=ZONES[k % 3],
                tier=("gold", "silver", "bronze")[k % 3],
                capacity=1000,
                cap_day=50 if k % 3 == 1 else None,
                cap_month=200 if k % 3 == 2 else None,
                rating=4.0 + k % 5 / 10,
            )
            for k in range(n)
        ]
        rows.append(
            Installer(email=f"far.{tag}@example.fr", name="Far", country="FR", postcodes="13")
        )
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows[:n]]
        for k in range(n * 6):
            lead = make_lead(s)
            lead.status = rng.choice([LeadStatus.OFFERED, LeadStatus.ACCEPTED, LeadStatus.EXPIRED])
            installer_id = rng.choice(ids)
            if lead.status == LeadStatus.ACCEPTED:
                lead.assigned_installer_id = installer_id
            offered = NOW - timedelta(hours=rng.uniform(0.5, 40 * 24))
            s.add(
                Offer(
                    lead_id=lead.id,
                    installer_id=installer_id,
                    status=rng.choice(list(OfferStatus)),
                    offered_at=offered,
                    deadline=offered + timedelta(hours=24),
                    returned_at=offered if k % 13 == 0 else None,
                )
            )
        return ids


def _expected(session, installer: Installer) -> dict:
    """One installer's figures, asked one by one (what routing read before #21)."""
    since = NOW - timedelta(days=30)
    recent = session.execute(
        select(func.count(), func.max(Offer.offered_at)).where(
            Offer.installer_id == installer.id, Offer.offered_at >= since
        )
    ).one()
    pending = session.scalar(
        select(func.count()).where(
            Offer.installer_id == installer.id, Offer.status == OfferStatus.OFFERED
        )
    )
    held = session.scalar(
        select(func.count()).where(
            Lead.assigned_installer_id == installer.id, Lead.status.in_(HELD_STATUSES)
        )
    )
    return {
        "offers_30d": recent[0],
        "last": recent[1].replace(tzinfo=None) if recent[1] else None,
        "pending_offers": pending,
        "open_leads": held,
        "periods": period_counts(session, installer, NOW),
    }


@pytest.mark.parametrize("listed", [500, 5])
def test_figures_read_for_all_at_once_are_those_read_one_by_one(settings, monkeypatch, listed):
    # Beyond ``LISTED`` candidates the statements select them by country, not by id.
    monkeypatch.setattr(candidate_rows, "LISTED", listed)
    ids = _network(settings, 24)
    with session_scope(settings) as s:
        lead = make_lead(s)
        candidates, outside = area_candidates(s, lead, NOW, settings)
        assert outside == 1  # "far" serves 13 only
        assert sorted(c.id for c in candidates) == sorted(ids)
        capped, counted = 0, 0
        for c in candidates:
            installer = s.get(Installer, c.id)
            want = _expected(s, installer)
            got = {
                "offers_30d": c.offers_30d,
                "last": c.last_offer_at.replace(tzinfo=None) if c.last_offer_at else None,
                "pending_offers": c.pending_offers,
                "open_leads": c.open_leads,
            }
            assert got == {k: v for k, v in want.items() if k != "periods"}
            if installer.cap_day is not None or installer.cap_month is not None:
                capped += 1
                assert (c.offers_day, c.offers_week, c.offers_month) == want["periods"]
                counted += c.offers_month
            else:
                assert (c.offers_day, c.offers_week, c.offers_month) == (0, 0, 0)
            assert c.postcodes == tuple(installer.postcodes.split())
            assert c.rating == installer.rating and c.tier == installer.tier
        assert capped == 16 and counted > 0


def _statements_to_route(settings, n: int) -> int:
    _network(settings, n, seed=n)
    # Nobody busy with the open offers of the history: the lead is offered.
    settings = settings.model_copy(update={"max_pending_offers": 1000})
    with session_scope(settings) as s:
        lead = make_lead(s)  # the history's customer again: routed as a new lead all the same
        lead.status, lead.duplicate_of_id = LeadStatus.NEW, None
        s.flush()
        lead_id = lead.id
    seen = [0]

    def count(*_args):
        seen[0] += 1

    engine = get_engine(settings)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(settings) as s:
            offer = route_lead(s, lead_id, now=NOW, settings=settings)
            assert offer is not None
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen[0]


def test_choosing_among_many_installers_takes_as_many_statements_as_among_few(settings):
    few = _statements_to_route(settings, 4)
    many = _statements_to_route(settings, 40)
    # The same statements whatever the number (time zones with caps: three in both networks).
    assert many == few
    assert few < 30
