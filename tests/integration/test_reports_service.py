"""The reports' service-level lists (offers about to time out, reservations about to lapse,
installers with bounces, longest waits) and the sweep that samples pool size, outbox and queue
depth, on the data set of tests/support/report_data.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mailflow import clock
from mailflow.app.reports.overview import overview
from mailflow.app.reports.samples import record_sample
from mailflow.app.reports.service import service_lists
from mailflow.db import session_scope
from mailflow.models import LeadStatus, Offer, OfferStatus, ReportSample, Timer
from mailflow.schedule import run_sweep
from support.report_data import RANGE, F, add_lead, seed
from support.web import signed_in_client


@pytest.fixture
def data(settings):
    """The known data set (tests/support/report_data.py): ids by name."""
    return seed(settings)


def test_the_service_lists(settings, data):
    at = clock.now()
    with session_scope(settings) as s:
        lead = add_lead(s, at - timedelta(hours=3), "calculator", "pv", "75004", LeadStatus.OFFERED)
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
