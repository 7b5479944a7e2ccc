"""The pipeline summary and the lead list (table, grid and kanban views with filters, search,
sorting, chosen columns)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.domain.statuses import STATUS_GROUPS
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.auth import CurrentAdmin
from mailflow.web.admin.leads.common import list_context, list_extra, list_query
from mailflow.web.admin.leads.saved import saved_filters
from mailflow.web.admin.leads.waiting import waiting_summary
from mailflow.web.admin.rendering import render
from mailflow.web.deps import SettingsDep
from mailflow.web.formats import admin_zone, format_admin_instant

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/pipeline")
def pipeline_page(request: Request, admin: CurrentAdmin) -> Response:
    at = now()
    with session_scope() as session:
        summary = lq.pipeline(session, at, admin_zone())
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
        status_groups=STATUS_GROUPS,
    )


@router.get("/leads")
def lead_list(request: Request, admin: CurrentAdmin, settings: SettingsDep) -> Response:
    ctx = list_context(request.query_params)
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
        saved = saved_filters(session, admin.id)
    base = filters.params()
    extra = list_extra(ctx)

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
        groups=lq.kanban_groups(columns) if columns is not None else None,
        saved_filters=saved,
        current_query=list_query(ctx),
        installers=installers,
        statuses=lq.STATUSES,
        sources=lq.SOURCES,
        products=lq.PRODUCTS,
        all_columns=lq.COLUMNS,
        page_sizes=lq.PAGE_SIZES,
        link=link,
        sort_link=sort_link,
        # The export links carry the chosen columns (``column=``, as the selection's export).
        export_query=lq.url_with("", {**base, "sort": ctx["sort"], "column": extra.get("cols")}),
        default_sort=lq.DEFAULT_SORT,
        default_per=lq.DEFAULT_PAGE_SIZE,
        custom_columns=ctx["columns"] != lq.DEFAULT_COLUMNS,
        **ctx,
    )


# ------------------------------------------------------------------ detail ------------------
