"""Data in and out of the admin console and data protection: lead import with a preview
(a mixed file with bad rows, CSV and XLSX), exports with the current filters, customer erasure
(page and CLI), the retention sweep, the audit log; and the access rules over every console
route: nothing reachable signed out, nothing changeable by a viewer."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from mailflow import clock
from mailflow.cli import main
from mailflow.db import session_scope
from mailflow.infra import blobs
from mailflow.leads import retention, search
from mailflow.leads.export_columns import COLUMNS as EXPORT_COLUMNS
from mailflow.leads.imports import create_import, run_import
from mailflow.models import (
    AuditEntry,
    Channel,
    ImportJob,
    InboundMessage,
    InboundOutcome,
    Installer,
    Lead,
    LeadDocument,
    LeadEvent,
    LeadNote,
    LeadReturn,
    LeadStatus,
    Offer,
    OutboxMessage,
    OutboxState,
)
from mailflow.routing.offers import route_lead
from mailflow.schedule import run_sweep
from mailflow.web.admin import console_routers
from mailflow.web.admin.lead_queries import LeadFilters, lead_page
from mailflow.web.app import create_app
from support.factories import seed_leads
from support.offers import emails_to, load_installers, new_lead
from support.web import csrf, post, signed_in_client

HEADER = "name,email,phone,postcode,city,country,product,message\n"
MIXED_ROWS = [
    # row 2: fine
    "Claire Dubois,claire@example.fr,+33 1 40 34 70 00,75010,Paris,FR,pv,Appelez-moi",
    # row 3: a duplicate of the lead already in the database (same email and postcode)
    "Jean Martin,jean@example.fr,,69003,Lyon,FR,heat_pump,",
    # row 4: bad email
    "Paul Roux,paul(at)example.fr,,33000,Bordeaux,FR,pv,",
    # row 5: no postcode
    "Zoé Garnier,zoe@example.fr,,,Nantes,FR,pv,",
    # row 6: neither email nor phone
    "Inès Weber,,,13001,Marseille,FR,battery,",
    # row 7: same customer as row 2 (phone, same postcode): a duplicate within the file
    "C. Dubois,,01 40 34 70 00,75010,Paris,FR,pv,",
    # row 8: exactly row 2 again
    "Claire Dubois,claire@example.fr,+33 1 40 34 70 00,75010,Paris,FR,pv,Appelez-moi",
    # row 9: unknown product
    "Hélène Nowak,helene@example.fr,,75011,Paris,FR,windmill,",
    # row 10: fine, German
    "Lukas Schulz,lukas@example.de,030 1234567,10115,Berlin,DE,pv_battery,",
]
EXPECTED = [
    ("created", 2),
    ("duplicate", 3),
    ("rejected", 4),
    ("rejected", 5),
    ("rejected", 6),
    ("duplicate", 7),
    ("already_imported", 8),
    ("rejected", 9),
    ("created", 10),
]


@pytest.fixture
def admin_client(settings, broker):
    with signed_in_client(settings) as client:
        yield client


def lead_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(Lead))


def mixed_csv() -> bytes:
    return (HEADER + "\n".join(MIXED_ROWS) + "\n").encode()


def mixed_xlsx() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER.strip().split(","))
    for line in MIXED_ROWS:
        sheet.append([cell or None for cell in line.split(",")])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# ------------------------------------------------------------------ lead import -------------
@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_lead_import_runs_as_a_job(settings, admin_client, broker, suffix):
    """The same outcomes as the CLI's import (created, duplicate in the database or in the
    file, the same row twice, rejected), counted on the import's page (#19)."""
    load_installers(settings)
    new_lead(settings, postcode="69003", email="jean@example.fr", city="Lyon")
    before = lead_count(settings)
    data = mixed_csv() if suffix == "csv" else mixed_xlsx()
    started = post(
        admin_client,
        "/admin/leads/import",
        files={"file": (f"leads.{suffix}", data, "application/octet-stream")},
        page="/admin/leads/import",
    )
    assert started.status_code == 303, started.text
    import_id = int(started.headers["location"].rsplit("/", 1)[1])
    assert lead_count(settings) == before  # nothing is written in the request
    run_import(import_id, settings)
    page = admin_client.get(f"/admin/imports/{import_id}").text
    rejected = dict(re.findall(r'<li data-row="(\d+)">([^<]*)</li>', page))
    assert sorted(int(r) for r in rejected) == [r for o, r in EXPECTED if o == "rejected"]
    assert "row 4: email &#39;paul(at)example.fr&#39; is not a valid email address" in page
    assert rejected["5"] == "row 5: postcode is missing"
    assert rejected["6"] == "row 6: an email or a phone number is required"
    assert "product &#39;windmill&#39; is not one of" in rejected["9"]
    assert lead_count(settings) == before + 4
    with session_scope(settings) as s:
        job = s.get(ImportJob, import_id)
        assert (job.created, job.duplicate, job.already_imported, job.rejected) == (2, 2, 1, 4)
        imported = list(s.scalars(select(Lead).where(Lead.source == "import").order_by(Lead.id)))
        assert [(lead.customer_name, lead.status) for lead in imported] == [
            ("Claire Dubois", LeadStatus.NEW),
            ("Jean Martin", LeadStatus.DUPLICATE),
            ("C. Dubois", LeadStatus.DUPLICATE),
            ("Lukas Schulz", LeadStatus.NEW),
        ]
        assert imported[1].duplicate_of_id == 1 and imported[2].duplicate_of_id == imported[0].id
        assert imported[3].phone == "+49301234567"
    # The same file again: everything valid was imported before.
    again = post(
        admin_client,
        "/admin/leads/import",
        files={"file": (f"leads.{suffix}", data, "application/octet-stream")},
        page="/admin/leads/import",
    )
    second = int(again.headers["location"].rsplit("/", 1)[1])
    run_import(second, settings)
    with session_scope(settings) as s:
        job = s.get(ImportJob, second)
        assert (job.created, job.duplicate, job.already_imported, job.rejected) == (0, 0, 5, 4)
    assert lead_count(settings) == before + 4


