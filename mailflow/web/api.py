"""JSON API: the lead webhook (HMAC-signed) and the read API (bearer token)."""

from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.inbound.webhook import SignatureError, accept_webhook, verify_signature
from mailflow.models import (
    HELD_STATUSES,
    InboundMessage,
    InboundOutcome,
    Installer,
    Lead,
    LeadStatus,
    OutboxMessage,
    OutboxState,
)
from mailflow.web import serialize

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api")


def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
    token = get_settings().api_token or ""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given or not hmac.compare_digest(given.strip(), token):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


Authorized = Depends(require_token)
Limit = Annotated[int, Query(ge=1, le=1000)]


# ----------------------------------------------------------------- webhook ------------------
@router.post("/leads", status_code=201)
async def post_lead(request: Request) -> JSONResponse:
    settings = get_settings()
    body = await request.body()
    try:
        verify_signature(
            settings.webhook_secret or "",
            request.headers.get("x-mailflow-timestamp"),
            request.headers.get("x-mailflow-signature"),
            body,
            now=now(),
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401)
    key = (request.headers.get("idempotency-key") or "").strip() or None
    if key and len(key) > 255:
        return JSONResponse({"detail": "Idempotency-Key is longer than 255 characters"}, 400)
    result = await run_in_threadpool(_accept, body, key, settings)
    return JSONResponse(result.body, status_code=result.status_code)


def _accept(body: bytes, key: str | None, settings: Settings):
    for attempt in range(2):
        try:
            with session_scope(settings) as session:
                return accept_webhook(
                    session, body, idempotency_key=key, now=now(), settings=settings
                )
        except IntegrityError:
            # Another request with the same Idempotency-Key committed first: answer as a replay.
            if attempt or not key:
                raise
    raise AssertionError("unreachable")


# ----------------------------------------------------------------- read API -----------------
def _session():
    with session_scope() as session:
        yield session


DB = Annotated[Session, Depends(_session)]


@router.get("/leads", dependencies=[Authorized])
def list_leads(
    db: DB,
    status: LeadStatus | None = None,
    source: str | None = None,
    postcode: str | None = None,
    installer: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: Limit = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    query = select(Lead)
    if status:
        query = query.where(Lead.status == status)
    if source:
        query = query.where(Lead.source == source)
    if postcode:
        # A prefix filter: "75" finds every Paris lead.
        query = query.where(Lead.postcode.startswith(postcode.upper(), autoescape=True))
    if installer:
        query = query.join(Installer, Lead.assigned_installer_id == Installer.id).where(
            Installer.email == installer.lower()
        )
    if created_from:
        query = query.where(Lead.created_at >= created_from)
    if created_to:
        query = query.where(Lead.created_at < created_to)
    total = db.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.scalars(
        query.options(selectinload(Lead.assigned_installer))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return {"items": [serialize.lead_brief(r) for r in rows], "total": total}


@router.get("/leads/{lead_id}", dependencies=[Authorized])
def get_lead(lead_id: int, db: DB) -> dict:
    lead = db.get(
        Lead, lead_id, options=[selectinload(Lead.events), selectinload(Lead.assigned_installer)]
    )
    if lead is None:
        raise HTTPException(404, f"lead {lead_id} not found")
    from mailflow.leads.offers_view import offers_for

    return serialize.lead_full(lead, offers_for(db, lead))


@router.get("/inbound", dependencies=[Authorized])
def list_inbound(
    db: DB, outcome: InboundOutcome | None = None, channel: str | None = None, limit: Limit = 50
) -> dict:
    query = select(InboundMessage)
    if outcome:
        query = query.where(InboundMessage.outcome == outcome)
    if channel:
        query = query.where(InboundMessage.channel == channel)
    rows = db.scalars(query.order_by(InboundMessage.id.desc()).limit(limit)).all()
    return {"items": [serialize.inbound_item(r) for r in rows]}


@router.get("/outbox", dependencies=[Authorized])
def list_outbox(db: DB, state: OutboxState | None = None, limit: Limit = 50) -> dict:
    query = select(OutboxMessage)
    if state:
        query = query.where(OutboxMessage.state == state)
    rows = db.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()
    return {"items": [serialize.outbox_item(r) for r in rows]}


@router.get("/installers", dependencies=[Authorized])
def list_installers(db: DB) -> dict:
    held = dict(
        db.execute(
            select(Lead.assigned_installer_id, func.count())
            .where(Lead.status.in_(HELD_STATUSES), Lead.assigned_installer_id.is_not(None))
            .group_by(Lead.assigned_installer_id)
        ).all()
    )
    rows = db.scalars(select(Installer).order_by(Installer.email)).all()
    return {"items": [serialize.installer_item(r, held.get(r.id, 0)) for r in rows]}
