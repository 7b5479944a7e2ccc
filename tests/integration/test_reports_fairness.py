"""The fairness check (#20, /admin/reports/fairness): leads offered per installer against
their share of the weights, computed by hand from a known set of routing decisions, match the
page and the CSV; the range and the area filter select the decisions.

The data set lives on 2–3 March 2026 (explicit timestamps, never today's date)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from mailflow.db import session_scope
from mailflow.models import Installer, Lead, LeadStatus, RoutingDecision
from support.web import choose_language, signed_in_client

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RANGE = {"start": "2026-03-02", "end": "2026-03-03"}
GOLD, SILVER, BRONZE = "gold@fair.example", "silver@fair.example", "bronze@fair.example"


def verdict(installer_id: int, tier: str, chosen: bool) -> dict:
    return {
        "installer_id": installer_id,
        "outcome": "chosen" if chosen else "passed",
        "reason": "fewest_offers" if chosen else "more_offers",
        "facts": {"tier": tier},
    }


def seed(settings) -> dict[str, int]:
    """30 leads in 75 where all three were eligible, all given to gold (fair share: 15, 10, 5);
    6 leads in 69 where only bronze was eligible (the others at capacity), given to bronze;
    one escalated lead and one pooled lead (not counted); one decision the day after the range."""
    with session_scope(settings) as s:
        ids = {}
        for email, tier in ((GOLD, "gold"), (SILVER, "silver"), (BRONZE, "bronze")):
            row = Installer(
                email=email, name=tier.title(), country="FR", postcodes="75 69", tier=tier
            )
            s.add(row)
            s.flush()
            ids[email] = row.id
        tiers = {ids[GOLD]: "gold", ids[SILVER]: "silver", ids[BRONZE]: "bronze"}

        def decide(n: int, postcode: str, chosen: int | None, eligible: list[int], kind="offered"):
            at = T0 + timedelta(minutes=10 * n)
            lead = Lead(
                customer_name="Client",
                postcode=postcode,
                country="FR",
                source="email",
                product="pv",
                status=LeadStatus.OFFERED,
                created_at=at,
                updated_at=at,
            )
            s.add(lead)
            s.flush()
            candidates = [verdict(i, tiers[i], i == chosen) for i in eligible]
            candidates += [
                {
                    "installer_id": i,
                    "outcome": "passed",
                    "reason": "at_capacity",
                    "facts": {"tier": tiers[i]},
                }
                for i in tiers
                if i not in eligible
            ]
            s.add(
                RoutingDecision(
                    lead_id=lead.id,
                    installer_id=chosen,
                    at=at,
                    kind=kind,
                    reason="fewest_offers" if chosen else None,
                    candidates=candidates,
                    rest={},
                )
            )

        everyone = list(tiers)
        for n in range(30):
            decide(n, "75011", ids[GOLD], everyone)
        for n in range(30, 36):
            decide(n, "69003", ids[BRONZE], [ids[BRONZE]])
        decide(40, "75012", ids[SILVER], everyone, kind="escalated")
        decide(41, "75013", None, [], kind="pooled")
        decide(6 * 24 * 3, "75014", ids[SILVER], everyone)  # 5 March: outside the range
        return ids


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


def page_rows(html: str) -> dict[str, dict[str, str]]:
    rows = {}
    for installer_id, verdict_code, body in re.findall(
        r'<tr data-installer="(\d+)" data-verdict="(\w+)">(.*?)</tr>', html, re.S
    ):
        cells = dict(re.findall(r'data-col="(\w+)">([^<]*)<', body))
        rows[installer_id] = {**cells, "verdict": verdict_code}
    return rows


def test_the_page_and_the_csv_match_the_figures_computed_by_hand(settings, admin_client):
    ids = seed(settings)
    choose_language(admin_client, "en")
    page = admin_client.get("/admin/reports/fairness", params=RANGE)
    assert page.status_code == 200
    assert re.search(r'data-figure="decisions">36<', page.text)
    assert re.search(r'data-figure="flagged">3<', page.text)
    rows = page_rows(page.text)
    # Gold: 30 of 30 where it had 3/6 of the weight, and the 6 bronze-only leads were not theirs.
    assert rows[str(ids[GOLD])] == {
        "eligible": "30",
        "offered": "30",
        "expected": "15.0",
        "ratio": "2.00",
        "verdict": "more",
    }
    assert rows[str(ids[SILVER])] == {
        "eligible": "30",
        "offered": "0",
        "expected": "10.0",
        "ratio": "0.00",
        "verdict": "less",
    }
    # Bronze: 5 expected from Paris (none got) and 6 of 6 where they were alone: 6 for 11.
    # The gap of 5 is more than twice what chance explains (sd = sqrt(30 * 1/6 * 5/6) = 2.04).
    assert rows[str(ids[BRONZE])] == {
        "eligible": "36",
        "offered": "6",
        "expected": "11.0",
        "ratio": "0.55",
        "verdict": "less",
    }
    # Most favoured first.
    assert list(rows) == [str(ids[GOLD]), str(ids[BRONZE]), str(ids[SILVER])]

    exported = admin_client.get("/admin/reports/fairness.csv", params=RANGE)
    assert exported.status_code == 200
    table = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert table[0] == [
        "Installer",
        "Tier",
        "Decisions eligible",
        "Leads offered",
        "Fair share (leads)",
        "Offered / fair share",
        "Verdict",
    ]
    assert table[1:] == [
        [GOLD, "gold", "30", "30", "15.0", "2.0", "more than their share"],
        [BRONZE, "bronze", "36", "6", "11.0", "0.55", "less than their share"],
        [SILVER, "silver", "30", "0", "10.0", "0.0", "less than their share"],
    ]


def test_filters_select_the_decisions_and_the_rows(settings, admin_client):
    ids = seed(settings)
    lyon = page_rows(
        admin_client.get("/admin/reports/fairness", params={**RANGE, "area": "69"}).text
    )
    assert lyon == {
        str(ids[BRONZE]): {
            "eligible": "6",
            "offered": "6",
            "expected": "6.0",
            "ratio": "1.00",
            "verdict": "fair",
        }
    }
    later = admin_client.get(
        "/admin/reports/fairness", params={"start": "2026-03-05", "end": "2026-03-05"}
    )
    assert re.search(r'data-figure="decisions">1<', later.text)
    gold_only = page_rows(
        admin_client.get("/admin/reports/fairness", params={**RANGE, "tier": "gold"}).text
    )
    assert list(gold_only) == [str(ids[GOLD])]
    bad = admin_client.get(
        "/admin/reports/fairness", params={"start": "2026-03-05", "end": "2026-03-01"}
    )
    assert bad.status_code == 400


def test_the_page_speaks_the_admins_language(settings, admin_client):
    seed(settings)
    choose_language(admin_client, "fr")
    page = admin_client.get("/admin/reports/fairness", params=RANGE)
    assert page.status_code == 200
    assert "more than their share" not in page.text
    assert "Installers off their share" not in page.text
