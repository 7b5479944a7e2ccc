"""The bad-lead report card of the dashboard's lead page (#20) and the form reading shared
with the report link of the acceptance email (:mod:`mailflow.web.links.returns`). The rules are
in :mod:`mailflow.domain.returns`, the use case in :mod:`mailflow.leads.returns`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain import returns as rules
from mailflow.i18n import pick_language
from mailflow.leads import returns
from mailflow.models import Installer, Lead
from mailflow.web.dashboard.common import _t, _tz, _when


def reasons(language: str) -> list[tuple[str, str]]:
    return [(key, _t(language, rules.REASON_LABELS[key])) for key in rules.REASONS]


def refusal_text(refused: rules.ReportRefused, language: str) -> str:
    return _t(language, rules.REFUSALS[refused.code], **refused.values)


def read_form(form: dict) -> tuple[str, int | None, str]:
    """(reason, attempts or None, note) from a report form; odd values become refusals."""
    reason = str(form.get("reason") or "").strip()
    raw = str(form.get("attempts") or "").strip()
    attempts = int(raw) if raw.isdigit() and len(raw) < 4 else None
    return reason, attempts, str(form.get("note") or "")[: returns.NOTE_LIMIT]


def report_box(
    session: Session, lead: Lead, installer: Installer, at: datetime, settings: Settings
) -> dict | None:
    """What the lead page shows about reporting it: the report made, or the form while the
    window is open, or nothing."""
    language, tz = pick_language(installer.language), _tz(installer)
    made = returns.report_of(session, lead.id, installer.id)
    if made is not None:
        return {
            "status": made.state,
            "text": _t(language, rules.STATUS_LABELS[made.state]),
            "reason": _t(language, rules.REASON_LABELS.get(made.reason, made.reason)),
        }
    if lead.status not in rules.REPORTABLE or lead.accepted_at is None:
        return None
    until = rules.window_end(lead.accepted_at, settings.return_window_hours)
    if at > until:
        return None
    return {
        "status": None,
        "until": _when(until, language, tz),
        "reasons": reasons(language),
        "min_attempts": settings.return_min_attempts,
        "quota_left": returns.quota_left(session, installer, at, settings),
    }
