"""What the lead pages share."""

from __future__ import annotations

import logging

from starlette.datastructures import ImmutableMultiDict

from mailflow.leads import admin_actions
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.auth import AdminIdentity
from mailflow.web.admin.rendering import tr

log = logging.getLogger(__name__)


VIEWS = ("table", "grid", "kanban")
MAX_NOTE = 10_000
EDIT_FIELDS = (*admin_actions.EDITABLE_CUSTOMER, *admin_actions.EDITABLE_LEAD)


def _(message: str, admin: AdminIdentity | None, **params) -> str:
    """A message of the lead pages (flashes) in the admin's console language."""
    return tr(admin, message, **params)


def list_context(params: ImmutableMultiDict) -> dict:
    """The list's state from query parameters (``params.getlist`` for the columns)."""
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


def list_extra(ctx: dict) -> dict:
    """View, sort, page size and columns as query parameters (defaults left out)."""
    extra = {"view": ctx["view"], "sort": ctx["sort"], "per": ctx["per"], "cols": ctx["columns"]}
    if ctx["sort"] == lq.DEFAULT_SORT:
        extra.pop("sort")
    if ctx["per"] == lq.DEFAULT_PAGE_SIZE:
        extra.pop("per")
    if ctx["columns"] == lq.DEFAULT_COLUMNS:
        extra.pop("cols")
    if ctx["view"] == "table":
        extra.pop("view")
    return extra


def list_query(ctx: dict) -> str:
    """The list's state as a normalised query string (no page): what a saved filter keeps."""
    return lq.url_with("", {**ctx["filters"].params(), **list_extra(ctx)}).lstrip("?")
