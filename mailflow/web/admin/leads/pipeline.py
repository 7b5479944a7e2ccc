"""The pipeline summary and the lead list (table, grid and kanban views with filters, search,
sorting, chosen columns)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.auth import CurrentAdmin
from mailflow.web.admin.leads.common import VIEWS
from mailflow.web.admin.leads.waiting import waiting_summary
from mailflow.web.admin.rendering import render
from mailflow.web.deps import SettingsDep
from mailflow.web.formats import format_admin_instant

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


def _list_context(request: Request) -> dict:
    params = request.query_params
    filters = lq.LeadFilters.parse(params)
    view = params.get("view") if params.get("view") in VIEWS else "table"
    return {
        "filters": filters,
        "view": view,
        "sort": lq.parse_sort(params.get("sort")),
        "page_no": lq.parse_page(params.get("page")),
        "per": lq.parse_per(params.get("per")),
        "columns": lq.parse_columns(params.getlist("cols")),
    }


@router.get("/pipeline")
def pipeline_page(request: Request, admin: CurrentAdmin) -> Response:
    at = now()
    with session_scope() as session:
        summary = lq.pipeline(session, at)
        waiting, oldest_waiting = waiting_summary(session)
    return render(
        request,
        "admin/pipeline.html",
        admin=admin,
        p=summary,
        waiting=waiting,
        oldest_waiting=oldest_waiting,
        now_text=format_admin_instant(at),
        statuses=lq.STATUSES,
    )


@router.get("/leads")
def lead_list(request: Request, admin: CurrentAdmin, settings: SettingsDep) -> Response:
    ctx = _list_context(request)
    filters: lq.LeadFilters = ctx["filters"]
    page = columns = None
    with session_scope() as session:
        if ctx["view"] == "kanban":
            columns = lq.kanban(session, filters, default_country=settings.default_country)
        else:
            page = lq.lead_page(
                session,
                filters,
                sort=ctx["sort"],
                page=ctx["page_no"],
                per=ctx["per"],
                default_country=settings.default_country,
            )
        installers = lq.installer_choices(session)
    base = filters.params()
    extra = {"view": ctx["view"], "sort": ctx["sort"], "per": ctx["per"], "cols": ctx["columns"]}
    if ctx["sort"] == lq.DEFAULT_SORT:
        extra.pop("sort")
    if ctx["per"] == lq.DEFAULT_PAGE_SIZE:
        extra.pop("per")
    if ctx["columns"] == lq.DEFAULT_COLUMNS:
        extra.pop("cols")
    if ctx["view"] == "table":
        extra.pop("view")

    def link(**changes) -> str:
        params = {**base, **extra, **changes}
        return lq.url_with("/admin/leads", {k: v for k, v in params.items() if v is not None})

    def sort_link(column: str) -> str:
        current = ctx["sort"]
        wanted = f"-{column}" if current == column else column
        if column in ("created", "updated", "id") and current.lstrip("-") != column:
            wanted = f"-{column}"  # newest first on the first click
        return link(sort=wanted, page=None)

    return render(
        request,
        "admin/leads_list.html",
        admin=admin,
        page=page,
        kanban=columns,
        installers=installers,
        statuses=lq.STATUSES,
        sources=lq.SOURCES,
        products=lq.PRODUCTS,
        all_columns=lq.COLUMNS,
        page_sizes=lq.PAGE_SIZES,
        link=link,
        sort_link=sort_link,
        export_query=lq.url_with("", {**base, "sort": ctx["sort"]}),
        default_sort=lq.DEFAULT_SORT,
        default_per=lq.DEFAULT_PAGE_SIZE,
        custom_columns=ctx["columns"] != lq.DEFAULT_COLUMNS,
        **ctx,
    )


# ------------------------------------------------------------------ detail ------------------
