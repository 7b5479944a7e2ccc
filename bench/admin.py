"""Admin console pages with many leads: N leads (default 100,000) bulk-inserted, with offers,
installers and timelines, then each main page fetched through the ASGI app (database, query,
template) a few times.

    python bench/admin.py [N] [-v]

Prints the median and worst time per page, and the SQLite query plan of every statement a page
ran that scans the leads table without an index (there should be none); with -v, the
slowest statements of each page. Set
MAILFLOW_DATABASE_URL to run against PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select, text

from mailflow.config import get_settings
from mailflow.db import get_engine, session_scope
from mailflow.jobs.broker import setup  # noqa: E402
from mailflow.leads.search import index_pending
from mailflow.migrate import upgrade
from mailflow.models import (
    Actor,
    Installer,
    Lead,
    LeadEvent,
    LeadStatus,
    Offer,
    OfferStatus,
)
from mailflow.web.admin.users import create_admin_user
from mailflow.web.app import create_app

setup(broker=StubBroker())

FIRST = [
    "Claire",
    "Émilie",
    "Jean",
    "Lukas",
    "Anna",
    "Marek",
    "Zoé",
    "Hélène",
    "Jürgen",
    "Paul",
    "Sophie",
    "Thomas",
    "Léa",
    "Max",
    "Agnieszka",
    "Louis",
    "Inès",
    "Felix",
    "Chloé",
    "Noah",
]
LAST = [
    "Dubois",
    "Martin",
    "Bernard",
    "Müller",
    "Schmidt",
    "Nowak",
    "Lefèvre",
    "Garnier",
    "Fischer",
    "Kowalski",
    "Moreau",
    "Laurent",
    "Weber",
    "Girard",
    "Roux",
    "Fournier",
    "Wagner",
    "Lambert",
    "Bonnet",
    "François",
]
# Half the customers carry one of the common names above (each ~2.5% of all leads: a search
# for one of them matches thousands), the others one of 600 rarer ones.
RARE = [
    a + b
    for a in (
        "Ber",
        "Mar",
        "Dur",
        "Lam",
        "Fon",
        "Gar",
        "Rou",
        "Leb",
        "Mor",
        "Pet",
        "Ger",
        "Hof",
        "Sch",
        "Kow",
        "Now",
        "Wei",
        "Bau",
        "Cha",
        "Del",
        "Vin",
        "Ric",
        "Bon",
        "Gui",
        "Kel",
        "Zie",
        "Wal",
        "Jan",
        "Lec",
        "Bou",
        "Mic",
    )
    for b in (
        "nard",
        "tin",
        "and",
        "bert",
        "taine",
        "nier",
        "ssel",
        "lanc",
        "eau",
        "ard",
        "ler",
        "midt",
        "alski",
        "ak",
        "mann",
        "er",
        "ot",
        "ez",
        "ino",
        "ski",
    )
]
CITIES = {
    "FR": [
        ("75", "Paris"),
        ("69", "Lyon"),
        ("13", "Marseille"),
        ("33", "Bordeaux"),
        ("31", "Toulouse"),
        ("44", "Nantes"),
        ("67", "Strasbourg"),
        ("59", "Lille"),
    ],
    "DE": [("10", "Berlin"), ("80", "München"), ("20", "Hamburg"), ("50", "Köln")],
}
STATUS_WEIGHTS = {
    "installed": 14,
    "failed": 12,
    "expired": 10,
    "quote_sent": 6,
    "order_placed": 4,
    "installation_scheduled": 3,
    "contact_attempted": 5,
    "first_contact": 5,
    "follow_up": 3,
    "accepted": 4,
    "offered": 5,
    "pool": 2,
    "new": 1,
    "duplicate": 5,
}
HELD = {
    "accepted",
    "contact_attempted",
    "first_contact",
    "quote_sent",
    "order_placed",
    "installation_scheduled",
    "follow_up",
    "installed",
    "failed",
}


def seed(settings, n: int, rng: random.Random) -> dict:
    at = datetime.now(UTC)
    installers = []
    for i in range(120):
        country = "FR" if i < 90 else "DE"
        prefixes = " ".join(rng.sample([p for p, _ in CITIES[country]], 2))
        installers.append(
            {
                "email": f"installer{i}@pv{i}.example",
                "name": f"Installer {i}",
                "country": country,
                "language": country.lower() if country == "DE" else "fr",
                "postcodes": prefixes,
                "timezone": "Europe/Paris" if country == "FR" else "Europe/Berlin",
                "tier": rng.choice(["bronze", "silver", "gold"]),
                "capacity": 500,
                "created_at": at,
                "updated_at": at,
            }
        )
    with session_scope(settings) as s:
        s.execute(insert(Installer), installers)
        installer_ids = list(s.scalars(select(Installer.id)))
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    batch = []
    started = time.perf_counter()
    for i in range(n):
        country = "FR" if rng.random() < 0.85 else "DE"
        prefix, city = rng.choice(CITIES[country])
        first = rng.choice(FIRST)
        last = rng.choice(LAST) if rng.random() < 0.5 else rng.choice(RARE)
        status = rng.choices(statuses, weights)[0]
        created = at - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        batch.append(
            {
                "status": LeadStatus(status),
                "source": rng.choice(["email", "calculator", "webhook", "leadgen", "import"]),
                "product": rng.choice(["pv", "heat_pump", "battery", "pv_battery", None]),
                "customer_name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.org",
                "phone": f"+33{rng.randint(600000000, 799999999)}"
                if country == "FR"
                else f"+49{rng.randint(1500000000, 1799999999)}",
                "street": f"{rng.randint(1, 200)} rue de l'Exemple",
                "postcode": f"{prefix}{rng.randint(0, 999):03d}",
                "city": city,
                "country": country,
                "details": {"annual_consumption_kwh": rng.randint(1500, 9000)},
                "progress": {},
                "assigned_installer_id": rng.choice(installer_ids) if status in HELD else None,
                "archived_at": created + timedelta(days=30) if rng.random() < 0.03 else None,
                "spam": False,
                "created_at": created,
                "updated_at": created + timedelta(hours=rng.randint(0, 500)),
            }
        )
        if len(batch) == 5000:
            with session_scope(settings) as s:
                s.execute(insert(Lead), batch)
            batch = []
    if batch:
        with session_scope(settings) as s:
            s.execute(insert(Lead), batch)
    with session_scope(settings) as s:
        rows = s.execute(
            select(Lead.id, Lead.status, Lead.created_at, Lead.assigned_installer_id)
        ).all()
    offers, events = [], []
    for lead_id, status, created, holder in rows:
        events.append(
            {
                "lead_id": lead_id,
                "at": created,
                "type": "intake",
                "actor": Actor.SYSTEM,
                "data": {"channel": "smtp"},
            }
        )
        if status.value in ("offered", *HELD):
            offered_at = created + timedelta(minutes=1)
            if status.value == "offered":
                offered_at = at - timedelta(hours=rng.randint(0, 30))
            offers.append(
                {
                    "lead_id": lead_id,
                    "installer_id": holder or rng.choice(installer_ids),
                    "status": OfferStatus.OFFERED
                    if status.value == "offered"
                    else OfferStatus.ACCEPTED,
                    "offered_at": offered_at,
                    "deadline": offered_at + timedelta(hours=24),
                    "answered_at": None
                    if status.value == "offered"
                    else offered_at + timedelta(hours=rng.randint(1, 20)),
                }
            )
    with session_scope(settings) as s:
        for start in range(0, len(offers), 5000):
            s.execute(insert(Offer), offers[start : start + 5000])
        for start in range(0, len(events), 5000):
            s.execute(insert(LeadEvent), events[start : start + 5000])
    inserted = time.perf_counter() - started
    return {
        "leads": n,
        "offers": len(offers),
        "seconds": inserted,
        "sample_lead": rows[len(rows) // 2][0],
    }


def main(n: int) -> None:
    keep = os.environ.get("MAILFLOW_BENCH_DIR")  # reuse a database seeded by an earlier run
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mailflow-bench-admin-"))
    tmp.mkdir(parents=True, exist_ok=True)
    reuse = bool(keep) and (tmp / "mailflow.db").exists()
    os.environ.update({"MAILFLOW_DATA_DIR": str(tmp), "MAILFLOW_SECRET_KEYS": "bench-key"})

    settings = get_settings()
    upgrade(settings)
    rng = random.Random(7)
    if reuse:
        with session_scope(settings) as s:
            n = s.scalar(select(func.count()).select_from(Lead))
            seeded = {
                "leads": n,
                "offers": s.scalar(select(func.count()).select_from(Offer)),
                "seconds": 0.0,
                "sample_lead": n // 2,
            }
    else:
        seeded = seed(settings, n, rng)
    started = time.perf_counter()
    indexed = index_pending(settings)
    index_seconds = time.perf_counter() - started
    engine = get_engine(settings)
    with engine.begin() as conn:  # as autovacuum (PostgreSQL) or `sqlite3 .. ANALYZE` would
        conn.execute(text("ANALYZE"))
    with session_scope(settings) as s:
        if not reuse:
            create_admin_user(s, "bench@example.com", "bench password 1234")
    client = TestClient(create_app())
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        "/admin/login",
        data={"csrf_token": token, "email": "bench@example.com", "password": "bench password 1234"},
    )
    statements: list[list] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):
        statements.append([statement, parameters, time.perf_counter()])

    @event.listens_for(engine, "after_cursor_execute")
    def _timed(conn, cursor, statement, parameters, context, executemany):
        if statements:
            statements[-1][2] = time.perf_counter() - statements[-1][2]

    day = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()
    pages = [
        ("pipeline summary", "/admin/pipeline"),
        ("leads: table, newest first", "/admin/leads"),
        ("leads: status filter", "/admin/leads?status=offered"),
        ("leads: postcode prefix", "/admin/leads?postcode=69"),
        ("leads: created since", f"/admin/leads?created_from={day}"),
        ("leads: installer", "/admin/leads?installer=5"),
        ("leads: search surname", "/admin/leads?q=lef%C3%A8v"),
        ("leads: search two words", "/admin/leads?q=zoe+garnier"),
        ("leads: search rare name", "/admin/leads?q=vinez"),
        ("leads: search phone", "/admin/leads?q=06+12+34"),
        ("leads: search + status", "/admin/leads?q=martin&status=installed"),
        ("leads: sort by name", "/admin/leads?sort=name"),
        ("leads: sort by updated", "/admin/leads?sort=-updated"),
        ("leads: page 100", "/admin/leads?page=100"),
        ("leads: 200 per page", "/admin/leads?per=200"),
        ("leads: grid", "/admin/leads?view=grid"),
        ("leads: kanban", "/admin/leads?view=kanban"),
        ("leads: kanban, postcode", "/admin/leads?view=kanban&postcode=75"),
        ("lead detail", f"/admin/leads/{seeded['sample_lead']}"),
        ("installers", "/admin/installers"),
        ("installer detail", "/admin/installers/3"),
        ("audit log", "/admin/audit"),
        ("API: leads by status", "/api/leads?status=quote_sent"),
    ]
    print(
        f"database: {engine.dialect.name}; {seeded['leads']:,} leads, {seeded['offers']:,} offers, "
        f"inserted in {seeded['seconds']:.1f} s; search index of {indexed:,} leads in "
        f"{index_seconds:.1f} s"
    )
    print(f"{'page':32} {'median':>9} {'worst':>9}  statements")
    scans = {}
    for label, url in pages:
        headers = (
            {"Authorization": f"Bearer {settings.api_token}"} if url.startswith("/api") else {}
        )
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
        times = []
        for _ in range(5):
            statements.clear()
            started = time.perf_counter()
            client.get(url, headers=headers)
            times.append(time.perf_counter() - started)
        ran = list(statements)
        print(
            f"{label:32} {statistics.median(times) * 1000:7.1f} ms {max(times) * 1000:7.1f} ms  {len(ran)}"
        )
        if VERBOSE:
            for statement, _params, seconds in sorted(ran, key=lambda r: -r[2])[:3]:
                print(f"    {seconds * 1000:6.1f} ms  {' '.join(statement.split())[:300]}")
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                for statement, params, _seconds in ran:
                    if "leads" not in statement or not statement.lstrip().upper().startswith(
                        "SELECT"
                    ):
                        continue
                    plan = [
                        row[-1]
                        for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
                    ]
                    # A scan that a LIMIT stops early (no sort, no grouping first) reads a
                    # bounded number of rows; anything else reads the whole table.
                    bounded = "LIMIT" in statement and not any("TEMP B-TREE" in d for d in plan)
                    for detail in plan:
                        # SCAN ... USING INDEX reads every row through an index: as bad.
                        small = "USING COVERING INDEX" in detail or any(
                            name in detail for name in PARTIAL_INDEXES
                        )
                        if re.match(r"SCAN leads\b", detail) and not (small or bounded):
                            scans.setdefault(label, set()).add(detail)
    if engine.dialect.name == "sqlite":
        if scans:
            print("pages that read the whole leads table:")
            for label, details in scans.items():
                print(f"  {label}: {', '.join(sorted(details))}")
        else:
            print(
                "no page reads the whole leads table (only index ranges, index-only scans "
                "and scans a LIMIT stops early)"
            )


VERBOSE = "-v" in sys.argv
# Partial indexes hold only a few rows (archived leads, leads not yet in the search index).
PARTIAL_INDEXES = ("ix_leads_archived", "ix_leads_search_pending")

if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    main(int(numbers[0]) if numbers else 100_000)