# ------------------------------------------------------------------ exports -----------------
def test_exports_follow_the_filters(settings, admin_client):
    seeded = seed_leads(settings, n=600)
    with session_scope(settings) as s:
        lead = s.get(Lead, seeded[0]["id"])
        lead.message = '=HYPERLINK("http://evil.example")\x01'
        lead.customer_name = 'Zoé "Z" Garnier, Lyon'
    wanted = [
        r["id"]
        for r in sorted(seeded, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        if r["postcode"].startswith("69") and r["status"] == "installed" and not r["archived_at"]
    ]
    csv_export = admin_client.get("/admin/leads/export.csv?postcode=69&status=installed")
    assert csv_export.status_code == 200
    assert csv_export.headers["content-type"].startswith("text/csv")
    assert csv_export.headers["content-disposition"].startswith('attachment; filename="leads-')
    rows = list(csv.DictReader(io.StringIO(csv_export.content.decode("utf-8-sig"))))
    assert [int(r["id"]) for r in rows] == wanted
    header = list(rows[0])
    assert header[: len(EXPORT_COLUMNS)] == list(EXPORT_COLUMNS)
    assert all(h.startswith("details.") for h in header[len(EXPORT_COLUMNS) :])
    everything = admin_client.get("/admin/leads/export.csv?archived=all&sort=id")
    all_rows = list(csv.DictReader(io.StringIO(everything.content.decode("utf-8-sig"))))
    assert [int(r["id"]) for r in all_rows] == sorted(r["id"] for r in seeded)
    first = all_rows[0]
    assert first["message"].startswith("'=HYPERLINK")  # never a formula in a spreadsheet
    assert first["name"] == 'Zoé "Z" Garnier, Lyon'
    assert first["phone"].startswith("+33")  # phone numbers keep their plus

    xlsx = admin_client.get("/admin/leads/export.xlsx?postcode=69&status=installed")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert [h.replace(" (Europe/Paris)", "") for h in values[0]][: len(EXPORT_COLUMNS)] == list(
        EXPORT_COLUMNS
    )
    assert [v[0] for v in values[1:]] == wanted
    full = load_workbook(
        io.BytesIO(admin_client.get("/admin/leads/export.xlsx?archived=all&sort=id").content)
    )
    cell = full.active.cell(row=2, column=list(EXPORT_COLUMNS).index("message") + 1)
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://evil.example")'
    with session_scope(settings) as s:
        exports = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "leads.export")))
    assert len(exports) == 4
    assert exports[0].data == {
        "format": "csv",
        "filters": {"status": "installed", "postcode": "69"},
    }


