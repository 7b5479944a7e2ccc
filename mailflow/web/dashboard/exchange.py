"""Claiming a lead of the open exchange from the "Available leads" tab."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.routing import exchange
from mailflow.web.dashboard.common import redirect
from mailflow.web.dashboard.labels import PREFIX
from mailflow.web.dashboard.rendering import _message
from mailflow.web.dashboard.signin import _guard_post

log = logging.getLogger(__name__)
router = APIRouter()


@router.post(f"{PREFIX}/exchange/{{lead_id}}/claim", include_in_schema=False)
async def claim(lead_id: int, request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_claim, request, lead_id, form, get_settings())


def _claim(request: Request, lead_id: int, form: dict, settings: Settings) -> Response:
    at = now()
    try:
        with session_scope(settings) as session:
            who = _guard_post(session, request, form, settings, at)
            if isinstance(who, Response):
                return who
            exchange.claim(session, lead_id, who.installer.id, now=at, settings=settings)
            installer_id = who.installer.id
    except exchange.ClaimRefused as refused:
        log.info("installer's claim of lead %s refused: %s", lead_id, refused.code)
        with session_scope(settings) as session:
            who = _guard_post(session, request, form, settings, at)
            if isinstance(who, Response):
                return who
            return _message(f"claim_{refused.code}", who)
    log.info("installer %s claimed lead %s from the exchange", installer_id, lead_id)
    return redirect(f"{PREFIX}/leads/{lead_id}?done=claimed")
