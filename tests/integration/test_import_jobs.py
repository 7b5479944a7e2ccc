"""Imports as background jobs (#19): the upload is stored and queued, a Dramatiq worker runs
it in batches committed with the progress counter, the page follows it (reloading itself) and
ends with a summary and the rejected rows as CSV and XLSX, with reasons an admin can read. A
run that stops half-way resumes where it stopped and imports no row twice."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import dramatiq
import pytest
from dramatiq import Message
from openpyxl import load_workbook
from sqlalchemy import func, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.intake.row_problems import describe
from mailflow.leads import imports
from mailflow.models import AuditEntry, ImportJob, ImportRejection, Installer, Lead
from support.offers import load_installers
from support.web import post, signed_in_client

HEADER = ["name", "email", "phone", "postcode", "city", "country", "product", "message"]
# (row, cells, the reason an admin reads) — None: the row is imported.
ROWS = [
    (["Claire Dubois", "claire@example.fr", "+33 1 40 34 70 00", "75010", "Paris", "FR", "pv", ""], None),
    (["Paul Roux", "paul(at)example.fr", "", "33000", "Bordeaux", "FR", "pv", ""], "email 'paul(at)example.fr' is not a valid email address"),
    (["Zoé Garnier", "zoe@example.fr", "", "", "Nantes", "FR", "pv", ""], "postcode is missing"),
    (["Inès Weber", "", "", "13001", "Marseille", "FR", "battery", ""], "an email or a phone number is required"),
    (["Hélène Nowak", "helene@example.fr", "", "75011", "Paris", "FR", "windmill", ""], "product 'windmill' is not one of: pv, heat_pump, battery, pv_battery"),
    (["Marc Petit", "marc@example.fr", "", "7501", "Paris", "FR", "pv", ""], "postcode '7501' is not a valid postcode for FR"),
    (["Lukas Schulz", "lukas@example.de", "030 1234567", "10115", "Berlin", "DE", "pv_battery", ""], None),
    (["Anna Kowalska", "anna@example.pl", "12", "00-950", "Warszawa", "PL", "pv", ""], "phone '12' is not a valid phone number for PL"),
]  # fmt: skip


def file_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def expected_reasons(rows) -> dict[int, str]:
    return {i + 2: f"row {i + 2}: {reason}" for i, (_, reason) in enumerate(rows) if reason}


@pytest.fixture
def admin_client(settings, broker):
    with signed_in_client(settings) as client:
        yield client


def lead_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(Lead))


def progress_of(html: str) -> tuple[int, int] | None:
    match = re.search(r'<progress id="import-progress" value="(\d+)" max="(\d+)"', html)
    return (int(match[1]), int(match[2])) if match else None


def test_upload_queues_a_job_the_worker_runs_it_and_the_page_follows(
    settings, admin_client, broker
):
    load_installers(settings)
    response = post(
        admin_client,
        "/admin/leads/import",
        files={"file": ("leads.csv", file_bytes([r for r, _ in ROWS]), "text/csv")},
        page="/admin/leads/import",
    )
    assert response.status_code == 303
    url = response.headers["location"]
    import_id = int(url.rsplit("/", 1)[1])
    assert url == f"/admin/imports/{import_id}"
    (message,) = [Message.decode(m) for m in list(broker.queues["data"].queue)]
    assert (message.actor_name, tuple(message.args)) == ("run_import", (import_id,))
    waiting = admin_client.get(url).text
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "Waiting for a worker" in waiting and "leads.csv" in waiting
    assert lead_count(settings) == 0  # nothing is imported in the request
    listed = admin_client.get("/admin/imports").text
    assert f'href="/admin/imports/{import_id}"' in listed

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join("data", fail_fast=True, timeout=60_000)
        worker.join()
    finally:
        worker.stop()
    page = admin_client.get(url).text
    assert "http-equiv" not in page  # finished: the page stops reloading
    assert progress_of(page) == (len(ROWS), len(ROWS))
    cards = dict(
        re.findall(
            r'data-outcome="(\w+)">\s*<div class="label">[^<]*</div>\s*<div class="value">(\d+)',
            page,
        )
    )
    assert cards == {"created": "2", "duplicate": "0", "already_imported": "0", "rejected": "6"}
    for reason in expected_reasons(ROWS).values():
        assert reason.replace("'", "&#39;") in page
    assert lead_count(settings) == 2
    with session_scope(settings) as s:
        job = s.get(ImportJob, import_id)
        assert (job.status, job.rows_done, job.total_rows, job.created, job.rejected) == (
            "done", len(ROWS), len(ROWS), 2, 6,
        )  # fmt: skip
        assert job.stored_name and not (settings.data_path / job.stored_name).exists()
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "leads.import")).one()
        assert entry.data == {"file": "leads.csv", "import": import_id}

    # The rejected rows, exactly: the file's columns, then the reason.
    download = admin_client.get(f"{url}/rejected.csv")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        f'attachment; filename="import-{import_id}-rejected.csv"'
    )
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == [*HEADER, "reason"]
    wanted = [cells + [expected_reasons(ROWS)[i + 2]] for i, (cells, r) in enumerate(ROWS) if r]
    assert rows[1:] == wanted
    sheet = load_workbook(io.BytesIO(admin_client.get(f"{url}/rejected.xlsx").content)).active
    values = [
        [c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert values[0] == [*HEADER, "reason"] and values[1:] == wanted
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:I{len(wanted) + 1}"


def test_a_file_that_cannot_be_read_is_refused_at_once(settings, admin_client, broker):
    for name, content, status, text in [
        ("leads.txt", b"name\nx\n", 400, "must be a .csv or .xlsx file"),
        ("leads.xlsx", b"not a zip", 400, "The file cannot be read"),
        ("leads.csv", b"name,email\n", 400, "no data rows"),
    ]:
        response = post(
            admin_client,
            "/admin/leads/import",
            files={"file": (name, content, "application/octet-stream")},
            page="/admin/leads/import",
        )
        assert response.status_code == status, name
        assert text in response.text, name
    assert broker.queues["data"].empty()
    assert list((settings.data_path / "imports").iterdir()) == []


def test_a_run_that_stops_half_way_resumes_without_duplicates(settings, broker, monkeypatch):
    # 4 batches of rows; every 5th row is rejected (no email nor phone).
    count = imports.BATCH * 3 + 7
    rows = [
        [f"Client {i}", "" if i % 5 == 0 else f"client{i}@example.fr", "", f"{75001 + i % 20}",
         "Paris", "FR", "pv", f"row {i}"]
        for i in range(count)
    ]  # fmt: skip
    rejected_rows = {i + 2 for i in range(count) if i % 5 == 0}
    with session_scope(settings) as s:
        job = imports.create_import(
            s, settings, kind="leads", filename="big.csv", data=file_bytes(rows), created_by="a@x"
        )
        import_id = job.id
    broker.flush_all()
    real = imports.import_lead_row
    crash_at = imports.BATCH * 2 + 10  # a data row in the third batch

    def crashing(session, settings_, number, raw):
        if number - 1 == crash_at:
            raise RuntimeError("the worker died")
        return real(session, settings_, number, raw)

    monkeypatch.setattr(imports, "import_lead_row", crashing)
    with pytest.raises(RuntimeError):
        imports.run_import(import_id, settings)
    with session_scope(settings) as s:
        job = s.get(ImportJob, import_id)
        assert job.rows_done == imports.BATCH * 2  # two batches committed, the third not
        assert job.status == "running" and "the worker died" in job.error
        committed = imports.BATCH * 2 - sum(1 for r in rejected_rows if r - 2 < imports.BATCH * 2)
        assert job.created == committed
    assert lead_count(settings) == committed

    monkeypatch.setattr(imports, "import_lead_row", real)
    seen = []
    imports.run_import(import_id, settings, progress=lambda done, total: seen.append(done))
    assert seen == [imports.BATCH * 3, count]
    imports.run_import(import_id, settings)  # a message delivered twice: nothing more happens
    with session_scope(settings) as s:
        job = s.get(ImportJob, import_id)
        assert (job.status, job.rows_done, job.created, job.rejected) == (
            "done", count, count - len(rejected_rows), len(rejected_rows),
        )  # fmt: skip
        leads = list(s.scalars(select(Lead.message)))
        assert len(leads) == len(set(leads)) == count - len(rejected_rows)
        rejected = list(s.scalars(select(ImportRejection.row).order_by(ImportRejection.row)))
        assert rejected == sorted(rejected_rows)


def test_a_stalled_import_is_sent_again_by_the_sweep(settings, broker):
    with session_scope(settings) as s:
        job = imports.create_import(
            s, settings, kind="installers", filename="i.csv",
            data=b"email,name,country\na@example.com,A,FR\n", created_by="a@x",
        )  # fmt: skip
        import_id = job.id
    broker.flush_all()
    assert imports.resume_stalled_imports(settings, clock.now()) == 0
    later = clock.now() + imports.STALLED_AFTER + timedelta(seconds=1)
    assert imports.resume_stalled_imports(settings, later) == 1
    (message,) = [Message.decode(m) for m in list(broker.queues["data"].queue)]
    assert tuple(message.args) == (import_id,)
    imports.run_import(import_id, settings)
    with session_scope(settings) as s:
        assert s.get(ImportJob, import_id).status == "done"
        assert s.scalar(select(Installer.name).where(Installer.email == "a@example.com")) == "A"


def test_installer_import_job_reports_readable_reasons(settings, broker):
    data = (
        b"email,name,company,language,country,timezone,postcodes,tier,capacity\n"
        b"ok@x.example,Ok,,fr,FR,Europe/Paris,75,gold,3\n"
        b"tz@x.example,Bad TZ,,fr,FR,Mars/Olympus,75,gold,3\n"
        b"tier@x.example,Bad tier,,fr,FR,Europe/Paris,75,platinum,3\n"
        b"cap@x.example,Bad cap,,fr,FR,Europe/Paris,75,gold,many\n"
    )
    with session_scope(settings) as s:
        import_id = imports.create_import(
            s, settings, kind="installers", filename="i.csv", data=data, created_by="a@x"
        ).id
    imports.run_import(import_id, settings)
    with session_scope(settings) as s:
        job = s.get(ImportJob, import_id)
        assert (job.created, job.updated, job.rejected) == (1, 0, 3)
        reasons = [r.reasons for r in imports.rejections(s, import_id)]
    assert [describe(r[0]) for r in reasons] == [
        "time zone 'Mars/Olympus' is unknown (write it like Europe/Paris)",
        "tier 'platinum' is not one of: bronze, silver, gold",
        "capacity 'many' is not a whole number",
    ]
