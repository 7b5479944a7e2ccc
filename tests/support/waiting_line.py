"""A line of waiting leads (#17) for the admin pages' tests: installers of the Lyon area busy
in each way (open-offer limit, daily cap, capacity) or away, and leads routed as they came
until the rest wait."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import insert, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.models import Installer, Lead, LeadStatus, Offer, OfferStatus
from mailflow.routing.offers import route_lead

PARIS = ZoneInfo("Europe/Paris")
WAITING = 30  # leads left waiting once the three installers are busy


@contextmanager
def noon_in_paris() -> Iterator[None]:
    """Today at noon in Paris (ticking): leads routed minutes ago count in the installers' day
    whatever the hour the tests run at."""
    today = clock.now().astimezone(PARIS).date()
    with time_machine.travel(datetime.combine(today, time(12), tzinfo=PARIS), tick=True):
        yield


def add_installers(settings) -> dict[str, int]:
    """Four installers of the Lyon area (69) and one of Paris: ``pending`` stops at the open
    offer limit (3), ``capped`` at its daily cap (1), ``small`` at its capacity (2);
    ``away`` is on vacation; ``paris`` does not serve Lyon."""
    at = clock.now()
    specs = {
        "pending": {},
        "capped": {"cap_day": 1},
        "small": {"capacity": 2},
        "away": {"vacation_from": at - timedelta(days=1), "vacation_until": at + timedelta(days=9)},
        "paris": {"postcodes": "75"},
    }
    with session_scope(settings) as s:
        rows = {
            name: Installer(
                email=f"{name}@installer.example",
                name=name.title(),
                country="FR",
                timezone="Europe/Paris",
                tier="gold",
                capacity=spec.get("capacity", 100),
                postcodes=spec.get("postcodes", "69"),
                cap_day=spec.get("cap_day"),
                vacation_from=spec.get("vacation_from"),
                vacation_until=spec.get("vacation_until"),
            )
            for name, spec in specs.items()
        }
        s.add_all(rows.values())
        s.flush()
        return {name: row.id for name, row in rows.items()}


def route_in_order(settings, n: int) -> list[int]:
    """``n`` Lyon leads, arrived a few seconds apart and routed one by one as they came: the
    first six are offered (3 + 1 + 2 slots), the others wait, each since its own arrival."""
    start = clock.now() - timedelta(minutes=10)
    rows = [
        {
            "status": LeadStatus.NEW,
            "source": "import",
            "product": "heat_pump" if i % 2 else "pv",
            "customer_name": f"Client Secret{i}",
            "email": f"client{i}@customer.example",
            "phone": f"+336000000{i:02d}",
            "postcode": f"69{i:03d}",
            "city": "Lyon",
            "country": "FR",
            "details": {},
            "progress": {},
            "spam": False,
            "created_at": start + timedelta(seconds=10 * i),
            "updated_at": start + timedelta(seconds=10 * i),
        }
        for i in range(n)
    ]
    with session_scope(settings) as s:
        s.execute(insert(Lead), rows)
        ids = list(s.scalars(select(Lead.id).order_by(Lead.created_at, Lead.id)))
    for i, lead_id in enumerate(ids):
        with session_scope(settings) as s:
            route_lead(s, lead_id, now=start + timedelta(seconds=10 * i + 1), settings=settings)
    return ids


def make_line(settings) -> dict:
    """Installers busy in every way and ``WAITING`` leads waiting for them, oldest first."""
    installers = add_installers(settings)
    ids = route_in_order(settings, 6 + WAITING)
    with session_scope(settings) as s:
        waiting = list(
            s.scalars(
                select(Lead.id)
                .where(Lead.status == LeadStatus.NEW, Lead.waiting_since.is_not(None))
                .order_by(Lead.id)
            )
        )
        offered = {
            name: s.scalar(
                select(Offer.id).where(
                    Offer.installer_id == installers[name], Offer.status == OfferStatus.OFFERED
                )
            )
            for name in ("pending", "capped", "small")
        }
    assert waiting == ids[6:]  # the routing made them wait: the page has something to show
    return {"installers": installers, "ids": ids, "waiting": waiting, "offered": offered}
