"""The reports (/admin/reports): every figure computed from a known set of leads, offers,
status steps and ratings, compared with the page, the CSV and the XLSX; sorting, filters, the
viewer's access, the service-level lists and the sampling sweep.

The data set lives in the first week of February 2026 (explicit timestamps, never today's
date); the reports are asked for that range.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from mailflow import clock
from mailflow.app.reports.common import ReportFilters
from mailflow.app.reports.installers import installer_rows
from mailflow.app.reports.overview import overview
from mailflow.app.reports.samples import record_sample
from mailflow.app.reports.service import service_lists
from mailflow.app.reports.sources import source_rows
from mailflow.db import session_scope
from mailflow.models import (
    Actor,
    Installer,
    Lead,
    LeadEvent,
    LeadStatus,
    Offer,
    OfferStatus,
    ReportSample,
    Survey,
    Timer,
)
from mailflow.schedule import run_sweep
from support.web import signed_in_client

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
RANGE = {"start": "2026-02-01", "end": "2026-02-07"}
F = ReportFilters(start=date(2026, 2, 1), end=date(2026, 2, 7))


def _installer(s, name, tier, score, **extra) -> int:
    row = Installer(
        email=f"{name.lower()}@installers.example",
        name=name,
        country="FR",
        postcodes="75 69 13",
        tier=tier,
        score=score,
        **extra,
    )
    s.add(row)
    s.flush()
    return row.id


def _lead(s, created, source, product, postcode, status, **extra) -> int:
    row = Lead(
        customer_name="Client",
        postcode=postcode,
        country="FR",
        source=source,
        product=product,
        status=status,
        created_at=created,
        updated_at=created,
        **extra,
    )
    s.add(row)
    s.flush()
    return row.id


def _offer(s, lead, installer, status, offered, answered=None) -> None:
    s.add(
        Offer(
            lead_id=lead,
            installer_id=installer,
            status=status,
            offered_at=offered,
            deadline=offered + timedelta(hours=24),
            answered_at=answered,
        )
    )


def _step(s, lead, at, status) -> None:
    s.add(
        LeadEvent(
            lead_id=lead, at=at, type="status", actor=Actor.INSTALLER, data={"status": status}
        )
    )


@pytest.fixture
def data(settings):
    """Six leads in the range (one before it), five offers, two surveys."""
    m = timedelta(minutes=1)
    with session_scope(settings) as s:
        a = _installer(s, "Alpha", "gold", 80.0)
        b = _installer(s, "Bravo", "silver", 55.5)
        c = _installer(s, "Charlie", "bronze", None, bounced_at=T0)
        quote = lambda amount: {"quote": {"amount": amount, "currency": "EUR"}}  # noqa: E731
        l1 = _lead(
            s,
            T0,
            "calculator",
            "pv",
            "75011",
            LeadStatus.INSTALLED,
            accepted_at=T0 + 35 * m,
            assigned_installer_id=a,
            progress=quote(10000),
        )
        _offer(s, l1, a, OfferStatus.ACCEPTED, T0 + 5 * m, T0 + 35 * m)
        for day, status in enumerate(
            ["contact_attempted", "quote_sent", "order_placed", "installed"], start=1
        ):
            _step(s, l1, T0 + timedelta(days=day), status)
        t2 = T0 + timedelta(days=1)  # 3 February
        l2 = _lead(s, t2, "calculator", "pv", "69001", LeadStatus.POOL)
        _offer(s, l2, b, OfferStatus.DECLINED, t2 + 5 * m, t2 + 65 * m)
        _offer(s, l2, a, OfferStatus.EXPIRED, t2 + 70 * m)
        t3 = T0 + timedelta(days=1, hours=1)
        l3 = _lead(
            s,
            t3,
            "webhook",
            "heat_pump",
            "75002",
            LeadStatus.QUOTE_SENT,
            accepted_at=t3 + 90 * m,
            assigned_installer_id=a,
            progress=quote(5000.5),
        )
        _offer(s, l3, a, OfferStatus.ACCEPTED, t3, t3 + 90 * m)
        _step(s, l3, t3 + timedelta(hours=5), "quote_sent")
        t4 = T0 + timedelta(days=2)  # 4 February
        _lead(
            s,
            t4 - timedelta(hours=1),
            "webhook",
            "heat_pump",
            "13001",
            LeadStatus.DUPLICATE,
            duplicate_of_id=l3,
        )
        _lead(s, t4 + timedelta(hours=3), "email", None, "75001", LeadStatus.QUARANTINED)
        t6 = t4 + timedelta(hours=5)
        l6 = _lead(
            s,
            t6,
            "calculator",
            "battery",
            "69002",
            LeadStatus.ACCEPTED,
            accepted_at=t6 + 10 * m,
            assigned_installer_id=b,
        )
        _offer(s, l6, b, OfferStatus.ACCEPTED, t6, t6 + 10 * m)
        # Before the range: counted nowhere.
        old = _lead(
            s,
            T0 - timedelta(days=13),
            "calculator",
            "pv",
            "75003",
            LeadStatus.ACCEPTED,
            accepted_at=T0 - timedelta(days=13),
            assigned_installer_id=a,
        )
        _offer(s, old, a, OfferStatus.ACCEPTED, T0 - timedelta(days=13), T0 - timedelta(days=13))
        s.add(
            Survey(
                lead_id=l1,
                installer_id=a,
                submitted_at=T0 + timedelta(days=3),
                service=5,
                installation=4,
                communication=5,
            )
        )
        s.add(
            Survey(
                lead_id=l6,
                installer_id=b,
                submitted_at=T0 + timedelta(days=4),
                service=3,
                installation=3,
                communication=4,
            )
        )
    return {"a": a, "b": b, "c": c, "l1": l1, "l2": l2, "l3": l3, "l6": l6}


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


def test_the_service_lists(settings, data):
    at = clock.now()
    with session_scope(settings) as s:
        lead = _lead(s, at - timedelta(hours=3), "calculator", "pv", "75004", LeadStatus.OFFERED)
        s.add(
            Offer(
                lead_id=lead,
                installer_id=data["a"],
                status=OfferStatus.OFFERED,
                offered_at=at - timedelta(hours=22),
                deadline=at + timedelta(hours=2),
            )
        )
        s.add(
            Timer(
                kind="claim_lapse",
                lead_id=data["l6"],
                installer_id=data["b"],
                due_at=at + timedelta(hours=30),
            )
        )
    client = signed_in_client(settings)
    html = client.get("/admin/reports/service", params=RANGE).text
    with session_scope(settings) as s:
        lists = service_lists(s, F, at)
    assert [(d.lead_id, round(d.minutes_left)) for d in lists.offers_due] == [(lead, 120)]
    assert [(d.kind, d.lead_id, round(d.minutes_left)) for d in lists.reservations_due] == [
        ("claim_lapse", data["l6"], 1800)
    ]
    assert [(b.installer_id, b.bounces) for b in lists.bouncing] == [(data["c"], 0)]
    waits = [(w.lead_id, w.still_waiting) for w in lists.longest_waits]
    assert waits == [
        (data["l2"], True),
        (data["l3"], False),
        (data["l1"], False),
        (data["l6"], False),
    ]
    assert [round(w.minutes) for w in lists.longest_waits[1:]] == [90, 35, 10]
    assert re.search(
        rf'id="offers-due".*data-lead="{lead}".*?data-col="minutes_left">1[12]\d<', html, re.S
    )
    assert f'data-installer="{data["c"]}"' in html
    longest = re.search(r'id="longest-waits"(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'data-lead="(\d+)"', longest) == [
        str(data[k]) for k in ("l2", "l3", "l1", "l6")
    ]
    assert '<td class="num" data-col="hours">1.5</td>' in longest


def test_the_sweep_samples_pool_outbox_and_queues_once_per_interval(settings, data):
    at = datetime(2026, 2, 3, 12, 7, 30, tzinfo=UTC)
    assert record_sample(settings, at) == 1
    assert record_sample(settings, at + timedelta(minutes=2)) == 0  # same 5-minute interval
    assert record_sample(settings, at + timedelta(minutes=3)) == 1  # 12:10
    with session_scope(settings) as s:
        s.add(ReportSample(at=at - timedelta(days=500), pool=9, exchange=0, waiting=0, outbox=0))
    assert record_sample(settings, at + timedelta(minutes=10)) == 1  # and prunes the old one
    with session_scope(settings) as s:
        samples = list(s.scalars(select(ReportSample).order_by(ReportSample.at)))
        assert s.scalar(select(func.count()).select_from(ReportSample)) == 3
    assert [x.at.strftime("%H:%M") for x in samples] == ["12:05", "12:10", "12:15"]
    assert all(x.pool == 1 for x in samples)  # lead 2 is in the pool
    with session_scope(settings) as s:
        view = overview(s, F)
    assert view.samples.pool == [1, 1, 1]
    page = signed_in_client(settings).get("/admin/reports", params=RANGE).text
    pool_chart = re.search(r'id="chart-pool".*?</figure>', page, re.S).group(0)
    assert "Pool size over time" in pool_chart and "In the pool" in pool_chart


def test_the_scheduler_sweep_records_the_samples(settings):
    at = datetime(2026, 2, 3, 12, 1, tzinfo=UTC)
    assert run_sweep(settings, at)["report_samples"] == 1
    assert run_sweep(settings, at + timedelta(seconds=5))["report_samples"] == 0
    with session_scope(settings) as s:
        (sample,) = s.scalars(select(ReportSample))
    assert sample.at == datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
    assert (sample.pool, sample.exchange, sample.waiting, sample.outbox) == (0, 0, 0, 0)
