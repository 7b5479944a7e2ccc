"""Bulk actions on the leads ticked in the table: assign to an installer, put back into
rotation, archive, unarchive. Each lead goes through the same use case as on its own page
(:mod:`mailflow.leads.admin_actions`), in its own transaction with its audit entry, so one lead
that cannot take the action leaves the others done; the result page says what happened to
each. (Exporting the selection is a POST of the same form to the export: no token in a URL.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain import lead as lead_rules
from mailflow.leads import admin_actions
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, require_action, safe_next
from mailflow.web.admin.common import after, field, problem, valid_id
from mailflow.web.admin.leads.common import _
from mailflow.web.admin.rendering import flash, render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

ACTIONS = ("assign", "rotate", "archive", "unarchive")
MAX_LEADS = max(lq.PAGE_SIZES)  # a full page of the table


@dataclass
class Outcome:
    lead_id: int
    done: bool
    # Done: what became of the lead (an installer's address, or None); skipped: why.
    detail: str | None = None


def _ids(values: list[Any]) -> list[int] | None:
    """The ticked lead ids, once each, in order; None when one is not an id."""
    ids: list[int] = []
    for value in values:
        if not isinstance(value, str) or not value.isdigit() or len(value) > 10:
            return None
        if not valid_id(int(value)):
            return None
        ids.append(int(value))
    return list(dict.fromkeys(ids))


def _work(action: Action, verb: str, reason: str, installer_id: int | None) -> Callable:
    by, settings = action.admin.email, get_settings()

    def assign(session: Session, lead_id: int) -> str | None:
        lead = admin_actions.assign(
            session, lead_id, installer_id, by=by, reason=reason, now=now(), settings=settings
        )
        return lead.assigned_installer.email if lead.assigned_installer else None

    def rotate(session: Session, lead_id: int) -> str | None:
        offer = admin_actions.back_to_rotation(
            session, lead_id, by=by, reason=reason, now=now(), settings=settings
        )
        return offer.installer.email if offer is not None else None

    def archive(session: Session, lead_id: int, archived: bool = True) -> None:
        admin_actions.set_archived(session, lead_id, archived, by=by, now=now())

    def unarchive(session: Session, lead_id: int) -> None:
        archive(session, lead_id, False)

    return {"assign": assign, "rotate": rotate, "archive": archive, "unarchive": unarchive}[verb]


@router.post("/leads/bulk")
def leads_bulk(request: Request, action: Action = Depends(require_action)) -> Response:
    form, admin = action.form, action.admin
    back = safe_next(field(form, "next"), default="/admin/leads")
    verb = field(form, "action", 20)
    ids = _ids(form.getlist("id"))
    if verb not in ACTIONS or ids is None or len(ids) > MAX_LEADS:
        return problem(
            request,
            admin,
            400,
            _("Bad request", admin),
            _("Choose an action and at most %(n)d leads.", admin, n=MAX_LEADS),
        )
    if not ids:
        flash(request, _("Tick the leads to change first.", admin), "error")
        return after(action, "/admin/leads")
    reason = field(form, "reason")
    installer_id = None
    if verb == "assign":
        raw = field(form, "installer_id", 12)
        if not raw.isdigit() or not valid_id(int(raw)):
            flash(request, _("Choose the installer to assign the leads to.", admin), "error")
            return after(action, "/admin/leads")
        installer_id = int(raw)
    if verb in ("assign", "rotate") and not reason.strip():
        flash(request, _("Give a reason: it goes on each lead's timeline.", admin), "error")
        return after(action, "/admin/leads")

    work = _work(action, verb, reason, installer_id)
    outcomes: list[Outcome] = []
    for lead_id in ids:
        try:
            with session_scope() as session:
                detail = work(session, lead_id)
                record_web(
                    session,
                    request,
                    admin,
                    f"lead.{verb}",
                    object_type="lead",
                    object_id=lead_id,
                    data={"bulk": True, "reason": reason or None, "installer_id": installer_id},
                )
        except admin_actions.ActionRefused as exc:  # no such lead, or not in a state for it
            outcomes.append(Outcome(lead_id, False, str(exc)))
        except lead_rules.Refused as exc:  # the state machine's word, should a check miss it
            outcomes.append(Outcome(lead_id, False, f"Lead #{lead_id}: {exc}."))
        else:
            outcomes.append(Outcome(lead_id, True, detail))
    done = sum(1 for o in outcomes if o.done)
    log.info("admin %s: bulk %s on %d leads, %d done", admin.email, verb, len(ids), done)
    return render(
        request,
        "admin/leads_bulk.html",
        admin=admin,
        verb=verb,
        outcomes=outcomes,
        done=done,
        skipped=len(outcomes) - done,
        back=back,
    )
