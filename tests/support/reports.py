"""A month of lead traffic for the reports' browser test and screenshots: installers, leads
from several sources over the 30 days before ``at``, offers with every outcome, status steps
with quotes, customer surveys and the sweep's samples."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from mailflow.db import session_scope
from mailflow.models import (
    Actor,
    Installer,
    Lead,
    LeadEvent,
    LeadStatus,
    Offer,
    OfferStatus,
    ReportSample,
    Survey,
)

INSTALLERS = [
    ("Soleil Paris", "gold", 82.5, "75"),
    ("Rhône Énergie", "silver", 61.0, "69"),
    ("Provence Solaire", "silver", 57.5, "13"),
    ("Atlantique PV", "bronze", 38.0, "33"),
]
SOURCES = ["calculator", "calculator", "leadgen", "webhook", "email", "import"]
PRODUCTS = ["pv", "pv", "heat_pump", "battery", "pv_battery"]
STEPS = ["contact_attempted", "first_contact", "quote_sent", "order_placed", "installed"]


def seed_month(
    settings, at: datetime, seed: int = 19, tag: str = "", samples: bool = True
) -> dict[str, int]:
    """Returns the installers' ids by name (``tag`` prefixes their names and addresses, to seed
    several months' worth of traffic side by side)."""
    rng = random.Random(seed)
    with session_scope(settings) as s:
        ids = {}
        for name, tier, score, area in INSTALLERS:
            row = Installer(
                email=f"{tag}{area}@installers.example",
                name=f"{tag}{name}",
                country="FR",
                postcodes=area,
                tier=tier,
                score=score,
            )
            s.add(row)
            s.flush()
            ids[name] = row.id
        installers = [(ids[name], area) for name, _, _, area in INSTALLERS]
        for day in range(30, 0, -1):
            for _ in range(rng.randint(3, 9)):
                created = at - timedelta(days=day, minutes=rng.randint(0, 600))
                installer, area = rng.choice(installers)
                lead = Lead(
                    customer_name="Client",
                    postcode=f"{area}{rng.randint(0, 999):03d}",
                    country="FR",
                    source=rng.choice(SOURCES),
                    product=rng.choice(PRODUCTS),
                    status=LeadStatus.POOL,
                    created_at=created,
                    updated_at=created,
                )
                s.add(lead)
                s.flush()
                if rng.random() < 0.08:
                    lead.status = LeadStatus.DUPLICATE
                    continue
                offered = created + timedelta(minutes=rng.randint(1, 20))
                outcome = rng.choices(
                    [OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED],
                    weights=[6, 2, 2],
                )[0]
                answered = (
                    offered + timedelta(minutes=rng.randint(5, 600))
                    if outcome != OfferStatus.EXPIRED
                    else None
                )
                s.add(
                    Offer(
                        lead_id=lead.id,
                        installer_id=installer,
                        status=outcome,
                        offered_at=offered,
                        deadline=offered + timedelta(hours=24),
                        answered_at=answered,
                    )
                )
                if outcome != OfferStatus.ACCEPTED:
                    continue
                lead.accepted_at = answered
                lead.assigned_installer_id = installer
                lead.status = LeadStatus.ACCEPTED
                steps = STEPS[: rng.choice([0, 1, 2, 3, 3, 4, 5])]
                for n, step in enumerate(steps, start=1):
                    s.add(
                        LeadEvent(
                            lead_id=lead.id,
                            at=answered + timedelta(hours=6 * n),
                            type="status",
                            actor=Actor.INSTALLER,
                            data={"status": step},
                        )
                    )
                    lead.status = LeadStatus(step)
                    # The first step recorded is the first contact (#20).
                    lead.first_contact_at = lead.first_contact_at or (answered + timedelta(hours=6))
                if "quote_sent" in steps:
                    amount = float(rng.randrange(6000, 24000, 250))
                    lead.progress = {"quote": {"amount": amount, "currency": "EUR"}}
                if lead.status == LeadStatus.INSTALLED:
                    s.add(
                        Survey(
                            lead_id=lead.id,
                            installer_id=installer,
                            submitted_at=answered + timedelta(days=2),
                            service=rng.randint(3, 5),
                            installation=rng.randint(3, 5),
                            communication=rng.randint(2, 5),
                        )
                    )
        pool = 4
        for hours in range(30 * 24, 0, -3) if samples else ():
            pool = max(0, pool + rng.randint(-2, 2))
            s.add(
                ReportSample(
                    at=at - timedelta(hours=hours),
                    pool=pool,
                    exchange=pool // 2,
                    waiting=rng.randint(0, 3),
                    outbox=rng.randint(0, 6),
                    queue=rng.randint(0, 4),
                )
            )
    return ids
