"""The reports (/admin/reports): every figure computed from a known set of leads, offers,
status steps and ratings, compared with the page, the CSV and the XLSX; sorting, filters and
the viewer's access (service-level lists and samples: test_reports_service.py).

The data set lives in the first week of February 2026 (explicit timestamps, never today's
date); the reports are asked for that range.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from mailflow.app.reports.common import ReportFilters
from mailflow.app.reports.installers import installer_rows
from mailflow.app.reports.overview import overview
from mailflow.app.reports.sources import source_rows
from mailflow.db import session_scope
from support.report_data import RANGE, F, seed
from support.web import signed_in_client


@pytest.fixture
def data(settings):
    """The known data set (tests/support/report_data.py): ids by name."""
    return seed(settings)


# ------------------------------------------------------------------ the figures -------------
EXPECTED_INSTALLERS = {
    # offered, accepted, declined, timed out, claimed, median response, progress, won,
    # average rating, ratings, score, tier
    "Alpha": [3, 2, 0, 1, 0, 60.0, 2, 1, 4.67, 1, 80.0, "gold"],
    "Bravo": [2, 1, 1, 0, 0, 35.0, 0, 0, 3.33, 1, 55.5, "silver"],
}
EXPECTED_SOURCES = {
    # leads, duplicates, quarantined, accepted, won, quoted value, accepted %, won %
    "calculator": [3, 0, 0, 2, 1, 10000.0, 66.7, 33.3],
    "webhook": [2, 1, 0, 1, 0, 5000.5, 100.0, 0.0],
    "email": [1, 0, 1, 0, 0, 0.0, None, None],
}
SOURCE_NAMES = {"calculator": "Calculator form", "webhook": "Webhook client", "email": "Email"}


def _installer_figures(row) -> list:
    return [
        row.offered,
        row.accepted,
        row.declined,
        row.timed_out,
        row.claimed,
        row.median_response_minutes,
        row.progress_recorded,
        row.won,
        round(row.average_rating, 2),
        row.ratings,
        row.score,
        row.tier,
    ]


def test_the_figures_from_a_known_data_set(settings, data):
    with session_scope(settings) as s:
        view = overview(s, F)
        installers = installer_rows(s, F)
        sources = source_rows(s, F)
    t = view.totals
    assert (t.leads, t.offers, t.accepted, t.declined, t.timed_out) == (6, 5, 3, 1, 1)
    assert t.acceptance_rate == pytest.approx(60.0)
    assert t.median_accept_minutes == pytest.approx(30.0)
    day = {d: n for n, d in enumerate(view.days)}
    feb = lambda n: day[date(2026, 2, n)]  # noqa: E731
    assert view.leads_by_source["calculator"][feb(2)] == 1
    assert view.leads_by_source["calculator"][feb(3)] == 1
    assert view.leads_by_source["webhook"][feb(3)] == 1
    assert [view.leads_by_source[k][feb(4)] for k in ("calculator", "email", "webhook")] == [
        1,
        1,
        1,
    ]
    assert sum(map(sum, view.leads_by_source.values())) == 6
    assert view.leads_by_product["none"][feb(4)] == 1
    assert view.acceptance_rate[feb(2)] == pytest.approx(100.0)
    assert view.acceptance_rate[feb(3)] == pytest.approx(100 / 3)
    assert view.acceptance_rate[feb(1)] is None
    assert view.median_accept_minutes[feb(3)] == pytest.approx(90.0)
    assert view.timed_out[feb(3)] == 1 and sum(view.timed_out) == 1
    funnel = {stage.key: (stage.leads, stage.quoted_value) for stage in view.funnel}
    assert funnel == {
        "received": (4, 15000.5),
        "offered": (4, 15000.5),
        "accepted": (3, 15000.5),
        "contacted": (2, 15000.5),
        "quote_sent": (2, 15000.5),
        "order_placed": (1, 10000.0),
        "installed": (1, 10000.0),
    }
    assert {r.name: _installer_figures(r) for r in installers} == EXPECTED_INSTALLERS
    assert [r.name for r in installers] == ["Alpha", "Bravo"]  # most offers first
    got = {
        r.source: [
            r.leads,
            r.duplicates,
            r.quarantined,
            r.accepted,
            r.won,
            r.quoted_value,
            None if r.acceptance_rate is None else round(r.acceptance_rate, 1),
            None if r.won_rate is None else round(r.won_rate, 1),
        ]
        for r in sources
    }
    assert got == EXPECTED_SOURCES


def _cells(html: str, row_attr: str, key) -> dict[str, str]:
    match = re.search(rf'<tr {row_attr}="{key}">(.*?)</tr>', html, re.S)
    assert match, f"no row {row_attr}={key}"
    return dict(re.findall(r'data-col="(\w+)">([^<]*)<', match.group(1)))


def _num(text: str):
    return None if text.strip() in ("—", "") else float(text)


def test_the_pages_show_the_figures(settings, data):
    client = signed_in_client(settings)
    page = client.get("/admin/reports", params=RANGE)
    assert page.status_code == 200
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', page.text))
    assert figures == {
        "leads": "6",
        "offers": "5",
        "accepted": "3",
        "declined": "1",
        "timed_out": "1",
        "acceptance_rate": "60.0 %",
        "median_accept_minutes": "30.0",
    }
    assert page.text.count("<svg") >= 8
    assert "<script" not in page.text
    funnel = re.findall(
        r'data-stage="(\w+)">.*?data-label="[^"]*">(\d+)</td>.*?<td class="num" data-label="[^"]*">([\d.]+)</td>\s*</tr>',
        page.text,
        re.S,
    )
    assert [(k, int(n), float(v)) for k, n, v in funnel][-1] == ("installed", 1, 10000.0)
    assert [int(n) for _, n, _ in funnel] == [4, 4, 3, 2, 2, 1, 1]

    table = client.get("/admin/reports/installers", params=RANGE).text
    for name, installer_id in (("Alpha", data["a"]), ("Bravo", data["b"])):
        cells = _cells(table, "data-installer", installer_id)
        expected = EXPECTED_INSTALLERS[name]
        assert [
            int(cells["offered"]),
            int(cells["accepted"]),
            int(cells["declined"]),
            int(cells["timed_out"]),
            int(cells["claimed"]),
            _num(cells["median_response_minutes"]),
            int(cells["progress_recorded"]),
            int(cells["won"]),
            _num(cells["average_rating"]),
            int(cells["ratings"]),
            _num(cells["score"]),
        ] == expected[:11]
        assert f'href="/admin/reports/installers/{installer_id}?' in table
    assert f'data-installer="{data["c"]}"' not in table  # no offer in the range

    sources = client.get("/admin/reports/sources", params=RANGE).text
    for source, expected in EXPECTED_SOURCES.items():
        cells = _cells(sources, "data-source", source)
        assert [
            int(cells["leads"]),
            int(cells["duplicates"]),
            int(cells["quarantined"]),
            int(cells["accepted"]),
            int(cells["won"]),
            _num(cells["quoted_value"]),
            _num(cells["acceptance_rate"]),
            _num(cells["won_rate"]),
        ] == expected


def test_the_exports_hold_the_figures(settings, data):
    client = signed_in_client(settings)
    response = client.get("/admin/reports/installers.csv", params=RANGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Installer", "Tier", "Score", "Offered"]
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"Alpha", "Bravo"}
    for name, expected in EXPECTED_INSTALLERS.items():
        (
            offered,
            accepted,
            declined,
            timed_out,
            claimed,
            median,
            progress,
            won,
            rating,
            n,
            score,
            tier,
        ) = expected
        assert by_name[name] == [
            name,
            tier,
            str(score),
            str(offered),
            str(accepted),
            str(declined),
            str(timed_out),
            str(claimed),
            str(median),
            str(progress),
            str(won),
            str(rating),
            str(n),
        ]

    response = client.get("/admin/reports/installers.xlsx", params=RANGE)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == sheet.dimensions
    values = list(sheet.iter_rows(values_only=True))
    by_name = {row[0]: row for row in values[1:]}
    for name, expected in EXPECTED_INSTALLERS.items():
        (
            offered,
            accepted,
            declined,
            timed_out,
            claimed,
            median,
            progress,
            won,
            rating,
            n,
            score,
            tier,
        ) = expected
        assert list(by_name[name]) == [
            name,
            tier,
            score,
            offered,
            accepted,
            declined,
            timed_out,
            claimed,
            median,
            progress,
            won,
            rating,
            n,
        ]
        assert all(isinstance(v, int | float) for v in by_name[name][2:11])  # numbers, not text
    about = {row[0]: row[1] for row in book.worksheets[1].iter_rows(values_only=True)}
    assert about["from"].date() == date(2026, 2, 1) and about["to"].date() == date(2026, 2, 7)

    response = client.get("/admin/reports/sources.csv", params=RANGE)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    by_source = {row[0]: row[1:] for row in rows[1:]}
    for source, expected in EXPECTED_SOURCES.items():
        assert by_source[SOURCE_NAMES[source]] == ["" if v is None else str(v) for v in expected]
    response = client.get("/admin/reports/sources.xlsx", params=RANGE)
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == sheet.dimensions
    by_source = {row[0]: list(row[1:]) for row in sheet.iter_rows(min_row=2, values_only=True)}
    for source, expected in EXPECTED_SOURCES.items():
        assert by_source[SOURCE_NAMES[source]] == expected


def test_the_installer_table_sorts_by_any_column(settings, data):
    client = signed_in_client(settings)

    def order(sort: str) -> list[str]:
        html = client.get("/admin/reports/installers", params={**RANGE, "sort": sort}).text
        return re.findall(r'<tr data-installer="\d+">\s*<td[^>]*><a[^>]*>(\w+)</a>', html)

    assert order("-offered") == ["Alpha", "Bravo"]
    assert order("median_response_minutes") == ["Bravo", "Alpha"]
    assert order("-median_response_minutes") == ["Alpha", "Bravo"]
    assert order("declined") == ["Alpha", "Bravo"]
    assert order("-declined") == ["Bravo", "Alpha"]
    assert order("-name") == ["Bravo", "Alpha"]
    # the header links toggle the direction and keep the range
    html = client.get("/admin/reports/installers", params={**RANGE, "sort": "-won"}).text
    assert (
        'href="/admin/reports/installers?start=2026-02-01&amp;end=2026-02-07&amp;sort=won"' in html
    )
    csv_text = client.get(
        "/admin/reports/installers.csv", params={**RANGE, "sort": "median_response_minutes"}
    ).content.decode("utf-8-sig")
    assert [row[0] for row in csv.reader(io.StringIO(csv_text))][1:] == ["Bravo", "Alpha"]
    assert client.get("/admin/reports/installers", params={"sort": "nope"}).status_code == 400


def test_filters_narrow_every_figure(settings, data):
    client = signed_in_client(settings)
    page = client.get("/admin/reports", params={**RANGE, "area": "75"}).text
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', page))
    assert (figures["leads"], figures["offers"], figures["accepted"]) == ("3", "2", "2")
    with session_scope(settings) as s:
        rows = installer_rows(s, ReportFilters(F.start, F.end, area="75"))
        assert [(r.name, r.offered, r.accepted, r.timed_out) for r in rows] == [("Alpha", 2, 2, 0)]
        silver = installer_rows(s, ReportFilters(F.start, F.end, tier="silver"))
        assert [r.name for r in silver] == ["Bravo"]
        by_b = overview(s, ReportFilters(F.start, F.end, installer_id=data["b"]))
        assert (by_b.totals.leads, by_b.totals.offers, by_b.totals.declined) == (2, 2, 1)
        pv = source_rows(s, ReportFilters(F.start, F.end, product="pv"))
        assert [(r.source, r.leads) for r in pv] == [("calculator", 2)]
        webhook = overview(s, ReportFilters(F.start, F.end, source="webhook"))
        assert webhook.totals.leads == 2
    table = client.get("/admin/reports/installers", params={**RANGE, "tier": "silver"}).text
    assert f'data-installer="{data["a"]}"' not in table
    assert _cells(table, "data-installer", data["b"])["offered"] == "2"
    # The drill-down: the installer's own figures and charts, and a link to their page.
    detail = client.get(f"/admin/reports/installers/{data['a']}", params=RANGE)
    assert detail.status_code == 200
    assert _cells(detail.text, "data-installer", data["a"])["timed_out"] == "1"
    assert f'href="/admin/installers/{data["a"]}"' in detail.text
    assert detail.text.count("<svg") >= 8
    assert client.get("/admin/reports/installers/999999").status_code == 404
    # odd input: a 400 page, never a 500
    for params in (
        {"start": "yesterday"},
        {"start": "2026-02-07", "end": "2026-02-01"},
        {"installer": "x"},
        {"tier": "platinum"},
        {"start": "2020-01-01"},
        {"area": "7" * 100},
    ):
        assert client.get("/admin/reports", params=params).status_code == 400, params


def test_a_viewer_reads_every_report(settings, data):
    client = signed_in_client(settings, role="viewer", email="viewer@example.com")
    for path in (
        "/admin/reports",
        "/admin/reports/installers",
        "/admin/reports/sources",
        "/admin/reports/service",
        f"/admin/reports/installers/{data['a']}",
        "/admin/reports/installers.csv",
        "/admin/reports/sources.xlsx",
    ):
        assert client.get(path, params=RANGE).status_code == 200, path
    nav = client.get("/admin/reports").text
    assert 'href="/admin/reports" class="active"' in nav
    anonymous = signed_in_client(settings, email="other@example.com")
    anonymous.cookies.clear()
    assert anonymous.get("/admin/reports", follow_redirects=False).status_code == 303
