"""`mailflow installers import|export` and `mailflow leads import|export` through the CLI."""

from __future__ import annotations

import csv

from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from mailflow.cli import main
from mailflow.db import session_scope
from mailflow.models import Installer, Lead, LeadStatus
from support.paths import CORPUS


def run_cli(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_corpus_installers_import_and_round_trip(settings, tmp_path):
    result = run_cli("installers", "import", str(CORPUS / "installers.csv"))
    assert result.exit_code == 0, result.output
    assert "7 created, 0 updated, 0 rejected" in result.output
    with session_scope(settings) as s:
        soleil = s.scalar(
            select(Installer).where(Installer.email == "contact@soleil-paris.example")
        )
        assert soleil.postcode_prefixes == ["75", "92", "93", "94"]
        assert (soleil.tier, soleil.capacity, soleil.timezone) == ("gold", 20, "Europe/Paris")
        sachsen = s.scalar(
            select(Installer).where(Installer.email == "anfrage@sachsen-solar.example")
        )
        assert sachsen.postcode_prefixes == ["04", "01", "09"]  # leading zeros kept
    # Again: the same rows update, nothing doubles.
    assert (
        "0 created, 7 updated"
        in run_cli("installers", "import", str(CORPUS / "installers.csv")).output
    )
    for suffix in ("csv", "xlsx"):
        out = tmp_path / f"installers.{suffix}"
        assert run_cli("installers", "export", str(out)).exit_code == 0
        if suffix == "csv":
            rows = list(csv.DictReader(out.open()))
            # The corpus file has no caps: exported as empty columns (no cap).
            caps = {"cap_day": "", "cap_week": "", "cap_month": "", "working_hours": ""}
            original = [{**r, **caps} for r in csv.DictReader((CORPUS / "installers.csv").open())]
            assert sorted(rows, key=lambda r: r["email"]) == sorted(
                original, key=lambda r: r["email"]
            )
        else:
            sheet = load_workbook(out).active
            header = [c.value for c in sheet[1]]
            assert header[:2] == ["email", "name"] and sheet.max_row == 8


def test_installer_rows_with_errors_are_reported(settings, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "email,name,company,language,country,timezone,postcodes,tier,capacity\n"
        "ok@x.example,Ok,,fr,FR,Europe/Paris,75,gold,3\n"
        "not-an-email,Bad,,fr,FR,Europe/Paris,75,gold,3\n"
        "tz@x.example,Bad TZ,,fr,FR,Mars/Olympus,75,gold,3\n"
        "tier@x.example,Bad tier,,fr,FR,Europe/Paris,75,platinum,3\n"
    )
    result = run_cli("installers", "import", str(path))
    assert result.exit_code == 1
    assert "row 3: rejected" in result.output and "email" in result.output
    assert "row 4: rejected" in result.output and "Mars/Olympus" in result.output
    assert "row 5: rejected" in result.output and "tier" in result.output
    with session_scope(settings) as s:
        assert [i.email for i in s.scalars(select(Installer))] == ["ok@x.example"]


def test_leads_import_reports_each_row(settings, tmp_path):
    path = tmp_path / "leads.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(
        [
            "name",
            "email",
            "phone",
            "street",
            "postcode",
            "city",
            "country",
            "product",
            "annual_consumption_kwh",
            "storage_interest",
        ]
    )
    sheet.append(
        [
            "Jonas Hartmann",
            "j.hartmann@example.de",
            "0341 14065515",
            "Härtelstraße 32",
            "04107",
            "Leipzig",
            "DE",
            "pv",
            3800,
            "yes",
        ]
    )
    sheet.append(["No Contact", None, None, None, "75001", "Paris", "FR", None, None, None])
    sheet.append(
        [
            "Jonas Hartmann",
            "j.hartmann@example.de",
            None,
            None,
            "04107",
            "Leipzig",
            "DE",
            "pv",
            None,
            None,
        ]
    )
    sheet.append(
        ["Bad Product", "x@example.fr", None, None, "75001", "Paris", "FR", "nuclear", None, None]
    )
    book.save(path)
    result = run_cli("leads", "import", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("row 2: created lead")
    assert lines[1].startswith("row 3: rejected") and "email or a phone" in lines[1]
    assert lines[2].startswith("row 4: duplicate") and "duplicate of lead" in lines[2]
    assert lines[3].startswith("row 5: rejected") and "product" in lines[3]
    with session_scope(settings) as s:
        leads = list(s.scalars(select(Lead).order_by(Lead.id)))
    assert [lead.status for lead in leads] == [LeadStatus.NEW, LeadStatus.DUPLICATE]
    first = leads[0]
    assert (first.postcode, first.phone, first.source) == ("04107", "+4934114065515", "import")
    assert first.details == {"annual_consumption_kwh": 3800, "storage_interest": True}
    # Importing the same file again creates nothing new.
    again = run_cli("leads", "import", str(path))
    assert "0 created" in again.output and "2 already imported" in again.output

    out = tmp_path / "export.csv"
    assert run_cli("leads", "export", str(out)).exit_code == 0
    exported = list(csv.DictReader(out.open()))
    assert [r["status"] for r in exported] == ["new", "duplicate"]
    assert exported[0]["postcode"] == "04107" and exported[1]["duplicate_of"] == str(first.id)


def test_working_hours_column_is_imported_checked_and_kept_when_absent(settings, tmp_path):
    header = "email,name,country,timezone,postcodes,tier,capacity"
    with_hours = tmp_path / "hours.csv"
    with_hours.write_text(
        f"{header},working_hours\n"
        "early@x.example,Early,FR,Europe/Paris,75,gold,3,Mon-Sat 07:00-15:30\n"
        "none@x.example,Default,FR,Europe/Paris,75,gold,3,\n"
        "bad@x.example,Bad,FR,Europe/Paris,75,gold,3,all day long\n"
    )
    result = run_cli("installers", "import", str(with_hours))
    assert "row 4: rejected" in result.output and "working hours" in result.output
    without = tmp_path / "older.csv"
    without.write_text(f"{header}\nearly@x.example,Early,FR,Europe/Paris,75,silver,3\n")
    assert "1 updated" in run_cli("installers", "import", str(without)).output
    with session_scope(settings) as s:
        hours = dict(s.execute(select(Installer.email, Installer.working_hours)).all())
    assert hours == {
        "early@x.example": "mon-sat 07:00-15:30",  # kept by the older file
        "none@x.example": None,  # empty: MAILFLOW_WORKING_HOURS
    }
    out = tmp_path / "export.csv"
    run_cli("installers", "export", str(out))
    rows = {r["email"]: r["working_hours"] for r in csv.DictReader(out.open())}
    assert rows == {"early@x.example": "mon-sat 07:00-15:30", "none@x.example": ""}