# ------------------------------------------------------------------ erasure -----------------
def make_raw_inbound(settings, lead_id: int, raw: bytes, *, spill: bool) -> int:
    with session_scope(settings) as s:
        row = InboundMessage(
            channel=Channel.SMTP,
            dedup_key=f"sha256:{uuid.uuid4().hex}",
            message_id=f"<{uuid.uuid4().hex}@x>",
            envelope_from="claire@example.fr",
            size=len(raw),
            raw=None if spill else raw,
            raw_path=blobs.write(settings, raw) if spill else None,
            outcome=InboundOutcome.LEAD,
            lead_id=lead_id,
            parsed={"kind": "lead", "subject": "Devis Claire Dubois"},
        )
        s.add(row)
        s.flush()
        s.get(Lead, lead_id).inbound_id = row.id
        return row.id


def erasure_case(settings, admin_client):
    load_installers(settings)
    first = new_lead(settings)
    second = new_lead(settings, postcode="75011", email="claire@example.fr")  # same customer
    other = new_lead(settings, postcode="69003", email="someone@example.fr", city="Lyon")
    with session_scope(settings) as s:
        route_lead(s, first, now=clock.now(), settings=settings)
        s.get(Lead, other).phone = "+33900000000"
    raw = b"From: claire@example.fr\r\nSubject: Devis\r\n\r\nClaire Dubois, 75010\r\n"
    in_db = make_raw_inbound(settings, first, raw, spill=False)
    on_disk = make_raw_inbound(settings, second, raw + b"x" * 10, spill=True)
    post(admin_client, f"/admin/leads/{first}/notes", {"body": "Claire called back"})
    post(
        admin_client,
        f"/admin/leads/{first}/documents",
        files={"file": ("facture.pdf", b"%PDF bill of Claire", "application/pdf")},
    )
    with session_scope(settings) as s:
        s.add(
            OutboxMessage(
                to="claire@example.fr",
                template="survey",
                subject="Votre avis, Claire",
                body_text="Bonjour Claire Dubois",
                raw=b"raw",
                lead_id=second,
                state=OutboxState.SENT,
            )
        )
    return first, second, other, in_db, on_disk


def assert_erased(settings, first, second, other, in_db, on_disk, by: str):
    with session_scope(settings) as s:
        for lead_id in (first, second):
            lead = s.get(Lead, lead_id)
            assert lead.customer_name == "[erased]" and lead.erased_at is not None
            assert (lead.email, lead.phone, lead.street, lead.message, lead.reachability) == (
                None,
                None,
                None,
                None,
                None,
            )
            # Statistics stay: status, postcode, country, product, figures, offers, timeline.
            assert lead.postcode.startswith("750") and lead.country == "FR"
            assert lead.product == "pv" and lead.details["annual_consumption_kwh"] == 3100
            events = list(s.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id)))
            assert events[0].type == "intake" and events[-1].type == "erased"
            assert events[-1].data == {"by": by}
        assert s.get(Lead, first).status == LeadStatus.OFFERED
        assert s.scalar(select(func.count()).select_from(Offer).where(Offer.lead_id == first)) == 1
        untouched = s.get(Lead, other)
        assert untouched.email == "someone@example.fr" and untouched.erased_at is None
        for inbound_id in (in_db, on_disk):
            row = s.get(InboundMessage, inbound_id)
            assert row.raw is None and row.raw_path is None and row.envelope_from is None
            assert row.parsed == {"kind": "lead", "erased": True}
            assert row.outcome == InboundOutcome.LEAD  # the outcome is a statistic too
        assert not list((settings.data_path / "inbound").rglob("*.eml"))
        assert s.scalar(select(func.count()).select_from(LeadNote)) == 0
        assert s.scalar(select(func.count()).select_from(LeadDocument)) == 0
        assert not list((settings.data_path / "documents").rglob("*"))[1:]
        survey = s.scalar(select(OutboxMessage).where(OutboxMessage.template == "survey"))
        assert survey.to == "erased@erased.invalid" and survey.body_text is None
        assert survey.raw is None and "Claire" not in survey.subject
        for message in s.scalars(select(OutboxMessage).where(OutboxMessage.lead_id == first)):
            assert message.body_text is None and message.body_html is None
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "customer.erase")).one()
        assert entry.actor == by and sorted(entry.data["leads"]) == [first, second]
        assert (
            "claire" not in str(entry.data).lower()
            and "claire" not in (entry.summary or "").lower()
        )
    search.index_pending(settings)

    with session_scope(settings) as s:
        # Only the other customer (also a Claire Dubois) is found by name any more.
        assert [r.id for r in lead_page(s, LeadFilters.parse({"q": "claire"})).rows] == [other]


