"""The installer pages of the admin console: list with tier, score, capacity, open leads and
flags; create, edit (tier changes recorded), deactivate and reactivate; import as a job
(the corpus installers) and export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.leads.imports import run_import
from mailflow.models import (
    AuditEntry,
    ImportJob,
    Installer,
    Lead,
    LeadStatus,
    Offer,
    OfferStatus,
    OutboxMessage,
    TierChange,
)
from mailflow.routing.offers import route_lead
from support.offers import emails_to, load_installers, new_lead
from support.paths import CORPUS
from support.people import GOLD_PARIS, SILVER_PARIS
from support.web import post, signed_in_client

CORPUS_CSV = CORPUS / "installers.csv"


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


def installers(settings) -> dict[str, Installer]:
    with session_scope(settings) as s:
        return {i.email: i for i in s.scalars(select(Installer))}


def corpus_rows() -> list[dict]:
    with CORPUS_CSV.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def upload(client, kind: str, name: str, data: bytes):
    return post(
        client,
        f"/admin/{kind}/import",
        files={"file": (name, data, "text/csv")},
        page=f"/admin/{kind}/import",
    )


def import_file(client, settings, name: str, data: bytes) -> tuple[ImportJob, str]:
    """Upload, run the queued job, and read the import's page (#19)."""
    started = upload(client, "installers", name, data)
    assert started.status_code == 303, started.text
    url = started.headers["location"]
    import_id = int(url.rsplit("/", 1)[1])
    run_import(import_id, settings)
    with session_scope(settings) as s:
        job = s.get(ImportJob, import_id)
        s.expunge(job)
    return job, client.get(url).text


def test_import_of_the_corpus_installers(settings, admin_client):
    data = CORPUS_CSV.read_bytes()
    rows = corpus_rows()
    job, page = import_file(admin_client, settings, "installers.csv", data)
    assert (job.status, job.created, job.updated, job.rejected) == ("done", len(rows), 0, 0)
    assert re.search(
        rf'data-outcome="created">\s*<div class="label">created</div>\s*'
        rf'<div class="value">{len(rows)}</div>',
        page,
    )
    stored = installers(settings)
    assert set(stored) == {r["email"] for r in rows}
    paris = stored["contact@soleil-paris.example"]
    assert (paris.tier, paris.capacity, paris.postcodes, paris.timezone) == (
        "gold",
        20,
        "75 92 93 94",
        "Europe/Paris",
    )
    # The same file again: every row updates an existing installer.
    again, _ = import_file(admin_client, settings, "installers.csv", data)
    assert (again.created, again.updated, again.rejected) == (0, len(rows), 0)
    with session_scope(settings) as s:
        entries = list(
            s.scalars(select(AuditEntry).where(AuditEntry.action == "installers.import"))
        )
        assert [e.data["import"] for e in entries] == [job.id, again.id]
        assert entries[0].actor == "admin@example.com"


def test_import_names_bad_rows(settings, admin_client):
    load_installers(settings)
    data = (
        b"email,name,company,language,country,timezone,postcodes,tier,capacity\n"
        b"new@pv.example,New PV,,fr,FR,Europe/Paris,75 ; 92,silver,4\n"
        b"contact@soleil-paris.example,Camille Roux,Soleil,fr,FR,Europe/Paris,75,gold,25\n"
        b"broken,No Email,,fr,FR,Europe/Paris,75,gold,5\n"
        b"tz@pv.example,Bad TZ,,fr,FR,Mars/Olympus,75,gold,5\n"
        b"tier@pv.example,Bad Tier,,fr,FR,Europe/Paris,75,platinum,5\n"
        b"cap@pv.example,Bad Capacity,,fr,FR,Europe/Paris,75,gold,-1\n"
        b"new@pv.example,New PV again,,fr,FR,Europe/Paris,75,silver,4\n"
    )
    job, page = import_file(admin_client, settings, "mixed.csv", data)
    assert (job.created, job.updated, job.rejected) == (1, 2, 4)
    rejected = dict(re.findall(r'<li data-row="(\d+)">([^<]*)</li>', page))
    assert rejected == {
        "4": "row 4: email &#39;broken&#39; is not a valid email address",
        "5": "row 5: time zone &#39;Mars/Olympus&#39; is unknown (write it like Europe/Paris)",
        "6": "row 6: tier &#39;platinum&#39; is not one of: bronze, silver, gold",
        "7": "row 7: capacity &#39;-1&#39; must be at least 0",
    }
    stored = installers(settings)
    assert stored["new@pv.example"].postcodes == "75"  # the later row wins
    assert stored["new@pv.example"].name == "New PV again"
    assert stored["contact@soleil-paris.example"].capacity == 25


def test_import_refuses_files_that_are_not_tables(settings, admin_client):
    bad = upload(admin_client, "installers", "installers.xlsx", b"this is no zip file")
    assert bad.status_code == 400 and "cannot be read" in bad.text
    wrong = upload(admin_client, "installers", "installers.exe", b"MZ")
    assert wrong.status_code == 400 and ".csv or .xlsx" in wrong.text
    unsafe = upload(admin_client, "installers", "../installers.csv", b"email\n")
    assert unsafe.status_code == 400


