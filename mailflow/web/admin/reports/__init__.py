"""The admin console's reports (``/admin/reports``): pages that render the figures of
``mailflow.app.reports`` (charts as server-side SVG, tables sortable by GET links, CSV and XLSX
exports). Every admin role may read them."""

from mailflow.web.admin.reports import fairness, speed
from mailflow.web.admin.reports.pages import router

router.include_router(speed.router)
router.include_router(fairness.router)

__all__ = ["router"]
