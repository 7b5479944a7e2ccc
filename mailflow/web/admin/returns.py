"""``/admin/returns``: bad-lead reports (#20). Pending reports are approved or rejected in one
click (CSRF, admin role; viewers read); the page also lists the latest decisions and each
source's quality figure (the share of its leads reported and approved). Automatic approvals
(a bounced customer address, a duplicate the system sees) are listed with their rule. Every
decision is in the audit log. The use case is :mod:`mailflow.leads.returns`."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain import returns as rules
from mailflow.leads import returns
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import after, not_found, valid_id
from mailflow.web.admin.rendering import flash, render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

PERIODS = (30, 90, 365)  # days over which the sources' quality is shown


@router.get("/returns")
def returns_page(request: Request, admin: CurrentAdmin, days: int = 90) -> Response:
    days = days if days in PERIODS else 90
    at = now()
    with session_scope() as session:
        pending = returns.pending_reports(session)
        decided = returns.decided_reports(session)
        for row in (*pending, *decided):
            _ = row.lead, row.installer
        quality = returns.source_quality(session, returns.Period(at - timedelta(days=days), at))
    return render(
        request,
        "admin/returns.html",
        admin=admin,
        pending=pending,
        decided=decided,
        quality=quality,
        days=days,
        periods=PERIODS,
        reasons=rules.REASON_LABELS,
    )


def _decide(request: Request, return_id: int, action: Action, approve: bool) -> Response:
    if not valid_id(return_id):
        return not_found(request, action.admin, f"report #{return_id}")
    decide = returns.approve if approve else returns.reject
    try:
        with session_scope() as session:
            row = decide(
                session, return_id, by=action.admin.email, now=now(), settings=get_settings()
            )
            record_web(
                session,
                request,
                action.admin,
                "return.approved" if approve else "return.rejected",
                object_type="lead",
                object_id=row.lead_id,
                data={"return": row.id, "reason": row.reason, "outcome": row.outcome},
            )
            lead_id = row.lead_id
    except returns.ReturnMissing:
        return not_found(request, action.admin, f"report #{return_id}")
    except returns.AlreadyDecided as exc:
        flash(request, f"Report #{return_id} was {exc.state} already.", "error")
        return after(action, "/admin/returns")
    verb = "approved" if approve else "rejected"
    log.info("admin %s: bad-lead report %s %s", action.admin.email, return_id, verb)
    flash(request, f"Report #{return_id} (lead #{lead_id}) {verb}.")
    return after(action, "/admin/returns")


@router.post("/returns/{return_id}/approve")
def approve(request: Request, return_id: int, action: Action = Depends(require_action)):
    return _decide(request, return_id, action, approve=True)


@router.post("/returns/{return_id}/reject")
def reject(request: Request, return_id: int, action: Action = Depends(require_action)):
    return _decide(request, return_id, action, approve=False)