def test_list_shows_tier_score_capacity_open_leads_and_flags(settings, admin_client):
    load_installers(settings)
    at = clock.now()
    with session_scope(settings) as s:
        paris = s.scalar(select(Installer).where(Installer.email == "contact@soleil-paris.example"))
        paris.score, paris.rating = 82.5, 4.6
        berlin = s.scalar(select(Installer).where(Installer.email.like("kontakt@%")))
        berlin.vacation_from, berlin.vacation_until = at - timedelta(days=1), at + timedelta(days=6)
        london = s.scalar(select(Installer).where(Installer.email.like("office@%")))
        london.bounced_at, london.active = at, False
        for status in (LeadStatus.ACCEPTED, LeadStatus.QUOTE_SENT, LeadStatus.INSTALLED):
            s.add(
                Lead(
                    status=status,
                    source="email",
                    customer_name="X",
                    email="x@example.org",
                    postcode="75001",
                    country="FR",
                    assigned_installer_id=paris.id,
                )
            )
    page = admin_client.get("/admin/installers").text
    row = page.split("contact@soleil-paris.example</a>")[1].split("</tr>")[0]
    assert "gold" in row and "82.5" in row and "4.6" in row and "2 / 20" in row
    berlin_row = page.split("kontakt@berlin-waerme.example</a>")[1].split("</tr>")[0]
    assert "vacation" in berlin_row
    london_row = page.split("office@london-solar.example</a>")[1].split("</tr>")[0]
    assert "inactive" in london_row and "bounced" in london_row
    assert "75 92 93 94" in page
    filtered = admin_client.get("/admin/installers?state=inactive").text
    assert "office@london-solar.example" in filtered and "soleil-paris" not in filtered
    by_tier = admin_client.get("/admin/installers?tier=gold&country=DE").text
    assert "sachsen-solar" in by_tier and "soleil-paris" not in by_tier
    assert "sachsen-solar" in admin_client.get("/admin/installers?q=SACHSEN").text
    detail = admin_client.get(f"/admin/installers/{paris.id}").text
    assert "Leads they hold" in detail and "quote sent" in detail


def test_create_edit_deactivate_reactivate(settings, admin_client):
    form = admin_client.get("/admin/installers/new")
    assert form.status_code == 200
    refused = post(
        admin_client,
        "/admin/installers/new",
        {
            "email": "nope",
            "name": "",
            "country": "FR",
            "tier": "gold",
            "capacity": "3",
            "timezone": "Europe/Paris",
            "language": "fr",
        },
    )
    assert refused.status_code == 422
    assert "not a valid email address" in refused.text and 'value="nope"' in refused.text
    created = post(
        admin_client,
        "/admin/installers/new",
        {
            "email": "Neu@Solar.example",
            "name": "Neu Solar",
            "country": "de",
            "tier": "silver",
            "capacity": "7",
            "timezone": "Europe/Berlin",
            "language": "de",
            "postcodes": "10, 12;13",
            "phone": "",
        },
    )
    assert created.status_code == 303
    new_id = int(created.headers["location"].rsplit("/", 1)[1])
    installer = installers(settings)["neu@solar.example"]
    assert (installer.id, installer.country, installer.postcodes, installer.capacity) == (
        new_id,
        "DE",
        "10 12 13",
        7,
    )
    duplicate = post(
        admin_client,
        "/admin/installers/new",
        {"email": "neu@solar.example", "name": "Again", "country": "DE"},
    )
    assert duplicate.status_code == 422 and "exists already" in duplicate.text

    edited = post(
        admin_client,
        f"/admin/installers/{new_id}",
        {
            "email": "neu@solar.example",
            "name": "Neu Solar GmbH",
            "country": "DE",
            "tier": "gold",
            "capacity": "9",
            "timezone": "Europe/Berlin",
            "language": "de",
            "postcodes": "10 12 13 14",
        },
    )
    assert edited.status_code == 303
    installer = installers(settings)["neu@solar.example"]
    assert installer.tier == "gold" and installer.tier_pinned and installer.capacity == 9
    with session_scope(settings) as s:
        change = s.scalars(select(TierChange)).one()
        assert (change.old_tier, change.new_tier, change.by) == (
            "silver",
            "gold",
            "admin@example.com",
        )
        # The installer is told, as for a tier the score changed.
        told = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.to == "neu@solar.example", OutboxMessage.template == "tier_changed"
            )
        ).all()
        assert len(told) == 1
    assert "silver → gold" in admin_client.get(f"/admin/installers/{new_id}").text
    bad_edit = post(
        admin_client,
        f"/admin/installers/{new_id}",
        {"email": "neu@solar.example", "name": "X", "country": "DE", "timezone": "Nowhere/City"},
    )
    assert bad_edit.status_code == 422 and "unknown time zone" in bad_edit.text

    assert post(admin_client, f"/admin/installers/{new_id}/deactivate").status_code == 303
    installer = installers(settings)["neu@solar.example"]
    assert not installer.active and installer.deactivated_at is not None
    assert post(admin_client, f"/admin/installers/{new_id}/activate").status_code == 303
    installer = installers(settings)["neu@solar.example"]
    assert installer.active and installer.deactivated_at is None
    assert installer.last_action_at is not None  # the 8-week silence counts from now
    with session_scope(settings) as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [
        "installer.create",
        "installer.edit",
        "installer.deactivate",
        "installer.activate",
    ]
    assert post(admin_client, "/admin/installers/99999/deactivate").status_code == 404