def test_erase_from_the_lead_page(settings, admin_client):
    first, second, other, in_db, on_disk = erasure_case(settings, admin_client)
    unconfirmed = post(admin_client, f"/admin/leads/{first}/erase", {})
    assert unconfirmed.status_code == 303
    with session_scope(settings) as s:
        assert s.get(Lead, first).erased_at is None
    done = post(admin_client, f"/admin/leads/{first}/erase", {"confirm": "erase"})
    assert done.status_code == 303
    page = admin_client.get(f"/admin/leads/{first}").text
    assert "Customer erased: 2 leads anonymised" in page and "Claire" not in page
    assert 'id="erase-form"' not in page
    assert_erased(settings, first, second, other, in_db, on_disk, by="admin@example.com")
    api = admin_client.get(
        f"/api/leads/{first}", headers={"Authorization": "Bearer test-api-token"}
    )
    assert "claire" not in api.text.lower()


def test_erase_from_the_cli(settings, admin_client):
    first, second, other, in_db, on_disk = erasure_case(settings, admin_client)
    runner = CliRunner()
    refused = runner.invoke(main, ["leads", "erase", "claire@example.fr"], input="n\n")
    assert refused.exit_code != 0
    with session_scope(settings) as s:
        assert s.get(Lead, first).erased_at is None
    result = runner.invoke(main, ["leads", "erase", "CLAIRE@example.fr", "--yes"])
    assert result.exit_code == 0, result.output
    assert "2 leads anonymised" in result.output
    assert_erased(settings, first, second, other, in_db, on_disk, by="cli")
    nobody = runner.invoke(main, ["leads", "erase", "nobody@example.fr", "--yes"])
    assert nobody.exit_code == 0 and "No lead" in nobody.output


# ------------------------------------------------------------------ retention ---------------
def test_retention_purges_old_raw_messages_and_sent_bodies(settings):
    at = clock.now()
    old, recent = at - timedelta(days=400), at - timedelta(days=10)
    raw = b"Subject: x\r\n\r\nbody\r\n"
    with session_scope(settings) as s:
        rows = {}
        for name, received, outcome, spill in (
            ("old", old, InboundOutcome.LEAD, False),
            ("old_file", old, InboundOutcome.QUARANTINED, True),
            ("old_pending", old, InboundOutcome.PENDING, False),
            ("recent", recent, InboundOutcome.LEAD, False),
        ):
            data = raw + name.encode()
            row = InboundMessage(
                channel=Channel.SMTP,
                dedup_key=f"sha256:{uuid.uuid4().hex}",
                size=len(data),
                raw=None if spill else data,
                raw_path=blobs.write(settings, data) if spill else None,
                received_at=received,
                outcome=outcome,
                parsed={
                    "kind": "quarantine",
                    "candidate": {"name": "X"},
                    "subject": "S",
                    "mime_defects": ["a"],
                },
            )
            s.add(row)
            s.flush()
            rows[name] = row.id
        mails = {}
        for name, created, state in (
            ("old_sent", at - timedelta(days=200), OutboxState.SENT),
            ("old_failed", at - timedelta(days=200), OutboxState.FAILED),
            ("recent_sent", at - timedelta(days=5), OutboxState.SENT),
        ):
            message = OutboxMessage(
                to="i@example.com",
                template="offer",
                subject="Nouveau lead",
                body_text="text",
                body_html="<p>html</p>",
                raw=b"mime",
                state=state,
                created_at=created,
            )
            s.add(message)
            s.flush()
            mails[name] = message.id
    assert retention.purge(settings, at) == 3
    with session_scope(settings) as s:
        purged = s.get(InboundMessage, rows["old"])
        assert purged.raw is None and purged.outcome == InboundOutcome.LEAD
        assert purged.parsed == {"kind": "quarantine", "mime_defects": ["a"], "purged": True}
        assert s.get(InboundMessage, rows["old_file"]).raw_path is None
        assert s.get(InboundMessage, rows["old_pending"]).raw is not None
        assert s.get(InboundMessage, rows["recent"]).raw is not None
        sent = s.get(OutboxMessage, mails["old_sent"])
        assert (sent.body_text, sent.body_html, sent.raw) == (None, None, None)
        assert sent.subject == "Nouveau lead" and sent.state == OutboxState.SENT
        assert s.get(OutboxMessage, mails["old_failed"]).body_text == "text"
        assert s.get(OutboxMessage, mails["recent_sent"]).body_text == "text"
    assert len(list((settings.data_path / "inbound").rglob("*.eml"))) == 0
    # Throttled: the next sweep within the hour does nothing; later ones resume after the
    # watermark, and a message that grows old in the meantime is purged then.
    assert retention.purge(settings, at + timedelta(minutes=5)) == 0
    assert retention.purge(settings, at + timedelta(days=356)) == 2
    with session_scope(settings) as s:
        assert s.get(InboundMessage, rows["recent"]).raw is None
        assert s.get(OutboxMessage, mails["recent_sent"]).body_text is None
        assert s.get(InboundMessage, rows["old_pending"]).raw is not None
    # The sweep runs it as a registered job.

    results = run_sweep(settings, at + timedelta(days=400))
    assert results["retention"] >= 0 and results["lead_search"] >= 0


