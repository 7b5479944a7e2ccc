"""The admin's mail-queue monitor: the overview, outbox and inbound messages.

Every page needs a signed-in admin (``require_admin``: otherwise a redirect to the login form);
every state-changing POST needs a session, the session's CSRF token and the ``admin`` role
(``require_action``: otherwise 403). Handlers are plain functions (run in the thread pool):
database and broker calls are blocking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from email.policy import SMTP as SMTP_POLICY

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.domain.intake import readable
from mailflow.infra import blobs
from mailflow.intake.process import rerun_inbound
from mailflow.models import (
    InboundMessage,
    InboundOutcome,
    Installer,
    OutboxMessage,
    OutboxState,
)
from mailflow.outbound import webhooks
from mailflow.outbound.message import build_message
from mailflow.outbound.names import N_
from mailflow.outbound.outbox import cancel, retry
from mailflow.web.admin import queries
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import after, not_found, problem
from mailflow.web.admin.redaction import redact_message, redact_text, redacted_copy
from mailflow.web.admin.rendering import flash, render, tr
from mailflow.web.deps import SettingsDep
from mailflow.web.formats import format_admin_instant, to_json

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_SIZE = 50
# The inbound detail page shows at most this much of the raw message; the rest is a download.
RAW_PREVIEW_BYTES = 256 * 1024
# The decoded view reads at most this much of a message (bigger ones are rare and the rest is
# in the raw download).
MAX_DECODED_BYTES = 8 * 1024 * 1024
OUTBOX_STATES = [s.value for s in OutboxState]
# Mail, and deliveries of leads to installers' webhooks (mailflow/outbound/webhooks.py).
OUTBOX_CHANNELS = ("email", webhooks.CHANNEL)
INBOUND_OUTCOMES = [o.value for o in InboundOutcome]


# ------------------------------------------------------------------ monitor -----------------
@router.get("/")
def monitor(
    request: Request, admin: CurrentAdmin, settings: SettingsDep, refresh: int | None = None
) -> Response:
    at = now()
    with session_scope() as session:
        summary = queries.outbox_summary(session, at)
        failures = queries.outbox_rows(session, state=OutboxState.FAILED.value, limit=PAGE_SIZE)
        recent = queries.outbox_rows(session, limit=20)
        inbound = queries.inbound_summary(session)
        quarantined = queries.inbound_rows(
            session, outcome=InboundOutcome.QUARANTINED.value, limit=10
        )
        imap = queries.imap_health(session, configured=bool(settings.imap_url))
    queues, queues_error = queries.broker_queues()
    refresh = min(max(refresh, 5), 3600) if refresh else None
    return render(
        request,
        "admin/monitor.html",
        admin=admin,
        summary=summary,
        failures=failures,
        recent=recent,
        inbound=inbound,
        quarantined=quarantined,
        imap=imap,
        queues=queues,
        queues_error=queues_error,
        refresh=refresh,
        now_text=format_admin_instant(at),
    )


# ------------------------------------------------------------------ outbox ------------------
@router.get("/outbox")
def outbox_list(
    request: Request,
    admin: CurrentAdmin,
    state: str | None = None,
    before: int | None = None,
    channel: str | None = None,
) -> Response:
    state = state or None
    if state is not None and state not in OUTBOX_STATES:
        return problem(
            request,
            admin,
            400,
            N_("Unknown state"),
            tr(admin, N_("Outbox states are: %(states)s."), states=", ".join(OUTBOX_STATES)),
        )
    channel = channel if channel in OUTBOX_CHANNELS else None
    with session_scope() as session:
        rows = queries.outbox_rows(
            session, state=state, before=before, limit=PAGE_SIZE, channel=channel
        )
        summary = queries.outbox_summary(session, now())
    older = rows[-1].id if len(rows) == PAGE_SIZE else None
    return render(
        request,
        "admin/outbox_list.html",
        admin=admin,
        rows=rows,
        state=state,
        states=OUTBOX_STATES,
        channel=channel,
        channels=OUTBOX_CHANNELS,
        summary=summary,
        older=older,
        before=before,
    )


@router.get("/outbox/{outbox_id}")
def outbox_detail(
    request: Request, outbox_id: int, admin: CurrentAdmin, settings: SettingsDep
) -> Response:
    with session_scope() as session:
        row = session.get(OutboxMessage, outbox_id)
        if row is None:
            return not_found(request, admin, tr(admin, N_("outbox message #%(id)s"), id=outbox_id))
        if row.channel == webhooks.CHANNEL:
            installer = session.get(Installer, row.installer_id) if row.installer_id else None
            return _webhook_detail(request, admin, row, installer)
        copy = redacted_copy(row)  # the links in it are the recipient's credentials

        headers: list[tuple[str, str]] = []
        raw, raw_error, view = "", None, None
        try:
            message = build_message(copy, settings)
            headers = [(name, str(value)) for name, value in message.items()]
            source = message.as_bytes(policy=SMTP_POLICY)
            view = shown(readable.read(source))
            if admin.can_act:  # the raw source is for admins, not viewers
                raw = source.decode("utf-8", errors="replace")
        except Exception as exc:  # a row that cannot be built must still be inspectable
            log.warning("could not build outbox message %s", outbox_id, exc_info=True)
            raw_error = f"{type(exc).__name__}: {exc}"
    return render(
        request,
        "admin/outbox_detail.html",
        admin=admin,
        row=row,
        shown=copy,
        mail_headers=headers,
        decoded=view,
        raw=raw,
        raw_error=raw_error,
    )


def _webhook_detail(
    request: Request, admin, row: OutboxMessage, installer: Installer | None
) -> Response:
    """A delivery to an installer's webhook: where, its state and attempts, the headers it
    carries (the signature is computed at each attempt from the installer's secret, which no
    page shows) and the JSON body as it is sent."""
    return render(
        request,
        "admin/outbox_webhook.html",
        admin=admin,
        row=row,
        installer=installer,
        header_names=(
            "Content-Type",
            "User-Agent",
            "X-Mailflow-Event",
            "X-Mailflow-Timestamp",
            "X-Mailflow-Signature",
            "Idempotency-Key",
        ),
        body=redact_text(row.body_text or ""),
    )


@router.post("/outbox/{outbox_id}/retry")
def outbox_retry(
    request: Request, outbox_id: int, action: Action = Depends(require_action)
) -> Response:
    return _outbox_action(
        request,
        action,
        outbox_id,
        lambda session: retry(session, outbox_id, now()),
        "retried",
        done=N_("Message #%(id)s to %(to)s is queued again."),
        refused=N_(
            "Message #%(id)s is %(state)s: only failed or cancelled messages can be retried."
        ),
    )


@router.post("/outbox/{outbox_id}/cancel")
def outbox_cancel(
    request: Request, outbox_id: int, action: Action = Depends(require_action)
) -> Response:
    return _outbox_action(
        request,
        action,
        outbox_id,
        lambda session: cancel(session, outbox_id),
        "cancelled",
        done=N_("Message #%(id)s to %(to)s is cancelled: it will not be sent."),
        refused=N_(
            "Message #%(id)s is %(state)s: only queued or failed messages can be cancelled."
        ),
    )


def _outbox_action(
    request: Request,
    action: Action,
    outbox_id: int,
    act: Callable[[Session], bool],
    verb: str,
    *,
    done: str,
    refused: str,
) -> Response:
    """An admin's retry or cancel of one outbox row: the change, its log line and the flash
    that says what happened (or why nothing could)."""
    with session_scope() as session:
        row = session.get(OutboxMessage, outbox_id)
        if row is None:
            return not_found(
                request, action.admin, tr(action.admin, N_("outbox message #%(id)s"), id=outbox_id)
            )
        state, to = row.state.value, row.to
        changed = act(session)
    if changed:
        log.info("admin %s %s outbox message %s", action.admin.email, verb, outbox_id)
        flash(request, tr(action.admin, done, id=outbox_id, to=to))
    else:
        flash(request, tr(action.admin, refused, id=outbox_id, state=state), "error")
    return after(action, f"/admin/outbox/{outbox_id}")


# ------------------------------------------------------------------ inbound -----------------
@router.get("/inbound")
def inbound_list(
    request: Request,
    admin: CurrentAdmin,
    outcome: str | None = None,
    before: int | None = None,
) -> Response:
    outcome = outcome or None
    if outcome is not None and outcome not in INBOUND_OUTCOMES:
        return problem(
            request,
            admin,
            400,
            N_("Unknown outcome"),
            tr(
                admin,
                N_("Inbound outcomes are: %(outcomes)s."),
                outcomes=", ".join(INBOUND_OUTCOMES),
            ),
        )
    with session_scope() as session:
        rows = queries.inbound_rows(session, outcome=outcome, before=before, limit=PAGE_SIZE)
        summary = queries.inbound_summary(session)
    older = rows[-1].id if len(rows) == PAGE_SIZE else None
    return render(
        request,
        "admin/inbound_list.html",
        admin=admin,
        rows=rows,
        outcome=outcome,
        summary=summary,
        older=older,
        before=before,
    )


def shown(view: readable.Readable) -> readable.Readable:
    """The decoded view with every link token redacted (quoted replies carry our links)."""
    return readable.Readable(
        headers=[(name, redact_text(value)) for name, value in view.headers],
        parts=[replace(part, text=redact_text(part.text)) for part in view.parts],
        attachments=[replace(a, name=redact_text(a.name)) for a in view.attachments],
        notes=[redact_text(note) for note in view.notes],
        left_out=view.left_out,
    )


@router.get("/inbound/{inbound_id}")
def inbound_detail(
    request: Request, inbound_id: int, admin: CurrentAdmin, settings: SettingsDep
) -> Response:
    with session_scope() as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None:
            return not_found(
                request, admin, tr(admin, N_("inbound message #%(id)s"), id=inbound_id)
            )
        stored = blobs.read(settings, row) or b""
        session.expunge(row)
        row.raw = None  # detached: the template never needs the bytes again
    # An installer's reply quotes our offer, a bounce returns it: their links are credentials.
    raw_bytes = redact_message(stored) if stored else b""
    view = shown(readable.read(raw_bytes[:MAX_DECODED_BYTES])) if raw_bytes else None
    parsed = redact_text(to_json(row.parsed)) if row.parsed else ""
    can_rerun = row.outcome == InboundOutcome.QUARANTINED and row.channel.value != "webhook"
    return render(
        request,
        "admin/inbound_detail.html",
        admin=admin,
        row=row,
        parsed=parsed,
        raw=raw_bytes[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace")
        if admin.can_act
        else "",
        raw_size=len(stored),
        has_raw=bool(stored),
        truncated=len(raw_bytes) > RAW_PREVIEW_BYTES,
        preview_bytes=RAW_PREVIEW_BYTES,
        mail_headers=view.headers if view else [],
        # The decoded text is the customer's message: admins only, like the raw source.
        decoded=view if view and admin.can_act else None,
        can_rerun=can_rerun,
    )


@router.get("/inbound/{inbound_id}/raw")
def inbound_raw(
    request: Request, inbound_id: int, admin: CurrentAdmin, settings: SettingsDep
) -> Response:
    if not admin.can_act:
        return problem(
            request, admin, 403, N_("Not allowed"), N_("Raw sources are for admins only.")
        )
    with session_scope() as session:
        row = session.get(InboundMessage, inbound_id)
        raw = blobs.read(settings, row) if row is not None else None
        if raw is None:
            return not_found(
                request, admin, tr(admin, N_("stored message for inbound #%(id)s"), id=inbound_id)
            )
    return Response(
        redact_message(raw),
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="inbound-{inbound_id}.eml"'},
    )


@router.post("/inbound/{inbound_id}/rerun")
def inbound_rerun(
    request: Request, inbound_id: int, action: Action = Depends(require_action)
) -> Response:

    with session_scope() as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None:
            return not_found(
                request,
                action.admin,
                tr(action.admin, N_("inbound message #%(id)s"), id=inbound_id),
            )
        outcome = row.outcome.value
        done = rerun_inbound(session, inbound_id)
    if done:
        log.info("admin %s re-ran inbound message %s", action.admin.email, inbound_id)
        flash(
            request,
            tr(
                action.admin,
                N_("Message #%(id)s will be processed again; reload to see the outcome."),
                id=inbound_id,
            ),
        )
    else:
        flash(
            request,
            tr(
                action.admin,
                N_(
                    "Message #%(id)s is %(outcome)s: only quarantined messages "
                    "(not webhook bodies) can be re-run."
                ),
                id=inbound_id,
                outcome=outcome,
            ),
            "error",
        )
    return after(action, f"/admin/inbound/{inbound_id}")
