"""The speed-to-lead report (#20): time-to-acceptance and time-to-first-contact figures
computed by hand from a known set of leads match the page (/admin/reports/speed), its CSV,
its XLSX and GET /api/speed.

The data set lives on 2–4 March 2026 (explicit timestamps, never today's date); the report
is asked for that range, the API for the same instants (the report's days are UTC here)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.models import AuditEntry, Installer, Lead, LeadStatus, Offer, OfferStatus
from support.web import AUTH, choose_language, signed_in_client

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
RANGE = {"start": "2026-03-02", "end": "2026-03-04"}
PERIOD = {"created_from": "2026-03-02T00:00:00Z", "created_to": "2026-03-05T00:00:00Z"}
ALPHA, BRAVO = "alpha@installers.example", "bravo@installers.example"

# (day, source, product, holder, minutes to acceptance, minutes to first contact)
KNOWN = [
    (0, "calculator", "pv", ALPHA, 5, 20),
    (0, "calculator", "pv", ALPHA, 15, 90),
    (1, "webhook", "heat_pump", ALPHA, 30, None),  # accepted, no contact yet
    (1, "webhook", "heat_pump", BRAVO, 10, 40),
    (2, "email", None, BRAVO, 120, 600),
    (2, "calculator", "battery", None, None, None),  # nobody took it yet
]


def seed(settings) -> None:
    with session_scope(settings) as s:
        ids = {}
        for email, name, tier in ((ALPHA, "Alpha", "gold"), (BRAVO, "Bravo", "silver")):
            row = Installer(email=email, name=name, country="FR", postcodes="75", tier=tier)
            s.add(row)
            s.flush()
            ids[email] = row.id

        def lead(arrived, source, product, holder, accepted, contact, status=None) -> int:
            accepted_at = arrived + timedelta(minutes=accepted) if accepted else None
            row = Lead(
                customer_name="Client",
                postcode="75011",
                country="FR",
                source=source,
                product=product,
                status=status or (LeadStatus.ACCEPTED if holder else LeadStatus.POOL),
                assigned_installer_id=ids.get(holder),
                created_at=arrived,
                updated_at=arrived,
                accepted_at=accepted_at,
                first_contact_at=arrived + timedelta(minutes=contact) if contact else None,
            )
            s.add(row)
            s.flush()
            if holder:
                s.add(
                    Offer(
                        lead_id=row.id,
                        installer_id=ids[holder],
                        status=OfferStatus.ACCEPTED,
                        offered_at=arrived,
                        deadline=arrived + timedelta(hours=24),
                        answered_at=accepted_at,
                    )
                )
            return row.id

        first = None
        for n, (day, source, product, holder, accepted, contact) in enumerate(KNOWN):
            arrived = T0 + timedelta(days=day, hours=n)
            made = lead(arrived, source, product, holder, accepted, contact)
            first = first or made
        # Left out: a duplicate in the range, and a quick lead the day before the range.
        lead(T0, "calculator", "pv", ALPHA, 1, 2, status=LeadStatus.DUPLICATE)
        lead(T0 - timedelta(days=1), "calculator", "pv", ALPHA, 1, 2)


def minutes(n: float) -> int:
    return round(n * 60)  # in seconds, as the API gives them


# Expected figures, by hand from KNOWN (nearest-rank p90; an even count's median is the mean
# of the two middle values): key -> (leads, (accepted, median, p90), (contacted, median, p90)).
EXPECTED = {
    "": {
        # acceptance 5, 10, 15, 30, 120: median 15, p90 the 5th of 5 = 120
        # first contact 20, 40, 90, 600: median (40 + 90) / 2 = 65, p90 the 4th of 4 = 600
        None: (6, (5, minutes(15), minutes(120)), (4, minutes(65), minutes(600))),
    },
    "installer": {
        ALPHA: (3, (3, minutes(15), minutes(30)), (2, minutes(55), minutes(90))),
        BRAVO: (2, (2, minutes(65), minutes(120)), (2, minutes(320), minutes(600))),
        None: (1, (0, None, None), (0, None, None)),
    },
    "source": {
        "calculator": (3, (2, minutes(10), minutes(15)), (2, minutes(55), minutes(90))),
        "email": (1, (1, minutes(120), minutes(120)), (1, minutes(600), minutes(600))),
        "webhook": (2, (2, minutes(20), minutes(30)), (1, minutes(40), minutes(40))),
    },
    "product": {
        "battery": (1, (0, None, None), (0, None, None)),
        "heat_pump": (2, (2, minutes(20), minutes(30)), (1, minutes(40), minutes(40))),
        "pv": (2, (2, minutes(10), minutes(15)), (2, minutes(55), minutes(90))),
        None: (1, (1, minutes(120), minutes(120)), (1, minutes(600), minutes(600))),
    },
    "tier": {
        "gold": (3, (3, minutes(15), minutes(30)), (2, minutes(55), minutes(90))),
        "silver": (2, (2, minutes(65), minutes(120)), (2, minutes(320), minutes(600))),
        None: (1, (0, None, None), (0, None, None)),
    },
}
# The labels the page and the exports show for the keys (English console).
LABELS = {
    "calculator": "Calculator form",
    "webhook": "Webhook client",
    "email": "Email",
    "pv": "Solar PV",
    "heat_pump": "Heat pump",
    "battery": "Battery",
}
NONE_LABEL = {
    "": "All leads",
    "installer": "Not taken yet",
    "tier": "Not taken yet",
    "product": "No product given",
}
GROUP_NAMES = {
    "": "All leads",
    "installer": "Installer",
    "source": "Source",
    "product": "Product",
    "tier": "Tier",
}


@pytest.fixture
def client(settings):
    seed(settings)
    return signed_in_client(settings)


def _api(client, by: str | None) -> dict:
    params = {**PERIOD, **({"by": by} if by else {})}
    response = client.get("/api/speed", params=params, headers=AUTH)
    assert response.status_code == 200
    return {
        g["key"]: (
            g["leads"],
            tuple(g["to_acceptance"][k] for k in ("count", "median_seconds", "p90_seconds")),
            tuple(g["to_first_contact"][k] for k in ("count", "median_seconds", "p90_seconds")),
        )
        for g in response.json()["groups"]
    }


def test_the_api_gives_the_figures_computed_by_hand(client):
    for by, expected in EXPECTED.items():
        assert _api(client, by or None) == expected, by


def _seconds(cell: str) -> int | None:
    found = re.search(r'data-seconds="(\d+)"', cell)
    return int(found.group(1)) if found else None


def _table(html: str, by: str) -> dict:
    table = re.search(rf'<table class="list speed" id="speed-by-{by}">(.*?)</table>', html, re.S)
    assert table, by
    rows = {}
    for key, body in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', table.group(1), re.S):
        cells = dict(re.findall(r'<td class="num" data-col="(\w+)"([^>]*>[^<]*)<', body))
        count = lambda col, cells=cells: int(cells[col].rsplit(">", 1)[1])  # noqa: E731
        rows[key or None] = (
            count("leads"),
            (
                count("accepted"),
                _seconds(cells["to_acceptance_median"]),
                _seconds(cells["to_acceptance_p90"]),
            ),
            (
                count("contacted"),
                _seconds(cells["to_first_contact_median"]),
                _seconds(cells["to_first_contact_p90"]),
            ),
        )
    return rows


def test_the_page_shows_the_same_figures(client):
    page = client.get("/admin/reports/speed", params=RANGE)
    assert page.status_code == 200
    html = page.text
    figures = {
        name: (seconds, text)
        for name, seconds, text in re.findall(
            r'<b data-figure="(\w+)"(?: data-seconds="(\d+)")?>([^<]*)</b>', html
        )
    }
    leads, accept, contact = EXPECTED[""][None]
    assert figures["leads"] == ("", str(leads))
    # The headline, in hours and minutes: 65 min, 600 min = 10 h, 15 min, 120 min = 2 h.
    assert figures["to_first_contact_median"] == (str(contact[1]), "1 hr 5 min")
    assert figures["to_first_contact_p90"] == (str(contact[2]), "10 hr")
    assert figures["to_acceptance_median"] == (str(accept[1]), "15 min")
    assert figures["to_acceptance_p90"] == (str(accept[2]), "2 hr")
    for by in ("installer", "source", "product", "tier"):
        assert _table(html, by) == EXPECTED[by], by
    # The shown minutes agree with the seconds: Bravo's median to first contact, 320 min.
    bravo = re.search(rf'<tr data-key="{BRAVO}">(.*?)</tr>', html, re.S).group(1)
    assert 'data-col="to_first_contact_median" data-seconds="19200">320.0<' in bravo
    # The chart of the median time to first contact per day: 55, 40 and 600 minutes.
    chart = re.search(r'<figure class="chart" id="chart-speed"[^>]*>(.*?)</figure>', html, re.S)
    assert chart and "<svg" in chart.group(1) and "<script" not in html
    assert "Median time to first contact per day" in chart.group(1)
    for value in ("55", "40", "600"):
        assert f">{value}<" in chart.group(1)


def _key(by: str, label: str):
    """The API's key of a label shown in the exports."""
    if by == "":
        return None
    if label == NONE_LABEL.get(by):
        return None
    return {text: key for key, text in LABELS.items()}.get(label, label)