def test_retention_can_be_switched_off(settings, monkeypatch):
    at = clock.now()
    with session_scope(settings) as s:
        s.add(
            InboundMessage(
                channel=Channel.SMTP,
                dedup_key="sha256:x",
                size=3,
                raw=b"abc",
                received_at=at - timedelta(days=4000),
                outcome=InboundOutcome.LEAD,
            )
        )
    off = settings.model_copy(update={"retention_inbound_days": 0, "retention_sent_mail_days": 0})
    assert retention.purge(off, at) == 0
    with session_scope(settings) as s:
        assert s.scalar(select(InboundMessage.raw)) == b"abc"


# ------------------------------------------------------------------ audit -------------------
def test_audit_log_page(settings, admin_client):
    load_installers(settings)
    lead_id = new_lead(settings)
    post(admin_client, f"/admin/leads/{lead_id}/archive")
    post(admin_client, f"/admin/leads/{lead_id}/notes", {"body": "hello"})
    admin_client.get("/admin/leads/export.csv")
    page = admin_client.get("/admin/audit").text
    for action in ("lead.archive", "note.add", "leads.export"):
        assert action in page
    assert f'href="/admin/leads/{lead_id}">lead #{lead_id}</a>' in page
    only = admin_client.get("/admin/audit?action=note.add").text
    assert "note.add" in only and "lead.archive</span>" not in only
    assert "testclient" in page  # where the action came from


# ------------------------------------------------------------------ access rules ------------
def console_routes(method: str) -> list[str]:
    return sorted(
        route.path
        for router in console_routers()
        for route in router.routes
        if isinstance(route, APIRoute) and method in route.methods
    )


# POST routes that change nothing (the export of the lead table's ticked rows: a form, so that
# its token stays out of URLs); every other POST route changes something and is the admin's.
READ_ONLY_POSTS = ("/admin/leads/export.xlsx",)


