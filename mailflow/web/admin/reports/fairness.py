"""The fairness check (#20, ``/admin/reports/fairness``): leads offered to each installer in
the range against their share of the tier weights among the installers eligible for each
lead (``mailflow.domain.fairness``), with a CSV export."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mailflow.app.reports.common import BadFilter, ReportFilters
from mailflow.app.reports.fairness import FairnessReport, fairness_report
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain.fairness import FAIR, LESS, MORE
from mailflow.i18n import gettext
from mailflow.web.admin.auth import CurrentAdmin
from mailflow.web.admin.reports.pages import N_, _bad, _exported, _page
from mailflow.web.admin.reports.params import read_filters

# Included in ``pages.router`` (prefix ``/admin/reports``).
router = APIRouter(include_in_schema=False)

VERDICTS = {
    FAIR: N_("in line with their share"),
    MORE: N_("more than their share"),
    LESS: N_("less than their share"),
}
COLUMNS = (
    ("installer", N_("Installer")),
    ("tier", N_("Tier")),
    ("eligible", N_("Decisions eligible")),
    ("offered", N_("Leads offered")),
    ("expected", N_("Fair share (leads)")),
    ("ratio", N_("Offered / fair share")),
    ("verdict", N_("Verdict")),
)


def _report(request: Request) -> tuple[ReportFilters, FairnessReport]:
    f = read_filters(request)
    with session_scope() as session:
        return f, fairness_report(session, f, get_settings().share_weights)


def fairness_table(report: FairnessReport, language: str) -> list[list]:
    return [
        [
            row.email,
            row.tier,
            row.share.decisions,
            row.share.offered,
            round(row.share.expected, 1),
            None if row.share.ratio is None else round(row.share.ratio, 2),
            gettext(language, VERDICTS[row.share.verdict]),
        ]
        for row in report.rows
    ]


@router.get("/fairness")
def fairness_page(request: Request, admin: CurrentAdmin) -> Response:
    try:
        f, report = _report(request)
    except BadFilter as exc:
        return _bad(request, admin, exc)
    return _page(
        request,
        admin,
        "admin/reports/fairness.html",
        f,
        report=report,
        verdicts=VERDICTS,
        weights=get_settings().share_weights,
    )


@router.get("/fairness.csv")
def fairness_csv(request: Request, admin: CurrentAdmin) -> Response:
    return _exported(
        request, admin, "fairness", "csv", read=_report, table=fairness_table, columns=COLUMNS
    )