def _minutes_to_seconds(value) -> int | None:
    return None if value in (None, "") else round(float(value) * 60)


def test_the_csv_and_xlsx_hold_the_same_figures(client, settings):
    response = client.get("/admin/reports/speed.csv", params=RANGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Grouped by",
        "Group",
        "Leads",
        "Accepted",
        "Median to acceptance (min)",
        "p90 to acceptance (min)",
        "First contacts",
        "Median to first contact (min)",
        "p90 to first contact (min)",
    ]
    book = load_workbook(io.BytesIO(client.get("/admin/reports/speed.xlsx", params=RANGE).content))
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == sheet.dimensions
    xlsx_rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(xlsx_rows) == len(rows) - 1 == sum(len(groups) for groups in EXPECTED.values())
    for csv_row, xlsx_row in zip(rows[1:], xlsx_rows, strict=True):
        assert csv_row[:2] == list(xlsx_row[:2])
        assert [float(v) if v else None for v in csv_row[2:]] == list(xlsx_row[2:])
        assert all(isinstance(v, int | float) for v in xlsx_row[2:] if v is not None)
    by_name = {name: by for by, name in GROUP_NAMES.items()}
    got: dict[str, dict] = {}
    for group, label, leads, accepted, a_med, a_p90, contacted, c_med, c_p90 in rows[1:]:
        by = by_name[group]
        got.setdefault(by, {})[_key(by, label)] = (
            int(leads),
            (int(accepted), _minutes_to_seconds(a_med), _minutes_to_seconds(a_p90)),
            (int(contacted), _minutes_to_seconds(c_med), _minutes_to_seconds(c_p90)),
        )
    assert got == EXPECTED
    assert rows[1][:2] == ["All leads", "All leads"]  # the headline row first
    with session_scope(settings) as s:
        exports = s.scalars(select(AuditEntry.data).where(AuditEntry.action == "reports.export"))
        assert sorted((d["report"], d["format"]) for d in exports) == [
            ("speed", "csv"),
            ("speed", "xlsx"),
        ]


