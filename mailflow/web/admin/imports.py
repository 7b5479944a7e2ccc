"""Import previews: what an import file would do, row by row, without writing anything.

The commit then runs the very import the CLI runs (``mailflow leads import`` /
``mailflow installers import``), so the preview and the result use the same rules:
a lead row is created, a duplicate (same customer and postcode within the window, in the
database or earlier in the file), already imported (the same row came before), or rejected with
the reason; an installer row creates or updates the installer with that email, or is rejected.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.intake.schema import LeadIn, error_map
from mailflow.installers.io import COLUMNS as INSTALLER_COLUMNS
from mailflow.installers.io import InstallerRow
from mailflow.leads.io import row_to_payload
from mailflow.leads.service import find_original
from mailflow.models import InboundMessage, Installer
from mailflow.private_files import open_private, private_dir
from mailflow.tabular import read_rows

SUFFIXES = (".csv", ".xlsx")
MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
CHUNK = 200
UPLOAD_LIFETIME = timedelta(hours=6)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass
class PreviewRow:
    row: int
    outcome: str  # created | duplicate | already_imported | rejected (leads); created | updated | rejected (installers)
    label: str = ""
    reason: str | None = None


@dataclass
class Preview:
    kind: str
    rows: list[PreviewRow] = field(default_factory=list)
    error: str | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def outcomes(self) -> list[tuple[str, int]]:
        names = (
            ("created", "duplicate", "already_imported", "rejected")
            if self.kind == "leads"
            else ("created", "updated", "rejected")
        )
        return [(name, self.count(name)) for name in names]

    @property
    def writable(self) -> int:
        return sum(1 for r in self.rows if r.outcome not in ("rejected", "already_imported"))


def preview_leads(path: Path, settings: Settings) -> Preview:
    preview = Preview("leads")
    at = now()
    seen_keys: dict[str, int] = {}
    seen_customers: list[tuple[int, str | None, str | None, str]] = []
    rows = iter(read_rows(path))
    while len(preview.rows) < MAX_ROWS:
        # Short read transactions (SQLite's lock is the intake's too), CHUNK rows each.
        chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
        if not chunk:
            break
        with session_scope(settings) as session:
            for number, raw in chunk:
                preview.rows.append(
                    _preview_lead_row(session, settings, at, number, raw, seen_keys, seen_customers)
                )
            session.rollback()  # nothing is written
    else:
        if next(rows, None) is not None:
            preview.error = f"Only the first {MAX_ROWS} rows are shown."
    return preview


def _preview_lead_row(
    session, settings: Settings, at, number: int, raw: dict, seen_keys: dict, seen_customers: list
) -> PreviewRow:
    payload = row_to_payload(raw)
    try:
        lead_in = LeadIn.model_validate(
            payload, context={"default_country": settings.default_country}
        )
    except ValidationError as exc:
        reason = "; ".join(f"{k}: {v}" for k, v in error_map(exc).items())
        name = (payload.get("customer") or {}).get("name") or ""
        return PreviewRow(number, "rejected", str(name)[:80], reason)
    customer = lead_in.customer
    label = f"{customer.name} · {customer.postcode} {customer.city or ''}".strip()
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    key = "import:" + hashlib.sha256(body).hexdigest()
    known = session.scalar(select(InboundMessage.lead_id).where(InboundMessage.dedup_key == key))
    if known is not None:
        return PreviewRow(
            number, "already_imported", label, f"the same row was imported before (lead {known})"
        )
    if key in seen_keys:
        return PreviewRow(number, "already_imported", label, f"the same as row {seen_keys[key]}")
    seen_keys[key] = number
    original = find_original(session, lead_in, now=at, window_days=settings.duplicate_window_days)
    if original is not None:
        return PreviewRow(number, "duplicate", label, f"duplicate of lead {original.id}")
    earlier = next(
        (
            row
            for row, email, phone, postcode in seen_customers
            if postcode == customer.postcode
            and ((email and email == customer.email) or (phone and phone == customer.phone))
        ),
        None,
    )
    seen_customers.append((number, customer.email, customer.phone, customer.postcode))
    if earlier is not None:
        return PreviewRow(number, "duplicate", label, f"duplicate of row {earlier}")
    return PreviewRow(number, "created", label)


def preview_installers(path: Path, settings: Settings) -> Preview:
    preview = Preview("installers")
    with session_scope(settings) as session:
        existing = set(session.scalars(select(Installer.email)))
    seen: dict[str, int] = {}
    for number, raw in read_rows(path):
        if len(preview.rows) >= MAX_ROWS:
            preview.error = f"Only the first {MAX_ROWS} rows are shown."
            break
        data = {k: v for k, v in raw.items() if k in (*INSTALLER_COLUMNS, "phone") and v != ""}
        try:
            row = InstallerRow.model_validate(data)
        except ValidationError as exc:
            reason = "; ".join(f"{k}: {v}" for k, v in error_map(exc).items())
            preview.rows.append(PreviewRow(number, "rejected", raw.get("email", "")[:80], reason))
            continue
        label = f"{row.email} · {row.name} · {row.country} {row.postcodes}".strip()
        if row.email in existing:
            preview.rows.append(PreviewRow(number, "updated", label, "already an installer"))
        elif row.email in seen:
            preview.rows.append(
                PreviewRow(
                    number, "updated", label, f"also in row {seen[row.email]}: this row wins"
                )
            )
        else:
            preview.rows.append(PreviewRow(number, "created", label))
        seen.setdefault(row.email, number)
    return preview


# ------------------------------------------------------------------ stored uploads ----------
def uploads_dir(settings: Settings) -> Path:
    return settings.data_path / "imports"


def store_upload(settings: Settings, data: bytes, suffix: str) -> str:
    """Keep an uploaded import file until it is committed (or expires); returns its token."""
    directory = uploads_dir(settings)
    private_dir(directory)
    cutoff = now() - UPLOAD_LIFETIME
    for old in directory.iterdir():
        try:
            if old.stat().st_mtime < cutoff.timestamp():
                old.unlink()
        except OSError:
            pass
    token = secrets.token_urlsafe(24)
    with open_private(directory / f"{token}{suffix}", exclusive=True) as out:
        out.write(data)
    return token + suffix


def stored_upload(settings: Settings, ref: str) -> Path | None:
    token, dot, suffix = (ref or "").partition(".")
    if not _TOKEN.match(token) or f"{dot}{suffix}" not in SUFFIXES:
        return None
    path = uploads_dir(settings) / f"{token}.{suffix}"
    return path if path.is_file() else None
