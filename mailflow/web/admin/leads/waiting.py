"""``/admin/leads/waiting``: the leads waiting in line for a busy installer (#17), oldest first
(the order the drain offers them in), each with why it waits: every installer serving its
postcode and what blocks them (open offers, capacity, caps), in the rules' own terms
(``routing.waiting.why_waiting_many``, figures loaded once per page). Area and product only,
as the other lists of leads waiting for something (the pipeline's pool): no contact details.
Viewers see it too."""

from __future__ import annotations

import logging
from datetime import datetime

from babel.dates import format_timedelta
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.clock import as_utc, now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.i18n import format_instant
from mailflow.models import Lead, LeadStatus
from mailflow.routing.waiting import outlook, why_waiting_many
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.auth import CurrentAdmin
from mailflow.web.admin.rendering import console_language, render
from mailflow.web.deps import SettingsDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

PATH = "/admin/leads/waiting"
SHOWN_INSTALLERS = 6  # per lead; the rest as "and N more"


def waiting_conditions() -> list:
    return [Lead.status == LeadStatus.NEW, Lead.waiting_since.is_not(None)]


def waiting_summary(session: Session) -> tuple[int, datetime | None]:
    """How many leads wait, and since when the one waiting longest does (the pipeline's
    figure): new leads only, read through the (status, created) index."""
    count, oldest = session.execute(
        select(func.count(), func.min(Lead.waiting_since)).where(*waiting_conditions())
    ).one()
    return count or 0, oldest


def _filters(request: Request) -> lq.LeadFilters:
    """Area and product filters of the lead list (the other filters make no sense here)."""
    parsed = lq.LeadFilters.parse(request.query_params)
    return lq.LeadFilters(
        postcode=parsed.postcode, country=parsed.country, product=parsed.product, archived="all"
    )


@router.get("/leads/waiting")
def waiting_page(request: Request, admin: CurrentAdmin, settings: SettingsDep) -> Response:
    language = console_language(request, admin)
    params = request.query_params
    filters = _filters(request)
    page_no, per = lq.parse_page(params.get("page")), lq.parse_per(params.get("per"))
    at = now()
    with session_scope() as session:
        conds = [*waiting_conditions(), *filters.conditions(session, settings.default_country)]
        rows = list(
            session.scalars(
                select(Lead)
                .where(*conds)
                .order_by(Lead.created_at, Lead.id)
                .limit(per + 1)
                .offset((page_no - 1) * per)
            )
        )
        total, capped = lq.count_capped(session, conds)
        page = lq.Page(rows[:per], page_no, per, len(rows) > per, total, capped)
        why = why_waiting_many(session, page.rows, at, settings)
    base = {**filters.params(archived="no"), "lang": params.get("lang")}
    if per != lq.DEFAULT_PAGE_SIZE:
        base["per"] = per

    def link(**changes) -> str:
        return lq.url_with(PATH, {**base, **changes})

    def ago(value: datetime) -> str:
        return format_timedelta(
            as_utc(value) - at, add_direction=True, format="long", locale=language
        )

    def instant(value: datetime) -> str:
        return format_instant(as_utc(value), language, get_settings().admin_time_zone)

    return render(
        request,
        "admin/leads_waiting.html",
        admin=admin,
        language=language,
        page=page,
        filters=filters,
        products=lq.PRODUCTS,
        why=why,
        outlook=outlook,
        shown=SHOWN_INSTALLERS,
        link=link,
        ago=ago,
        instant=instant,
    )