def test_filters_select_the_holder_and_odd_input_is_a_400(client, settings):
    html = client.get("/admin/reports/speed", params={**RANGE, "tier": "gold"}).text
    assert _table(html, "installer") == {ALPHA: EXPECTED["installer"][ALPHA]}
    html = client.get("/admin/reports/speed", params={**RANGE, "source": "webhook"}).text
    assert _table(html, "source") == {"webhook": EXPECTED["source"]["webhook"]}
    assert client.get("/admin/reports/speed", params={"start": "March"}).status_code == 400
    assert client.get("/admin/reports/speed.csv", params={"tier": "platinum"}).status_code == 400
    viewer = signed_in_client(settings, role="viewer", email="viewer@example.com")
    assert viewer.get("/admin/reports/speed", params=RANGE).status_code == 200
    assert viewer.get("/admin/reports/speed.csv", params=RANGE).status_code == 200


def test_the_report_follows_the_admins_language(client):
    choose_language(client, "fr")
    page = client.get("/admin/reports/speed", params=RANGE).text
    assert "Rapidité de traitement" in page and "Délai médian jusqu'au premier contact" in page
    assert "1\u202fh 5\u00a0min" in page  # the headline in French units
    rows = list(
        csv.reader(
            io.StringIO(
                client.get("/admin/reports/speed.csv", params=RANGE).content.decode("utf-8-sig")
            )
        )
    )
    assert rows[0][:3] == ["Regroupé par", "Groupe", "Leads"]
    assert rows[1][:2] == ["Tous les leads", "Tous les leads"]
    assert ["Installateur", "Pas encore pris"] in [row[:2] for row in rows]
