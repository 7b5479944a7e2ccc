"""JSON API: the lead webhook (HMAC-signed) and the read API (bearer token)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from mailflow.app.reports.speed import speed_report
from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain.intake.webhook import SignatureError, SignedRequest, verify_signature
from mailflow.intake.webhook import accept_webhook
from mailflow.models import (
    HELD_STATUSES,
    Channel,
    InboundMessage,
    InboundOutcome,
    Installer,
    Lead,
    LeadStatus,
    OutboxMessage,
    OutboxState,
)
from mailflow.web import serialize
from mailflow.web.admin.lead_queries import LeadFilters, order_by
from mailflow.web.secrets import same_secret
from mailflow.web.serialize import offers_for

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api")


def require_token(
    response: Response, authorization: Annotated[str | None, Header()] = None
) -> None:
    token = get_settings().api_token or ""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given or not same_secret(given.strip(), token):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    # The answers hold customers' contact details: no browser or proxy may keep a copy.
    response.headers["Cache-Control"] = "no-store"


Authorized = Depends(require_token)
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]


# ----------------------------------------------------------------- webhook ------------------
@router.post(
    "/leads",
    status_code=201,
    summary="Submit a lead (webhook, HMAC-signed)",
    description="The body is a lead (customer, product, details...) as JSON, signed with "
    'HMAC-SHA256 over `timestamp + "." + body` in `X-Mailflow-Signature: sha256=<hex>` with '
    "`X-Mailflow-Timestamp`; `Idempotency-Key` makes retries safe (PRODUCT.md §2).",
    responses={
        200: {"description": "A replay of an earlier request with the same Idempotency-Key."},
        201: {"description": "The lead was accepted."},
        400: {"model": serialize.ErrorOut, "description": "Idempotency-Key too long."},
        401: {"model": serialize.ErrorOut, "description": "Missing or wrong signature."},
        422: {"description": "Invalid body, with a message per field."},
    },
)
async def post_lead(request: Request) -> JSONResponse:
    settings = get_settings()
    body = await request.body()
    try:
        signed = verify_signature(
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
    result = await run_in_threadpool(_accept, body, key, signed, settings)
    return JSONResponse(result.body, status_code=result.status_code)


def _accept(body: bytes, key: str | None, signed: SignedRequest, settings: Settings):
    for attempt in range(2):
        try:
            with session_scope(settings) as session:
                return accept_webhook(
                    session,
                    body,
                    idempotency_key=key,
                    now=now(),
                    settings=settings,
                    signed=signed,
                )
        except IntegrityError:
            # Another request with the same Idempotency-Key or signature committed first:
            # the second attempt answers as a replay.
            if attempt:
                raise
    raise AssertionError("unreachable")


# ----------------------------------------------------------------- read API -----------------
def _session():
    with session_scope() as session:
        yield session


DB = Annotated[Session, Depends(_session)]
MAX_ID = 2**31 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL refuses NUL in text: a 422, not a 500
READ_RESPONSES: dict = {
    401: {"model": serialize.ErrorOut, "description": "Missing or wrong bearer token."},
    422: {"model": serialize.ValidationErrorOut, "description": "Invalid parameter."},
}


def _reasonable(value: datetime | None) -> datetime | None:
    """Instants far outside any lead's lifetime are refused (year 1 with an offset cannot
    even be converted to UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not (datetime(1970, 1, 1, tzinfo=UTC) <= value <= datetime(9000, 1, 1, tzinfo=UTC)):
        raise ValueError("must be between 1970 and 9000")
    return value.astimezone(UTC)


def _text(max_length: int, description: str):
    return Query(max_length=max_length, pattern=NO_NUL, description=description)


Instant = Annotated[datetime | None, AfterValidator(_reasonable)]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip.")]
Before = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Only rows with a smaller id (next page).")
]


