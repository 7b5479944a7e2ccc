"""Lead exports as people use them (#19): an XLSX with a frozen, auto-filtered header row, dates
as date cells (in MAILFLOW_ADMIN_TIME_ZONE, named in the header), numbers as
numbers, each detail in its own column, column widths set; the selection (``id=``) and the
column choice (``column=``, in that order) of the lead table, in CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from mailflow import clock
from mailflow.db import session_scope
from mailflow.leads.export_columns import COLUMNS
from mailflow.models import Lead
from support.offers import load_installers, new_lead
from support.web import signed_in_client

PARIS = "Europe/Paris"  # MAILFLOW_ADMIN_TIME_ZONE's default


@pytest.fixture
def admin_client(settings, broker):
    with signed_in_client(settings) as client:
        yield client


@pytest.fixture
def leads(settings):
    """Three leads with known dates and details (one with a number given as text)."""
    load_installers(settings)
    base = clock.now().replace(microsecond=0) - timedelta(days=3)
    made = []
    for i, (postcode, details) in enumerate(
        [
            ("75010", {"annual_consumption_kwh": 3100, "roof": "south"}),
            ("69003", {"annual_consumption_kwh": "4200", "household_size": 4}),
            ("13001", {"storage_interest": True}),
        ]
    ):
        lead_id = new_lead(settings, postcode=postcode, email=f"c{i}@example.fr")
        with session_scope(settings) as s:
            lead = s.get(Lead, lead_id)
            lead.details = details
            lead.created_at = base + timedelta(hours=i, minutes=7)
        made.append((lead_id, base + timedelta(hours=i, minutes=7), details))
    return made


def sheet_of(response):
    assert response.status_code == 200, response.text
    return load_workbook(io.BytesIO(response.content)).active


def test_xlsx_has_a_frozen_filtered_header_dates_numbers_and_detail_columns(admin_client, leads):
    sheet = sheet_of(admin_client.get("/admin/leads/export.xlsx?sort=id"))
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    details = [
        "details.annual_consumption_kwh",
        "details.household_size",
        "details.roof",
        "details.storage_interest",
    ]
    assert header == [
        *(f"{k} ({PARIS})" if COLUMNS[k].is_date else k for k in COLUMNS),
        *details,
    ]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}4"
    assert sheet.column_dimensions["A"].width == COLUMNS["id"].width
    assert sheet.column_dimensions["I"].width == COLUMNS["name"].width  # name is the 9th
    records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    for record, (lead_id, created, given) in zip(records, leads, strict=True):
        assert record["id"] == lead_id and isinstance(record["id"], int)
        # The admin's wall clock (default Europe/Paris), as a date cell without a zone.
        paris = created.astimezone(ZoneInfo(PARIS)).replace(tzinfo=None)
        assert record[f"created_at ({PARIS})"] == paris
        for key in ("annual_consumption_kwh", "household_size", "roof", "storage_interest"):
            value = given.get(key)
            expected = int(value) if isinstance(value, str) and value.isdigit() else value
            assert record[f"details.{key}"] == expected, key
    assert isinstance(records[1]["details.annual_consumption_kwh"], int)  # "4200" → 4200
    assert records[2]["details.storage_interest"] is True
    created_cell = sheet.cell(2, header.index(f"created_at ({PARIS})") + 1)
    assert created_cell.is_date and created_cell.number_format == "yyyy-mm-dd hh:mm"
    assert records[0]["phone"] == "+33140347000"  # text stays text


def test_selection_and_column_choice(admin_client, leads):
    first, _, third = (lead_id for lead_id, _, _ in leads)
    query = (
        f"id={third}&id={first}&id=nonsense&id=99999"
        "&column=postcode&column=id&column=details.annual_consumption_kwh"
        "&column=created&column=bogus&column=contact&sort=id"
    )
    rows = list(csv.reader(io.StringIO(admin_client.get(f"/admin/leads/export.csv?{query}").text)))
    wanted = ["postcode", "id", "details.annual_consumption_kwh", "created_at", "email", "phone"]
    assert rows[0] == ["\ufeff" + wanted[0], *wanted[1:]]
    assert [(r[0], int(r[1]), r[2]) for r in rows[1:]] == [
        ("75010", first, "3100"),
        ("13001", third, ""),
    ]
    assert rows[1][3] == clock.iso(leads[0][1])

    sheet = sheet_of(admin_client.get(f"/admin/leads/export.xlsx?{query}"))
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == [
        "postcode",
        "id",
        "details.annual_consumption_kwh",
        f"created_at ({PARIS})",
        "email",
        "phone",
    ]
    assert [v[:3] for v in values[1:]] == [("75010", first, 3100), ("13001", third, None)]
    assert sheet.auto_filter.ref == "A1:F3"

    # The selection keeps the list's filters: only the selected leads that match them.
    filtered = admin_client.get(f"/admin/leads/export.csv?id={first}&id={third}&postcode=13")
    ids = [int(r["id"]) for r in csv.DictReader(io.StringIO(filtered.content.decode("utf-8-sig")))]
    assert ids == [third]
    # A selection of nothing valid exports nothing (not everything).
    empty = admin_client.get("/admin/leads/export.csv?id=0&id=x")
    assert empty.status_code == 200 and len(empty.content.decode("utf-8-sig").splitlines()) == 1
