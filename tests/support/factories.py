"""Rows for tests: admins, outbox and inbound messages, installers, leads in bulk."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from mailflow import clock
from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.domain.intake.schema import LeadIn
from mailflow.leads.service import create_lead
from mailflow.models import (
    Channel,
    InboundMessage,
    InboundOutcome,
    Installer,
    Lead,
    LeadStatus,
    OutboxMessage,
    OutboxState,
)
from mailflow.outbound.emails import offer_email
from mailflow.outbound.outbox import queue_email
from mailflow.web.admin.users import create_admin_user
from support.offers import load_installers
from support.people import PASSWORD


def make_admin(
    settings, email: str = "admin@example.com", role: str = "admin", password: str = PASSWORD
) -> int:
    with session_scope(settings) as s:
        return create_admin_user(s, email, password, role).id


def make_outbox(
    settings,
    state: str,
    *,
    subject: str = "Nouveau lead à Paris",
    last_error: str | None = None,
    body_html: str | None = "<p>Bonjour</p>",
    created_ago: timedelta = timedelta(0),
    sent_ago: timedelta | None = None,
    to: str = "installer@example.com",
) -> int:
    at = now()
    with session_scope(settings) as s:
        row = OutboxMessage(
            to=to,
            template="offer",
            language="fr",
            subject=subject,
            body_text="Bonjour,\nun nouveau lead vous attend.",
            body_html=body_html,
            state=OutboxState(state),
            last_error=last_error,
            attempts=1 if state in ("failed", "sent") else 0,
            message_id=f"<{uuid.uuid4().hex}@test.example>",
            created_at=at - created_ago,
            next_attempt_at=at if state == "queued" else None,
            sent_at=at - sent_ago if sent_ago is not None else None,
        )
        s.add(row)
        s.flush()
        return row.id


def make_inbound(
    settings,
    outcome: str,
    *,
    raw: bytes | None = b"Subject: hi\r\n\r\nhello\r\n",
    reason: str | None = None,
    parsed: dict | None = None,
    channel: Channel = Channel.SMTP,
) -> int:
    with session_scope(settings) as s:
        row = InboundMessage(
            channel=channel,
            dedup_key=f"sha256:{uuid.uuid4().hex}",
            message_id=f"<{uuid.uuid4().hex}@sender.example>",
            envelope_from="sender@example.org",
            envelope_to="leads@localhost",
            size=len(raw or b""),
            raw=raw,
            outcome=InboundOutcome(outcome),
            reason=reason,
            parsed=parsed,
            processed_at=None if outcome == "pending" else now(),
        )
        s.add(row)
        s.flush()
        return row.id


def outbox_state(settings, outbox_id: int) -> str:
    with session_scope(settings) as s:
        return s.get(OutboxMessage, outbox_id).state.value


# seed_leads: leads created in the 90 days before NOW, with these names, places and statuses.
NOW = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)  # a Wednesday

FIRST = ["Claire", "Émilie", "Jean", "Lukas", "Anna", "Zoé", "Hélène", "Jürgen", "Paul", "Inès"]
LAST = ["Dubois", "Martin", "Lefèvre", "Müller", "Nowak", "Garnier", "Fischer", "Roux", "Weber"]
PLACES = {
    "FR": [("75", "Paris"), ("69", "Lyon"), ("13", "Marseille"), ("33", "Bordeaux")],
    "DE": [("10", "Berlin"), ("80", "München")],
}
STATUSES = [s for s in LeadStatus if s != LeadStatus.QUARANTINED]


def seed_leads(settings, n: int = 3000, seed: int = 11) -> list[dict]:
    """``n`` leads inserted in bulk (one statement per 1,000), returned with their ids."""
    rng = random.Random(seed)
    load_installers(settings)
    with session_scope(settings) as s:
        installers = list(s.scalars(select(Installer.id).order_by(Installer.id)))
    rows = []
    for i in range(n):
        country = "FR" if rng.random() < 0.8 else "DE"
        prefix, city = rng.choice(PLACES[country])
        first, last = rng.choice(FIRST), rng.choice(LAST)
        status = rng.choice(STATUSES)
        created = NOW - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
        held = status in (LeadStatus.ACCEPTED, LeadStatus.QUOTE_SENT, LeadStatus.INSTALLED)
        rows.append(
            {
                "status": status,
                "source": rng.choice(["email", "calculator", "webhook", "import"]),
                "product": rng.choice(["pv", "heat_pump", "battery", None]),
                "customer_name": f"{first} {last}",
                "email": f"{first.lower()}.{i}@example.org",
                "phone": f"+33{600000000 + i}" if country == "FR" else f"+49{1500000000 + i}",
                "postcode": f"{prefix}{rng.randint(0, 999):03d}",
                "city": city,
                "country": country,
                "details": {},
                "progress": {},
                "assigned_installer_id": rng.choice(installers) if held else None,
                "archived_at": created + timedelta(days=1) if rng.random() < 0.05 else None,
                "spam": False,
                "created_at": created,
                "updated_at": created + timedelta(hours=rng.randint(0, 2000)),
            }
        )
    with session_scope(settings) as s:
        for start in range(0, n, 1000):
            s.execute(insert(Lead), rows[start : start + 1000])
        ids = list(s.scalars(select(Lead.id).order_by(Lead.id)))[-n:]
    for row, lead_id in zip(rows, ids, strict=True):
        row["id"] = lead_id
    # Some duplicates of earlier leads.
    with session_scope(settings) as s:
        for index in range(10, 200, 7):
            row, original = rows[index], rows[index - 5]["id"]
            s.execute(
                update(Lead)
                .where(Lead.id == row["id"])
                .values(duplicate_of_id=original, updated_at=Lead.updated_at)
            )
            row["duplicate_of_id"] = original
    for row in rows:
        row.setdefault("duplicate_of_id", None)
    return rows


@pytest.fixture
def installer(settings):
    with session_scope(settings) as s:
        row = Installer(
            email="contact@soleil-paris.example",
            name="Camille Roux",
            language="fr",
            country="FR",
            timezone="Europe/Paris",
            postcodes="75",
            tier="gold",
        )
        s.add(row)
        s.flush()
        return row.id


def make_lead(session) -> Lead:
    lead_in = LeadIn.model_validate(
        {
            "product": "pv",
            "customer": {
                "name": "Claire Dubois",
                "email": "claire@example.fr",
                "phone": "+33 1 40 34 70 00",
                "postcode": "75010",
                "city": "Paris",
                "street": "Quai de Valmy 167",
            },
            "details": {"annual_consumption_kwh": 3100},
        }
    )
    return create_lead(session, lead_in, now=clock.now(), source="email", channel="smtp")


def queue_offer(settings, installer_id: int, language: str | None = None) -> int:
    with session_scope(settings) as s:
        lead = make_lead(s)
        installer = s.get(Installer, installer_id)
        if language:
            installer.language = language
        spec = offer_email(
            lead,
            installer,
            deadline=clock.now() + timedelta(hours=24),
            accept_url="http://127.0.0.1:8000/l/accept/TOKEN-A",
            decline_url="http://127.0.0.1:8000/l/decline/TOKEN-D",
            vacation_url="http://127.0.0.1:8000/l/vacation/TOKEN-V",
        )
        row = queue_email(s, spec, now=clock.now(), settings=settings)
        s.flush()  # the row is written with the session's next flush
        return row.id