@router.get(
    "/leads",
    dependencies=[Authorized],
    response_model=serialize.LeadPageOut,
    responses=READ_RESPONSES,
    summary="List leads",
)
def list_leads(
    db: DB,
    status: Annotated[LeadStatus | None, Query(description="Lead status.")] = None,
    source: Annotated[
        str | None, _text(32, "calculator, leadgen, webhook, email, import, manual.")
    ] = None,
    product: Annotated[
        str | None, _text(32, "pv, heat_pump, battery, pv_battery; none = unknown.")
    ] = None,
    postcode: Annotated[
        str | None, _text(16, "Postcode prefix: 75 finds every Paris lead.")
    ] = None,
    country: Annotated[str | None, _text(2, "ISO 3166 alpha-2 code.")] = None,
    installer: Annotated[str | None, _text(320, "Email of the installer holding the lead.")] = None,
    q: Annotated[
        str | None, _text(200, "Search in name, email, phone and city (word prefixes).")
    ] = None,
    duplicate: Annotated[
        bool | None, Query(description="Only duplicates (true) or none (false).")
    ] = None,
    archived: Annotated[
        bool | None, Query(description="Only archived (true) or unarchived (false) leads.")
    ] = None,
    created_from: Annotated[Instant, Query(description="Created at or after (ISO-8601).")] = None,
    created_to: Annotated[Instant, Query(description="Created before (ISO-8601).")] = None,
    updated_from: Annotated[Instant, Query(description="Updated at or after (ISO-8601).")] = None,
    updated_to: Annotated[Instant, Query(description="Updated before (ISO-8601).")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict:
    """Leads matching every given filter, newest first, with the number of all matches."""

    filters = LeadFilters(
        q=q or "",
        status=status.value if status else "",
        source=source or "",
        product=product or "",
        postcode=(postcode or "").upper().replace(" ", ""),
        country=(country or "").upper(),
        duplicate="" if duplicate is None else ("yes" if duplicate else "no"),
        archived="all" if archived is None else ("yes" if archived else "no"),
    )
    conds = filters.conditions(db, get_settings().default_country)
    if installer:
        conds.append(
            Lead.assigned_installer_id.in_(
                select(Installer.id).where(Installer.email == installer.strip().lower())
            )
        )
    for column, low, high in (
        (Lead.created_at, created_from, created_to),
        (Lead.updated_at, updated_from, updated_to),
    ):
        if low is not None:
            conds.append(column >= low)
        if high is not None:
            conds.append(column < high)
    total = db.scalar(select(func.count()).select_from(Lead).where(*conds)) or 0
    rows = db.scalars(
        select(Lead)
        .where(*conds)
        .options(selectinload(Lead.assigned_installer))
        .order_by(*order_by("-created"))
        .limit(limit)
        .offset(offset)
    ).all()
    return {"items": [serialize.lead_brief(r) for r in rows], "total": total}


@router.get(
    "/leads/{lead_id}",
    dependencies=[Authorized],
    response_model=serialize.LeadOut,
    responses={
        **READ_RESPONSES,
        404: {"model": serialize.ErrorOut, "description": "No such lead."},
    },
    summary="One lead with its offers and timeline",
)
def get_lead(lead_id: Annotated[int, Path(ge=1, le=MAX_ID)], db: DB) -> dict:
    lead = db.get(
        Lead, lead_id, options=[selectinload(Lead.events), selectinload(Lead.assigned_installer)]
    )
    if lead is None:
        raise HTTPException(404, f"lead {lead_id} not found")
    return serialize.lead_full(lead, offers_for(db, lead))


@router.get(
    "/inbound",
    dependencies=[Authorized],
    response_model=serialize.InboundPageOut,
    responses=READ_RESPONSES,
    summary="Raw inbound messages and their outcome, newest first",
)
def list_inbound(
    db: DB,
    outcome: InboundOutcome | None = None,
    channel: Annotated[Channel | None, Query(description="smtp, imap, webhook or import.")] = None,
    lead_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    before: Before = None,
    limit: Limit = 50,
) -> dict:
    query = select(InboundMessage)
    if outcome:
        query = query.where(InboundMessage.outcome == outcome)
    if channel:
        query = query.where(InboundMessage.channel == channel)
    if lead_id:
        query = query.where(InboundMessage.lead_id == lead_id)
    if before:
        query = query.where(InboundMessage.id < before)
    rows = db.scalars(query.order_by(InboundMessage.id.desc()).limit(limit)).all()
    return {"items": [serialize.inbound_item(r) for r in rows]}


@router.get(
    "/outbox",
    dependencies=[Authorized],
    response_model=serialize.OutboxPageOut,
    responses=READ_RESPONSES,
    summary="Outgoing messages and their state, newest first",
)
def list_outbox(
    db: DB,
    state: OutboxState | None = None,
    lead_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    to: Annotated[str | None, _text(320, "Recipient address.")] = None,
    before: Before = None,
    limit: Limit = 50,
) -> dict:
    query = select(OutboxMessage)
    if state:
        query = query.where(OutboxMessage.state == state)
    if lead_id:
        query = query.where(OutboxMessage.lead_id == lead_id)
    if to:
        query = query.where(OutboxMessage.to == to.strip())
    if before:
        query = query.where(OutboxMessage.id < before)
    rows = db.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()
    return {"items": [serialize.outbox_item(r) for r in rows]}


@router.get(
    "/installers",
    dependencies=[Authorized],
    response_model=serialize.InstallerPageOut,
    responses=READ_RESPONSES,
    summary="Installers with their open leads",
)
def list_installers(
    db: DB,
    country: Annotated[str | None, _text(2, "ISO 3166 alpha-2 code.")] = None,
    tier: Annotated[str | None, _text(16, "bronze, silver or gold.")] = None,
    active: bool | None = None,
) -> dict:
    query = select(Installer)
    if country:
        query = query.where(Installer.country == country.upper())
    if tier:
        query = query.where(Installer.tier == tier.lower())
    if active is not None:
        query = query.where(Installer.active.is_(active))
    held = dict(
        db.execute(
            select(Lead.assigned_installer_id, func.count())
            .where(Lead.status.in_(HELD_STATUSES), Lead.assigned_installer_id.is_not(None))
            .group_by(Lead.assigned_installer_id)
        ).all()
    )
    rows = db.scalars(query.order_by(Installer.email)).all()
    return {"items": [serialize.installer_item(r, held.get(r.id, 0)) for r in rows]}


@router.get(
    "/speed",
    dependencies=[Authorized],
    response_model=serialize.SpeedOut,
    responses=READ_RESPONSES,
    summary="Speed to lead: median and p90 time to acceptance and to first contact",
)
def speed_figures(
    db: DB,
    created_from: Annotated[Instant, Query(description="Arrived at or after (ISO-8601).")] = None,
    created_to: Annotated[Instant, Query(description="Arrived before (ISO-8601).")] = None,
    by: Annotated[
        Literal["installer", "source", "product", "tier"] | None,
        Query(description="Group per holder, source, product or holder's tier; none = all."),
    ] = None,
) -> dict:
    """Time from a lead's arrival to its acceptance and to its holder's first contact (the
    first status recorded, or the contact details revealed if that came first)."""
    groups = speed_report(db, since=created_from, until=created_to, by=by)
    return {
        "groups": [
            {
                "key": key,
                "leads": leads,
                "to_acceptance": serialize.spread_out(figures.to_acceptance),
                "to_first_contact": serialize.spread_out(figures.to_first_contact),
            }
            for key, leads, figures in groups
        ]
    }