def test_export_csv_and_xlsx_round_trip(settings, admin_client):
    load_installers(settings)
    exported = admin_client.get("/admin/installers/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith('attachment; filename="installers-')
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    # The corpus file has no caps nor hours: exported as empty columns (no cap, the default).
    caps = {"cap_day": "", "cap_week": "", "cap_month": "", "working_hours": ""}
    expected = sorted(({**r, **caps} for r in corpus_rows()), key=lambda r: r["email"])
    assert rows == expected
    workbook = load_workbook(io.BytesIO(admin_client.get("/admin/installers/export.xlsx").content))
    sheet = workbook.active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == list(expected[0])
    assert [v[0] for v in values[1:]] == [r["email"] for r in expected]
    with session_scope(settings) as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "installers.export")
            )
            == 2
        )


def test_caps_in_the_form_the_export_and_the_import(settings, admin_client):
    """Leads per day, week and month: set on the admin page, exported, imported back; a file
    without the cap columns leaves them alone; the page explains the routing rules."""
    load_installers(settings)
    soleil = installers(settings)["contact@soleil-paris.example"]
    page = admin_client.get(f"/admin/installers/{soleil.id}").text
    assert "How leads are distributed" in page and "at most 3 offers waiting" in page
    form = {
        "email": soleil.email,
        "name": soleil.name,
        "language": soleil.language,
        "country": soleil.country,
        "timezone": soleil.timezone,
        "postcodes": soleil.postcodes,
        "tier": soleil.tier,
        "capacity": str(soleil.capacity),
        "cap_day": "",
        "cap_week": "12",
        "cap_month": "40",
    }
    post(admin_client, f"/admin/installers/{soleil.id}", form)
    stored = installers(settings)["contact@soleil-paris.example"]
    assert (stored.cap_day, stored.cap_week, stored.cap_month) == (None, 12, 40)
    page = admin_client.get(f"/admin/installers/{soleil.id}").text
    # Paced: 10 % of 40 a day, min(12, 30 % of 40) a week.
    assert re.search(
        r'id="caps".*0<span class="small muted">/4</span> · 0<span class="small muted">/12</span> · 0<span class="small muted">/40',
        page,
        re.S,
    )
    exported = admin_client.get("/admin/installers/export.csv").content.decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["email"] == soleil.email)
    assert (row["cap_day"], row["cap_week"], row["cap_month"]) == ("", "12", "40")
    # An older file without the caps leaves them; one with an empty cap clears it.
    data = b"email,name,country,timezone,postcodes,tier,capacity\ncontact@soleil-paris.example,Camille Roux,FR,Europe/Paris,75,gold,25\n"
    import_file(admin_client, settings, "old.csv", data)
    stored = installers(settings)["contact@soleil-paris.example"]
    assert (stored.capacity, stored.cap_week, stored.cap_month) == (25, 12, 40)
    data = b"email,name,country,postcodes,tier,capacity,cap_day,cap_week,cap_month\ncontact@soleil-paris.example,Camille Roux,FR,75,gold,25,5,,40\n"
    import_file(admin_client, settings, "new.csv", data)
    stored = installers(settings)["contact@soleil-paris.example"]
    assert (stored.cap_day, stored.cap_week, stored.cap_month) == (5, None, 40)


def test_deactivation_withdraws_open_offers_and_the_lead_moves_on(settings, admin_client):
    load_installers(settings)
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        route_lead(s, lead_id, now=clock.now(), settings=settings)
    gold = installers(settings)[GOLD_PARIS]
    assert post(admin_client, f"/admin/installers/{gold.id}/deactivate", {}).status_code == 303
    assert "1 open offer(s) withdrawn" in admin_client.get(f"/admin/installers/{gold.id}").text
    with session_scope(settings) as s:
        offers = [
            (o.installer_id, o.status)
            for o in s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id))
        ]
    silver = installers(settings)[SILVER_PARIS]
    assert offers == [(gold.id, OfferStatus.WITHDRAWN), (silver.id, OfferStatus.OFFERED)]
    (told,) = emails_to(settings, GOLD_PARIS, "offers_withdrawn")
    # The Paris installer reads French: the email says why, in their language.
    assert f"#{lead_id} " in told.body_text and "compte est désactivé" in told.body_text
