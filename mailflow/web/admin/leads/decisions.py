"""The lead page's "Routing decisions" (#20): each decision, its candidates and why, as plain
rows for the template (which words them in the admin's language)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.domain.routing_why import REASON_TEXTS, TIER_WORDS
from mailflow.models import Installer
from mailflow.routing.decisions import of_lead


def decision_rows(session: Session, lead_id: int) -> list[dict[str, Any]]:
    decisions = of_lead(session, lead_id)
    ids = {c.get("installer_id") for d in decisions for c in d.candidates}
    ids |= {d.installer_id for d in decisions}
    ids.discard(None)
    emails = dict(
        session.execute(select(Installer.id, Installer.email).where(Installer.id.in_(ids))).all()
        if ids
        else []
    )
    return [
        {
            "at": d.at,
            "kind": d.kind,
            "offer_id": d.offer_id,
            "installer_id": d.installer_id,
            "installer": emails.get(d.installer_id, f"#{d.installer_id}"),
            "reason": REASON_TEXTS.get(d.reason or "", d.reason or ""),
            "candidates": [
                {
                    "installer_id": c.get("installer_id"),
                    "installer": emails.get(c.get("installer_id"), f"#{c.get('installer_id')}"),
                    "outcome": c.get("outcome"),
                    "code": c.get("reason"),
                    "reason": REASON_TEXTS.get(c.get("reason") or "", c.get("reason") or ""),
                    "tier": TIER_WORDS.get((c.get("facts") or {}).get("tier"), ""),
                    "facts": c.get("facts") or {},
                }
                for c in d.candidates
            ],
            "rest": sorted((REASON_TEXTS.get(code, code), n) for code, n in (d.rest or {}).items()),
            "more": sum((d.rest or {}).values()),
        }
        for d in decisions
    ]