def fill(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


@pytest.fixture
def objects(settings, broker):
    """One of everything a console route can act on; ids by path parameter name."""
    load_installers(settings)
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        route_lead(s, lead_id, now=clock.now(), settings=settings)
        note = LeadNote(lead_id=lead_id, author="a@example.com", body="note")
        document = LeadDocument(
            lead_id=lead_id,
            filename="a.pdf",
            stored_name="f" * 32,
            size=3,
            sha256="0" * 64,
            uploaded_by="a@example.com",
        )
        installer = s.scalar(select(Installer.id).where(Installer.email.like("info@%")))
        report = LeadReturn(lead_id=lead_id, installer_id=installer, reason="fake")
        s.add_all([note, document, report])
        s.flush()
        upload = b"name,email,postcode\nA,a@example.com,75001\nB,,75001\n"
        job = create_import(
            s, settings, kind="leads", filename="a.csv", data=upload, created_by="a@x"
        )
        return {
            "import_id": job.id,
            "return_id": report.id,
            "lead_id": lead_id,
            "note_id": note.id,
            "document_id": document.id,
            "installer_id": installer,
            "filter_id": 1,  # a saved filter: refused before it is looked up
        }


def snapshot(settings) -> tuple:
    """Everything an action could change."""
    with session_scope(settings) as s:
        return (
            [
                (
                    lead.status,
                    lead.assigned_installer_id,
                    lead.archived_at,
                    lead.spam,
                    lead.customer_name,
                    lead.erased_at,
                )
                for lead in s.scalars(select(Lead).order_by(Lead.id))
            ],
            [(o.status, o.installer_id) for o in s.scalars(select(Offer).order_by(Offer.id))],
            [(i.email, i.active, i.tier, i.capacity) for i in s.scalars(select(Installer))],
            s.scalar(select(func.count()).select_from(LeadNote)),
            s.scalar(select(func.count()).select_from(LeadDocument)),
            s.scalar(select(func.count()).select_from(LeadEvent)),
            s.scalar(select(func.count()).select_from(OutboxMessage)),
        )


FORM = {
    "reason": "because",
    "installer_id": "",
    "body": "a note",
    "confirm": "erase",
    "name": "Changed Name",
    "email": "changed@example.com",
    "country": "FR",
    "postcode": "75001",
    "ref": "x" * 32 + ".csv",
}


def test_no_console_page_is_reachable_signed_out(settings, objects):
    gets, posts = console_routes("GET"), console_routes("POST")
    assert len(gets) >= 15 and len(posts) >= 20
    client = TestClient(create_app())
    for path in gets:
        url = fill(path, objects)
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/admin/login"), url
        assert "Claire" not in response.text
    before = snapshot(settings)
    token = csrf(client)  # an anonymous session's token does not help
    for path in posts:
        url = fill(path, objects)
        data = {**FORM, "installer_id": str(objects["installer_id"]), "csrf_token": token}
        response = client.post(
            url, data=data, files={"file": ("a.csv", b"email\n")}, follow_redirects=False
        )
        assert response.status_code == 403, url
    assert snapshot(settings) == before


def test_a_viewer_sees_every_page_and_changes_nothing(settings, objects):
    document = settings.data_path / "documents" / str(objects["lead_id"])
    document.mkdir(parents=True)
    (document / ("f" * 32)).write_bytes(b"abc")
    with signed_in_client(settings, role="viewer", email="viewer@example.com") as client:
        for path in console_routes("GET"):
            url = fill(path, objects)
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        detail = client.get(f"/admin/leads/{objects['lead_id']}").text
        assert "read-only" in detail and "Claire Dubois" in detail and "note" in detail
        for marker in ('id="assign-form"', 'id="erase-form"', 'id="note-form"', "/delete"):
            assert marker not in detail, marker
        assert 'id="new-installer"' not in client.get("/admin/installers").text
        before = snapshot(settings)
        token = csrf(client, "/admin/pipeline")
        posts = [path for path in console_routes("POST") if path not in READ_ONLY_POSTS]
        for path in READ_ONLY_POSTS:  # a viewer may export the ticked rows: nothing changes
            response = client.post(path, data={"csrf_token": token, "id": "1"})
            assert response.status_code == 200, path
        for path in posts:
            url = fill(path, objects)
            data = {**FORM, "installer_id": str(objects["installer_id"]), "csrf_token": token}
            response = client.post(
                url,
                data=data,
                files={
                    "file": ("leads.csv", HEADER.encode() + b"A,a@example.com,,75001,P,FR,pv,\n")
                },
                follow_redirects=False,
            )
            assert response.status_code == 403, url
            assert "read-only" in response.text, url
        assert snapshot(settings) == before
        with session_scope(settings) as s:
            assert (
                s.scalar(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(AuditEntry.action.not_like("%.export"))
                )
                == 0
            )
    # The same requests from an admin do change things (the list of routes is not empty talk).
    with signed_in_client(settings, email="boss@example.com") as client:
        token = csrf(client, "/admin/pipeline")
        response = client.post(
            fill("/admin/leads/{lead_id}/archive", objects),
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303
    assert snapshot(settings) != before


def test_posts_need_the_session_csrf_token(settings, objects):
    with signed_in_client(settings) as client:
        before = snapshot(settings)
        for path in console_routes("POST"):
            url = fill(path, objects)
            response = client.post(
                url, data={**FORM, "csrf_token": "forged"}, follow_redirects=False
            )
            assert response.status_code == 403, url
        assert snapshot(settings) == before
        assert emails_to(settings, "info@sud-energie.example") == []
