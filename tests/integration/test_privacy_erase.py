"""Erasing a customer (``mailflow leads erase``) leaves none of their data anywhere: a customer
with everything (raw email on disk, webhook body, surveys, the installer's notes on follow-up,
failure and release, progress, a pending follow-up timer, a site visit, internal notes, a
document, emails, search terms) is erased, then every text, JSON and binary column of every
table and every file under the data directory (the SQLite database file and its log included)
is searched for their name, email, phone, street and words.

And every such column is either listed as personal (with how it is erased) or explicitly as
not personal: a new column without a decision fails here."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine
from click.testing import CliRunner
from sqlalchemy import JSON, Enum, LargeBinary, String, Text, select

from mailflow.cli import main
from mailflow.db import session_scope
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import process_one
from mailflow.intake.webhook import accept_webhook
from mailflow.leads import search
from mailflow.leads.personal_data import NOT_PERSONAL, personal_columns
from mailflow.lifecycle.service import record_status
from mailflow.lifecycle.visits import book_visit
from mailflow.models import (
    Base,
    Channel,
    Installer,
    Lead,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxState,
    Survey,
    Timer,
    TimerStatus,
)
from mailflow.ratings.service import submit_survey
from mailflow.routing.offers import accept, lock_lead, route_lead
from mailflow.schedule import run_sweep
from support.offers import load_installers
from support.paths import CORPUS
from support.web import post, signed_in_client

PARIS = ZoneInfo("Europe/Paris")
NAME = "Wojciech Zdzisławski"
EMAIL = "wojciech.zdz@example.pl"
PHONE_E164 = "+33612345678"
STREET = "Rue Zéphyrine 17"
# What must be gone afterwards, wherever it was (folded for the search).
NEEDLES = [
    "zdzisławski",
    "zdzislawski",
    "wojciech",
    EMAIL,
    PHONE_E164,
    "12 34 56 78",
    "zéphyrine",
    "zephyrine",
    "xylophone",
    "quokka",
]


def local(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def lead_email() -> bytes:
    lines = [
        f"From: {NAME} <{EMAIL}>",
        "To: leads@localhost",
        "Subject: Demande de devis photovoltaique",
        "Message-ID: <erase-test-1@calculator.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        f"Nom: {NAME}",
        f"Courriel: {EMAIL}",
        "Téléphone: 06 12 34 56 78",
        f"Adresse: {STREET}",
        "Code postal: 75010",
        "Ville: Paris",
        "Produit: pv",
        "Message: Le hangar du xylophone est orienté sud. " + "quokka " * 40_000,
    ]
    return "\r\n".join(lines).encode()


def webhook_body(postcode: str) -> bytes:
    return json.dumps(
        {
            "product": "pv",
            "customer": {
                "name": NAME,
                "email": EMAIL,
                "phone": "06 12 34 56 78",
                "street": STREET,
                "postcode": postcode,
                "city": "Paris",
                "country": "FR",
            },
            "message": "Appelez-moi, je joue du xylophone le soir",
            "details": {"annual_consumption_kwh": 4200, "extra": {"Hobby": "xylophone"}},
        }
    ).encode()


def accepted(settings, lead_id: int, at: datetime) -> None:
    with session_scope(settings) as s:
        # A lead from the intake was offered by its inbound job; the webhook's wait for theirs.
        offer = route_lead(s, lead_id, now=at, settings=settings) or s.scalar(
            select(Offer).where(Offer.lead_id == lead_id, Offer.status == OfferStatus.OFFERED)
        )
    with session_scope(settings) as s:
        accept(s, offer.id, offer.installer_id, now=at, settings=settings)


def step(settings, lead_id: int, name: str, form: dict, at: datetime) -> None:
    with session_scope(settings) as s:
        row = lock_lead(s, lead_id)
        installer = s.get(Installer, row.assigned_installer_id)
        record_status(s, row, installer, name, form, now=at, settings=settings)


def customer_with_everything(settings) -> list[int]:
    load_installers(settings)
    start = local(2026, 11, 2, 10, 0)
    with time_machine.travel(start, tick=False):
        stored = store_inbound(lead_email(), Channel.SMTP, settings=settings, envelope_from=EMAIL)
        process_one(stored.id, now=start, settings=settings)
        leads = []
        with session_scope(settings) as s:
            leads.append(s.scalar(select(Lead.id).where(Lead.inbound_id == stored.id)))
            for postcode in ("75011", "75012", "75013"):
                result = accept_webhook(
                    s, webhook_body(postcode), idempotency_key=None, now=start, settings=settings
                )
                assert result.status_code == 201, result.body
                leads.append(result.body["id"])
    installed, follow_up, failed, released = leads
    for lead_id in leads:
        accepted(settings, lead_id, start)
    # The installed lead: a site visit, installation, then the survey and its answer.
    with session_scope(settings) as s:
        row = lock_lead(s, installed)
        installer = s.get(Installer, row.assigned_installer_id)
        book_visit(
            s,
            row,
            installer,
            {"date": "2026-11-10", "time": "10:00", "note": "portail du xylophone"},
            now=local(2026, 11, 3, 9, 0),
            settings=settings,
        )
    step(settings, installed, "first_contact", {}, local(2026, 11, 3, 10, 0))
    step(settings, installed, "order_placed", {}, local(2026, 11, 5, 10, 0))
    step(settings, installed, "installed", {"date": "2026-11-20"}, local(2026, 11, 20, 18, 0))
    run_sweep(settings, local(2026, 11, 23, 10, 0))
    with session_scope(settings) as s:
        survey = s.scalar(select(Survey).where(Survey.lead_id == installed))
        submit_survey(
            s,
            survey.id,
            {"service": 5, "installation": 4, "communication": 5, "comment": "Merci, xylophone"},
            now=local(2026, 11, 24, 10, 0),
            settings=settings,
        )
    # The customer's mailbox is gone: their provider bounces the survey reminder.
    with session_scope(settings) as s:
        mail = s.scalar(select(OutboxMessage).where(OutboxMessage.to == EMAIL).limit(1))
        mail.state = OutboxState.SENT
    bounce = (
        (CORPUS / "leads" / "bounce_dsn.eml")
        .read_bytes()
        .replace(b"gone@installer.example", EMAIL.encode())
        .replace(b"bounces+42@", f"bounces+{mail.id}@".encode())
    )
    stored = store_inbound(bounce, Channel.SMTP, settings=settings, envelope_from="")
    assert process_one(stored.id, now=local(2026, 11, 24, 10, 30), settings=settings) == "bounce"
    # Notes on status changes: a follow-up (its reminder still pending), a failure, a release.
    step(
        settings,
        follow_up,
        "follow_up",
        {"date": "2026-12-15", "note": "Rappeler M. Zdzisławski après le xylophone"},
        local(2026, 11, 24, 11, 0),
    )
    step(
        settings,
        failed,
        "failed",
        {"reason": "Zdzisławski a déménagé rue Zéphyrine"},
        local(2026, 11, 24, 11, 0),
    )
    step(
        settings,
        released,
        "released",
        {"reason": "wojciech injoignable, xylophone"},
        local(2026, 11, 24, 11, 0),
    )
    # Admin: an internal note and a document named after the customer.
    with signed_in_client(settings) as client:
        assert post(
            client, f"/admin/leads/{installed}/notes", {"body": "Zdzisławski VIP"}
        ).is_redirect
        assert post(
            client,
            f"/admin/leads/{installed}/documents",
            files={"file": ("zdzislawski-xylophone.pdf", b"%PDF Zdzislawski", "application/pdf")},
        ).is_redirect
    search.index_pending(settings)
    with session_scope(settings) as s:
        pending = s.scalars(
            select(Timer).where(Timer.lead_id == follow_up, Timer.status == TimerStatus.PENDING)
        ).all()
        assert any("xylophone" in str(t.data) for t in pending)  # the case is what it claims
    return leads


def text_of(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def textual_columns():
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (String, Text, JSON, LargeBinary)) and not isinstance(
                column.type, Enum
            ):
                yield table, column


def leftovers(settings) -> list[str]:
    found = []
    with session_scope(settings) as s:
        for table, column in textual_columns():
            for key, value in s.execute(select(table.primary_key.columns[0], column)):
                folded = text_of(value).casefold()
                found += [f"{table.name}.{column.name} #{key}: {n}" for n in NEEDLES if n in folded]
    # Files too: raw messages and documents, and on SQLite the database and its write-ahead
    # log (erased data must not linger in free pages or old page copies).
    for path in settings.data_path.rglob("*"):
        if path.is_file():
            folded = path.read_bytes().decode("utf-8", "replace").casefold()
            found += [f"file {path}: {n}" for n in NEEDLES if n in folded]
    return found


def test_erase_leaves_nothing_of_the_customer_anywhere(settings):
    leads = customer_with_everything(settings)
    before = leftovers(settings)
    # The customer really is everywhere the finding names before the erasure.
    for place in (
        "leads.customer_name",
        "lead_events.data",
        "timers.data",
        "leads.progress",
        "outbox.subject",
        "outbox.to",
        "audit_log.data",
        "inbound_messages.raw",
        "site_visits.note",
        "surveys.comment",
        "inbound_messages.reason",
        "lead_search_terms.term",
        "file ",
    ):
        assert any(place in line for line in before), place
    result = CliRunner().invoke(main, ["leads", "erase", EMAIL, "--yes"])
    assert result.exit_code == 0, result.output
    assert "4 leads anonymised" in result.output
    assert leftovers(settings) == []
    with session_scope(settings) as s:
        # The statistics stay.
        rows = {lead.id: lead for lead in s.scalars(select(Lead).where(Lead.id.in_(leads)))}
        assert rows[leads[0]].status == "installed" and rows[leads[2]].status == "failed"
        assert rows[leads[1]].details["annual_consumption_kwh"] == 4200
        assert s.scalar(select(Survey.service).where(Survey.lead_id == leads[0])) == 5
        assert (
            s.scalars(select(Offer.status).where(Offer.lead_id == leads[3])).all()[0]
            == OfferStatus.ACCEPTED
        )


def test_every_text_column_is_decided_personal_or_not():
    personal, not_personal = personal_columns(), set(NOT_PERSONAL)
    columns = {(table.name, column.name) for table, column in textual_columns()}
    undecided = columns - personal - not_personal
    assert not undecided, f"decide whether these hold personal data: {sorted(undecided)}"
    assert not personal & not_personal
    assert not (personal | not_personal) - columns, "entries for columns that do not exist"
