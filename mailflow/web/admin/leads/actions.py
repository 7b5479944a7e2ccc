"""The lead's actions: assign/reassign, back to rotation, close, archive, spam."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.leads import admin_actions
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, require_action
from mailflow.web.admin.common import (
    after,
    field,
    not_found,
    valid_id,
)
from mailflow.web.admin.rendering import flash

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


def _act(
    request: Request,
    action: Action,
    lead_id: int,
    name: str,
    work: Callable[[Session], Any],
    *,
    done: str | Callable[[Any], str],
) -> Response:
    """Run ``work(session)`` (an admin_actions call); flash its outcome; audit it."""
    if not valid_id(lead_id):
        return not_found(request, action.admin, f"lead #{lead_id}")
    try:
        with session_scope() as session:
            outcome = work(session)
            record_web(
                session,
                request,
                action.admin,
                name,
                object_type="lead",
                object_id=lead_id,
                summary=done if isinstance(done, str) else None,
                data={
                    key: field(action.form, key)
                    for key in ("reason", "installer_id")
                    if field(action.form, key)
                },
            )
    except admin_actions.LeadMissing:
        return not_found(request, action.admin, f"lead #{lead_id}")
    except admin_actions.ActionRefused as exc:
        flash(request, str(exc), "error")
        return after(action, f"/admin/leads/{lead_id}")
    log.info("admin %s: %s on lead %s", action.admin.email, name, lead_id)
    flash(request, done(outcome) if callable(done) else done)
    return after(action, f"/admin/leads/{lead_id}")


@router.post("/leads/{lead_id}/assign")
def lead_assign(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    raw = field(action.form, "installer_id", 12)
    if not raw.isdigit() or not valid_id(int(raw)):
        flash(request, "Choose an installer.", "error")
        return after(action, f"/admin/leads/{lead_id}")
    installer_id = int(raw)

    def work(session):
        lead = admin_actions.assign(
            session,
            lead_id,
            installer_id,
            by=action.admin.email,
            reason=field(action.form, "reason"),
            now=now(),
            settings=get_settings(),
        )
        return lead.assigned_installer.email if lead.assigned_installer else installer_id

    return _act(
        request,
        action,
        lead_id,
        "lead.assign",
        work,
        done=lambda email: f"Lead #{lead_id} is assigned to {email}; they have been emailed.",
    )


@router.post("/leads/{lead_id}/rotate")
def lead_rotate(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    def work(session):
        offer = admin_actions.back_to_rotation(
            session,
            lead_id,
            by=action.admin.email,
            reason=field(action.form, "reason"),
            now=now(),
            settings=get_settings(),
        )
        return offer.installer.email if offer is not None else None

    return _act(
        request,
        action,
        lead_id,
        "lead.rotate",
        work,
        done=lambda email: (
            f"Lead #{lead_id} is back in rotation: offered to {email}."
            if email
            else f"Lead #{lead_id} is back in rotation: nobody is eligible, it is in the pool."
        ),
    )


@router.post("/leads/{lead_id}/exchange")
def lead_open_exchange(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    return _act(
        request,
        action,
        lead_id,
        "lead.open_exchange",
        lambda session: admin_actions.open_to_exchange(
            session, lead_id, by=action.admin.email, now=now(), settings=get_settings()
        ),
        done=f"Lead #{lead_id} is in the open exchange: installers of its area can claim it.",
    )


@router.post("/leads/{lead_id}/close")
def lead_close(
    request: Request, lead_id: int, action: Action = Depends(require_action)
) -> Response:
    return _act(
        request,
        action,
        lead_id,
        "lead.close",
        lambda session: admin_actions.close(
            session, lead_id, by=action.admin.email, reason=field(action.form, "reason"), now=now()
        ),
        done=f"Lead #{lead_id} is closed (failed).",
    )


def _flag_route(path: str, name: str, fn, value: bool, message: str) -> None:
    def handler(request: Request, lead_id: int, action: Action = Depends(require_action)):
        return _act(
            request,
            action,
            lead_id,
            name,
            lambda session: fn(session, lead_id, value, by=action.admin.email, now=now()),
            done=message.format(id=lead_id),
        )

    handler.__name__ = f"lead_{name.replace('.', '_')}"
    router.post(path)(handler)


_flag_route(
    "/leads/{lead_id}/archive",
    "lead.archive",
    admin_actions.set_archived,
    True,
    "Lead #{id} is archived: it is hidden from the lists unless you filter for archived leads.",
)
_flag_route(
    "/leads/{lead_id}/unarchive",
    "lead.unarchive",
    admin_actions.set_archived,
    False,
    "Lead #{id} is no longer archived.",
)
_flag_route(
    "/leads/{lead_id}/spam",
    "lead.spam",
    admin_actions.set_spam,
    True,
    "Lead #{id} is marked as spam: closed and archived.",
)
_flag_route(
    "/leads/{lead_id}/unspam",
    "lead.unspam",
    admin_actions.set_spam,
    False,
    "Lead #{id} is no longer marked as spam (put it back into rotation to offer it).",
)


# ------------------------------------------------------------------ edit --------------------
