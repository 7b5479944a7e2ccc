"""Installers CSV/XLSX in the format of PRODUCT.md §11:
``email,name,company,language,country,timezone,postcodes,tier,capacity``, and optionally
``cap_day,cap_week,cap_month`` (leads per day, week, month in the installer's time zone; empty
= no cap; a file without these columns leaves the caps as they are), and ``working_hours``
(e.g. ``mon-fri 08:00-18:00`` in the installer's time zone; empty = MAILFLOW_WORKING_HOURS;
a file without the column leaves them as they are)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.calendar import parse_working_hours
from mailflow.domain.intake.row_problems import (
    UNREADABLE,
    describe_row,
    problem,
    problems_from_errors,
)
from mailflow.domain.intake.schema import normalise_email
from mailflow.models import Installer
from mailflow.tabular import read_rows, write_rows

COLUMNS = [
    "email",
    "name",
    "company",
    "language",
    "country",
    "timezone",
    "postcodes",
    "tier",
    "capacity",
    "cap_day",
    "cap_week",
    "cap_month",
    "working_hours",
]
CAPS = ("cap_day", "cap_week", "cap_month")


def working_hours_cell(raw: dict) -> str | None:
    """The optional ``working_hours`` column, normalised (ValueError if it does not parse).
    Read apart from ``InstallerRow``, so that forms without it leave the stored hours alone."""
    value = (raw.get("working_hours") or "").strip()
    return str(parse_working_hours(value)) if value else None


TIERS = ("bronze", "silver", "gold")


class InstallerRow(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    email: str
    name: str = Field(min_length=1)
    company: str | None = None
    language: str = "en"
    country: str = Field(min_length=2, max_length=2)
    timezone: str = "UTC"
    postcodes: str = ""
    tier: str = "bronze"
    capacity: int = Field(10, ge=0)
    cap_day: int | None = Field(None, ge=0)
    cap_week: int | None = Field(None, ge=0)
    cap_month: int | None = Field(None, ge=0)
    phone: str | None = None  # optional extra column, shown to customers with site visits

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value).lower()

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        return (value or "en").lower()[:2]

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value or "UTC"

    @field_validator("postcodes")
    @classmethod
    def _postcodes(cls, value: str) -> str:
        return " ".join(p.upper() for p in value.replace(",", " ").replace(";", " ").split())

    @field_validator("tier")
    @classmethod
    def _tier(cls, value: str) -> str:
        value = (value or "bronze").lower()
        if value not in TIERS:
            raise ValueError("tier must be bronze, silver or gold")
        return value


@dataclass
class RowResult:
    row: int
    outcome: str  # created | updated | rejected
    email: str | None = None
    reason: str | None = None
    problems: list[dict] = field(default_factory=list)  # why it was rejected (row_problems)


@dataclass
class Report:
    rows: list[RowResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def rejected(self) -> int:
        return self.count("rejected")

    def summary(self) -> str:
        return (
            f"{self.count('created')} created, {self.count('updated')} updated, "
            f"{self.rejected} rejected"
        )


def import_installer_row(session: Session, number: int, raw: dict[str, str]) -> RowResult:
    """One row, in the caller's transaction: the installer with that email is created or
    updated (so importing a row twice changes nothing the second time)."""
    data = {k: v for k, v in raw.items() if k in (*COLUMNS, "phone") and v != ""}
    try:
        row = InstallerRow.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_errors(exc.errors(), data)
        return RowResult(
            number, "rejected", raw.get("email"), describe_row(number, problems), problems
        )
    try:
        hours = working_hours_cell(raw)
    except ValueError as bad_hours:
        value = raw.get("working_hours", "")
        problems = [problem(UNREADABLE, field="working_hours", value=value, detail=str(bad_hours))]
        return RowResult(
            number, "rejected", raw.get("email"), describe_row(number, problems), problems
        )
    installer = session.scalar(select(Installer).where(Installer.email == row.email))
    outcome = "updated"
    if installer is None:
        installer = Installer(email=row.email, created_at=now())
        session.add(installer)
        outcome = "created"
    for key, value in row.model_dump().items():
        if key in CAPS and key not in raw:
            continue  # an older file without the caps leaves them as they are
        setattr(installer, key, value)
    if "working_hours" in raw:
        installer.working_hours = hours
    installer.updated_at = now()
    session.flush()
    return RowResult(number, outcome, row.email)


def import_installers(
    path: Path, settings: Settings, progress: Callable[[int], None] | None = None
) -> Report:
    report = Report()
    with session_scope(settings) as session:
        for number, raw in read_rows(path):
            report.rows.append(import_installer_row(session, number, raw))
            if progress is not None:
                progress(len(report.rows))
    return report


def export_row(installer: Installer) -> list:
    """One installer under ``COLUMNS`` (the CLI's and the admin pages' exports)."""
    return [
        installer.email,
        installer.name,
        installer.company,
        installer.language,
        installer.country,
        installer.timezone,
        installer.postcodes,
        installer.tier,
        installer.capacity,
        installer.cap_day,
        installer.cap_week,
        installer.cap_month,
        installer.working_hours,
    ]


def export_installers(path: Path, settings: Settings) -> int:
    with session_scope(settings) as session:
        installers = session.scalars(select(Installer).order_by(Installer.email))
        return write_rows(path, COLUMNS, map(export_row, installers), title="Installers")
