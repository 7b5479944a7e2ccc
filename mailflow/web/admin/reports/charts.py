"""The reports' charts: SVG rendered on the server by pygal, without its JavaScript (the
console runs none), embedded inline in the pages. Figures come computed
(``mailflow.app.reports``); this module only draws them."""

from __future__ import annotations

import re
from datetime import date
from functools import cache

from markupsafe import Markup

from mailflow.app.reports.overview import Overview
from mailflow.app.reports.samples import SampleSeries
from mailflow.app.reports.speed import SpeedReport
from mailflow.i18n import gettext
from mailflow.lazy import LazyModule

# pygal (about 6 MB) is loaded by the first chart drawn, not by every process that imports the
# web app (mailflow.lazy).
pygal = LazyModule("pygal")
pygal_style = LazyModule("pygal.style")


@cache
def _style():
    return pygal_style.Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#24292f",
        foreground_strong="#24292f",
        foreground_subtle="#8c959f",
        font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
        title_font_size=15,
        legend_font_size=12,
        label_font_size=11,
        major_label_font_size=11,
        colors=("#0969da", "#1a7f37", "#bf8700", "#cf222e", "#8250df", "#57606a", "#1b7c83"),
    )


def _config(title: str, **extra) -> dict:
    return {
        "title": title,
        "style": _style(),
        "js": [],  # no script: the console runs none
        "disable_xml_declaration": True,
        "width": 860,
        "height": 320,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "truncate_legend": -1,
        "truncate_label": -1,
        "show_minor_x_labels": False,
        "margin": 12,
        "margin_bottom": 28,  # room for a second row of legend
        "no_data_text": extra.pop("no_data_text", "—"),
        **extra,
    }


# pygal writes its configuration into the SVG as a script even with ``js=[]``: it is dropped
# (the console runs no script; the page's CSP would block it anyway).
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _svg(chart) -> Markup:
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    return Markup(svg)  # noqa: S704 - pygal escapes the labels


def _day_labels(days: list[date]) -> tuple[list[str], int]:
    every = max(1, len(days) // 10)
    return [d.strftime("%d.%m") for d in days], every


def _daily(kind, title: str, days: list[date], series: dict[str, list], **extra) -> Markup:
    labels, every = _day_labels(days)
    chart = kind(**_config(title, x_labels_major_every=every, **extra))
    chart.x_labels = labels
    for name, values in series.items():
        chart.add(name, values)
    return _svg(chart)


def overview_charts(view: Overview, language: str, labels: dict[str, str]) -> dict[str, Markup]:
    """Every chart of the reports page (and of an installer's drill-down)."""
    nodata = gettext(language, "No data")
    days = view.days

    def named(series: dict[str, list[int]]) -> dict[str, list[int]]:
        return {labels.get(k, k): v for k, v in series.items()}

    charts = {
        "leads_by_source": _daily(
            pygal.StackedBar,
            gettext(language, "Leads per day by source"),
            days,
            named(view.leads_by_source),
            no_data_text=nodata,
        ),
        "leads_by_product": _daily(
            pygal.StackedBar,
            gettext(language, "Leads per day by product"),
            days,
            named(view.leads_by_product),
            no_data_text=nodata,
        ),
        "acceptance": _daily(
            pygal.Line,
            gettext(language, "Acceptance rate per day (percent)"),
            days,
            {
                gettext(language, "Accepted, share of offers answered or timed out"): [
                    None if v is None else round(v, 1) for v in view.acceptance_rate
                ]
            },
            range=(0, 100),
            no_data_text=nodata,
        ),
        "time_to_accept": _daily(
            pygal.Line,
            gettext(language, "Median time to accept per day (minutes)"),
            days,
            {
                gettext(language, "Median minutes"): [
                    None if v is None else round(v, 1) for v in view.median_accept_minutes
                ]
            },
            no_data_text=nodata,
        ),
        "timed_out": _daily(
            pygal.Bar,
            gettext(language, "Offers timed out per day"),
            days,
            {gettext(language, "Timed out"): view.timed_out},
            no_data_text=nodata,
        ),
        "funnel": funnel_chart(view, language, labels, nodata),
    }
    charts.update(sample_charts(view.samples, language, nodata))
    return charts


def funnel_chart(view: Overview, language: str, labels: dict[str, str], nodata: str) -> Markup:
    chart = pygal.HorizontalBar(
        **_config(
            gettext(language, "From offer to installed (leads received in the range)"),
            show_legend=False,
            print_values=True,
            no_data_text=nodata,
            height=280,
        )
    )
    stages = list(reversed(view.funnel))
    chart.x_labels = [labels.get(stage.key, stage.key) for stage in stages]
    if any(stage.leads for stage in stages):
        chart.add(gettext(language, "Leads"), [stage.leads for stage in stages])
    return _svg(chart)


def sample_charts(samples: SampleSeries, language: str, nodata: str) -> dict[str, Markup]:
    def timeline(title: str, series: dict[str, list]) -> Markup:
        chart = pygal.DateTimeLine(
            **_config(
                title,
                x_value_formatter=lambda at: at.strftime("%d.%m %H:%M"),
                x_label_rotation=0,
                show_dots=len(samples.at) < 60,
                no_data_text=nodata,
            )
        )
        for name, values in series.items():
            points = [(at, v) for at, v in zip(samples.at, values, strict=True) if v is not None]
            if points:
                chart.add(name, points)
        return _svg(chart)

    return {
        "pool": timeline(
            gettext(language, "Pool size over time"),
            {
                gettext(language, "In the pool"): samples.pool,
                gettext(language, "Listed in the exchange"): samples.exchange,
                gettext(language, "Waiting for a free installer"): samples.waiting,
            },
        ),
        "queues": timeline(
            gettext(language, "Outbox and job queue depth over time"),
            {
                gettext(language, "Outbox: mail not sent yet"): samples.outbox,
                gettext(language, "Job queues: messages waiting"): samples.queue,
            },
        ),
    }


def speed_chart(report: SpeedReport, language: str) -> Markup:
    """The speed report's chart: median minutes from arrival to first contact (and to
    acceptance) of the leads that arrived each day."""

    def in_minutes(values) -> list:
        return [None if v is None else round(v.total_seconds() / 60, 1) for v in values]

    return _daily(
        pygal.Line,
        gettext(language, "Median time to first contact per day (minutes)"),
        report.days,
        {
            gettext(language, "To first contact"): in_minutes(report.median_contact_per_day),
            gettext(language, "To acceptance"): in_minutes(report.median_accept_per_day),
        },
        no_data_text=gettext(language, "No data"),
    )
