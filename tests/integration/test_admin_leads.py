"""The admin console's lead pages: filters, search, sorting, pagination and kanban on a seeded
database of a few thousand leads; the pipeline summary; the lead detail and its actions
(assign, reassign, back to rotation, close, archive, spam, edit), notes and documents."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.statuses import STATUS_GROUPS
from mailflow.leads import search
from mailflow.models import (
    Actor,
    AuditEntry,
    Installer,
    Lead,
    LeadDocument,
    LeadEvent,
    LeadNote,
    LeadStatus,
    Offer,
    OfferStatus,
    Timer,
    TimerStatus,
)
from mailflow.routing.alerts import send_admin_digests
from mailflow.routing.offers import OfferClosed, accept, route_lead
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.common import safe_filename
from support.factories import NOW, make_admin, seed_leads
from support.offers import emails_to, load_installers, new_lead
from support.waiting import wait_for  # noqa: F401  (fixture module)
from support.web import post, signed_in_client

LEAD_ROW = re.compile(r'<tr data-lead="(\d+)">')


def newest_first(rows: list[dict]) -> list[int]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)]


def all_ids(session, filters: lq.LeadFilters, sort: str = "-created") -> list[int]:
    ids, page = [], 1
    while True:
        result = lq.lead_page(session, filters, sort=sort, page=page, per=200, count=False)
        ids += [lead.id for lead in result.rows]
        if not result.has_next:
            return ids
        page += 1


def fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()


@pytest.fixture
def seeded(settings):
    return seed_leads(settings)


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


# ------------------------------------------------------------------ filters -----------------
def test_filters_return_the_right_leads(settings, seeded):
    installer = next(r["assigned_installer_id"] for r in seeded if r["assigned_installer_id"])
    day = (NOW - timedelta(days=30)).date()
    later = (NOW - timedelta(days=10)).date()

    def start(d: date) -> datetime:
        return datetime.combine(d, datetime.min.time(), tzinfo=UTC)

    cases = [
        ({}, lambda r: r["archived_at"] is None),
        ({"archived": "all"}, lambda r: True),
        ({"archived": "yes"}, lambda r: r["archived_at"] is not None),
        ({"status": "offered"}, lambda r: r["status"] == "offered" and not r["archived_at"]),
        ({"source": "calculator", "archived": "all"}, lambda r: r["source"] == "calculator"),
        ({"product": "heat_pump", "archived": "all"}, lambda r: r["product"] == "heat_pump"),
        ({"product": "none", "archived": "all"}, lambda r: r["product"] is None),
        ({"postcode": "69", "archived": "all"}, lambda r: r["postcode"].startswith("69")),
        ({"postcode": "750", "archived": "all"}, lambda r: r["postcode"].startswith("750")),
        ({"country": "de", "archived": "all"}, lambda r: r["country"] == "DE"),
        (
            {"installer": str(installer), "archived": "all"},
            lambda r: r["assigned_installer_id"] == installer,
        ),
        ({"installer": "none", "archived": "all"}, lambda r: r["assigned_installer_id"] is None),
        (
            {"created_from": day.isoformat(), "archived": "all"},
            lambda r: r["created_at"] >= start(day),
        ),
        (
            {"created_from": day.isoformat(), "created_to": later.isoformat(), "archived": "all"},
            lambda r: start(day) <= r["created_at"] < start(later) + timedelta(days=1),
        ),
        (
            {"updated_to": later.isoformat(), "archived": "all"},
            lambda r: r["updated_at"] < start(later) + timedelta(days=1),
        ),
        ({"duplicate": "yes", "archived": "all"}, lambda r: r["duplicate_of_id"] is not None),
        ({"duplicate": "no"}, lambda r: r["duplicate_of_id"] is None and not r["archived_at"]),
        (
            {"status": "installed", "country": "FR", "postcode": "13", "product": "pv"},
            lambda r: (
                r["status"] == "installed"
                and r["country"] == "FR"
                and r["postcode"].startswith("13")
                and r["product"] == "pv"
                and not r["archived_at"]
            ),
        ),
    ]
    with session_scope(settings) as s:
        for params, predicate in cases:
            filters = lq.LeadFilters.parse(params)
            assert not filters.errors, params
            expected = newest_first([r for r in seeded if predicate(r)])
            assert expected, params  # every case selects something in the seeded data
            assert all_ids(s, filters) == expected, params
            total, capped = lq.count_capped(s, filters.conditions(s))
            assert (total, capped) == (min(len(expected), lq.COUNT_CAP), len(expected) > 1000)


def test_bad_filter_values_are_named_and_ignored(settings, seeded, admin_client):
    filters = lq.LeadFilters.parse(
        {"status": "nope", "created_from": "yesterday", "installer": "x'; drop", "archived": "?"}
    )
    assert set(filters.errors) == {"status", "created_from", "installer"}
    assert filters.params() == {}
    page = admin_client.get("/admin/leads?status=nope&created_from=yesterday")
    assert page.status_code == 200
    assert "unknown status" in page.text and "not a date" in page.text


def test_table_page_shows_the_filtered_leads_sorted_and_paginated(settings, seeded, admin_client):
    matching = [r for r in seeded if r["status"] == "installed" and not r["archived_at"]]
    expected = newest_first(matching)
    first = admin_client.get("/admin/leads?status=installed")
    assert first.status_code == 200
    assert [int(i) for i in LEAD_ROW.findall(first.text)] == expected[:50]
    assert f"1–50 of {len(expected)}" in first.text
    second = admin_client.get("/admin/leads?status=installed&page=2")
    assert [int(i) for i in LEAD_ROW.findall(second.text)] == expected[50:100]
    # Sorted by name (ascending, then id), 100 per page, chosen columns.
    page = admin_client.get(
        "/admin/leads?status=installed&sort=name&per=100&cols=id&cols=name&cols=contact"
    )
    by_name = [r["id"] for r in sorted(matching, key=lambda r: (r["customer_name"], r["id"]))]
    assert [int(i) for i in LEAD_ROW.findall(page.text)] == by_name[:100]
    header = page.text.split('id="leads-table"')[1].split("</thead>")[0]
    assert "Email / phone" in header and "Postcode / city" not in header
    assert (
        matching[0]["email"]
        in admin_client.get(
            f"/admin/leads?status=installed&cols=contact&per=200&page={1 + expected.index(matching[0]['id']) // 200}"
        ).text
    )
    # The sort links keep the filters.
    assert 'href="/admin/leads?status=installed&amp;sort=name"' in first.text
    assert 'href="/admin/leads?status=installed&amp;sort=created"' in first.text
    # Grid view: the same leads as cards.
    grid = admin_client.get("/admin/leads?status=installed&view=grid")
    assert f'href="/admin/leads/{expected[0]}"' in grid.text


@pytest.mark.parametrize("sort", ["name", "-name", "city", "postcode", "-updated", "id", "status"])
def test_sorting_covers_every_lead_once(settings, seeded, sort):
    key = {
        "name": "customer_name",
        "city": "city",
        "postcode": "postcode",
        "updated": "updated_at",
        "id": "id",
        "status": "status",
    }[sort.lstrip("-")]
    rows = [r for r in seeded if r["postcode"].startswith("33")]

    def sort_key(r):
        value = r[key].value if key == "status" else r[key]
        extra = (r["created_at"],) if key == "status" else ()
        return (value, *extra, r["id"])

    expected = [r["id"] for r in sorted(rows, key=sort_key, reverse=sort.startswith("-"))]
    with session_scope(settings) as s:
        filters = lq.LeadFilters.parse({"postcode": "33", "archived": "all"})
        assert all_ids(s, filters, sort=sort) == expected


def test_kanban_counts_every_status_and_shows_the_newest(settings, seeded, admin_client):
    with session_scope(settings) as s:
        for params in ({}, {"country": "DE"}, {"archived": "all"}):
            filters = lq.LeadFilters.parse(params)
            columns = lq.kanban(s, filters)
            assert [c.status for c in columns] == lq.STATUSES
            for column in columns:
                rows = [
                    r
                    for r in seeded
                    if r["status"] == column.status
                    and (params.get("archived") == "all" or not r["archived_at"])
                    and r["country"] == params.get("country", r["country"])
                ]
                assert column.count == len(rows), (params, column.status)
                assert [lead.id for lead in column.cards] == newest_first(rows)[: lq.KANBAN_CARDS]
    page = admin_client.get("/admin/leads?view=kanban")
    assert page.status_code == 200
    # Every column shows its count, inside its stage (open, in progress, won, lost), and each
    # stage the sum of its columns; a long column links to all its leads.
    shown = {
        status: int(count.replace(",", ""))
        for status, count in re.findall(
            r'data-status="(\w+)">\s*<h3><span>[\w ]+</span><span class="kcount">([\d,]+)',
            page.text,
        )
    }
    live = [r for r in seeded if not r["archived_at"]]
    assert shown == {s: sum(1 for r in live if r["status"] == s) for s in lq.STATUSES}
    for group, members in STATUS_GROUPS.items():
        section = page.text.split(f'id="kgroup-{group}"')[1].split("</section>")[0]
        assert re.findall(r'data-status="(\w+)"', section) == [m.value for m in members]
        total = sum(1 for r in live if r["status"] in members)
        assert f"</span><span>{total:,}</span></h2>" in section, group
    installed = shown["installed"]
    assert installed > lq.KANBAN_CARDS
    assert f'status=installed">all {installed:,} →</a>' in page.text


# ------------------------------------------------------------------ search ------------------
def test_search_by_name_email_phone_and_city(settings, seeded):
    special = {
        "customer_name": "Émilie Lefèvre-Dubois",
        "email": "Emilie.LEFEVRE@Example.FR",
        "phone": "+33612345678",
        "city": "Saint-Étienne",
    }
    with session_scope(settings) as s:
        lead = Lead(
            status=LeadStatus.NEW,
            source="email",
            postcode="42000",
            country="FR",
            created_at=NOW,
            updated_at=NOW,
            **special,
        )
        s.add(lead)
        s.flush()
        special_id = lead.id
    assert search.index_pending(settings) == len(seeded) + 1

    def found(q: str, **params) -> list[int]:
        with session_scope(settings) as s:
            return all_ids(s, lq.LeadFilters.parse({"q": q, "archived": "all", **params}))

    for q in (
        "lefevre",
        "LEFÈV",
        "émilie dubois",
        "emilie.lefevre@example.fr",
        "emilie.lefevre",
        "+33 6 12 34 56 78",
        "06 12 34 56 78",
        "0612345678",
        "0033612345678",
        "saint etienne",
        "étienne",
    ):
        assert special_id in found(q), q
    assert special_id not in found("lefevre", status="offered")

    # Against a plain oracle over the seeded data: every word is a prefix of a word of the
    # name, email or city.
    def oracle(q: str, predicate=lambda r: True) -> list[int]:
        words = re.findall(r"\w+", fold(q))
        rows = []
        for r in seeded:
            terms = re.findall(r"\w+", fold(f"{r['customer_name']} {r['email']} {r['city']}"))
            if all(any(t.startswith(w) for t in terms) for w in words) and predicate(r):
                rows.append(r)
        return newest_first(rows)

    def seeded_found(q: str, **params) -> list[int]:
        return [i for i in found(q, **params) if i != special_id]

    for q in ("dubois", "zoe garnier", "hél", "jurgen muller", "münchen", "anna.12"):
        assert seeded_found(q) == oracle(q), q
    assert seeded_found("martin", status="installed") == oracle(
        "martin", lambda r: r["status"] == "installed"
    )
    fr_phone = next(r for r in seeded if r["country"] == "FR")["phone"]
    national = "0" + fr_phone[3:]
    assert [r["id"] for r in seeded if r["phone"] == fr_phone][0] in found(national)
    assert found("no-such-name-anywhere") == []


def test_a_lead_not_yet_indexed_is_found_too(settings, seeded):
    lead_id = new_lead(settings, email="zorro.unique@example.fr", city="Nantes")
    with session_scope(settings) as s:
        assert s.get(Lead, lead_id).search_version is None
        ids = all_ids(s, lq.LeadFilters.parse({"q": "zorro.unique"}))
    assert ids == [lead_id]
    search.index_pending(settings)
    with session_scope(settings) as s:
        assert s.get(Lead, lead_id).search_version == search.VERSION
        assert all_ids(s, lq.LeadFilters.parse({"q": "zorro"})) == [lead_id]


def test_search_page(settings, seeded, admin_client):
    search.index_pending(settings)
    page = admin_client.get("/admin/leads", params={"q": "Lefèvre", "per": "200"})
    expected = newest_first(
        [r for r in seeded if "Lefèvre" in r["customer_name"] and not r["archived_at"]]
    )
    assert [int(i) for i in LEAD_ROW.findall(page.text)] == expected[:200]
    assert 'value="Lefèvre"' in page.text


# ------------------------------------------------------------------ pipeline ----------------
def test_pipeline_summary(settings, admin_client):
    load_installers(settings)
    # The figures are computed as of a Thursday noon, so that every answer below falls in the
    # same week whatever day the suite runs (CI once ran minutes after Monday 00:00 UTC).
    at = lq.week_start(clock.now()) - timedelta(days=4) + timedelta(hours=12)
    with session_scope(settings) as s:
        installer = s.scalar(select(Installer).where(Installer.email.like("contact@%")))
        leads = []
        for status in ["offered"] * 3 + ["accepted"] * 3 + ["pool"] * 2 + ["new"]:
            lead = Lead(
                status=LeadStatus(status),
                source="email",
                customer_name="X",
                email="x@example.org",
                postcode="75001",
                country="FR",
                created_at=at - timedelta(days=1),
                updated_at=at,
            )
            s.add(lead)
            leads.append(lead)
        s.flush()

        def offer(lead, status, offered_ago, answered_after=None):
            offered = at - offered_ago
            s.add(
                Offer(
                    lead_id=lead.id,
                    installer_id=installer.id,
                    status=OfferStatus(status),
                    offered_at=offered,
                    deadline=offered + timedelta(hours=24),
                    answered_at=offered + answered_after if answered_after else None,
                )
            )

        offer(leads[0], "offered", timedelta(hours=1))
        offer(leads[1], "offered", timedelta(hours=6))
        offer(leads[2], "offered", timedelta(hours=30))  # past its deadline
        # Accepted this week after 1 h, 2 h and 4 h (median 2 h).
        for lead, hours in zip(leads[3:6], (1, 2, 4), strict=True):
            offer(lead, "accepted", timedelta(hours=hours, minutes=1), timedelta(hours=hours))
        offer(leads[6], "declined", timedelta(minutes=30), timedelta(minutes=5))
        offer(leads[7], "expired", timedelta(hours=25))
    with session_scope(settings) as s:
        p = lq.pipeline(s, at)
    assert dict(p.by_status)["offered"] == 3 and dict(p.by_status)["pool"] == 2
    assert p.total == 9 and p.pool == 2
    assert p.offers_waiting == 3 and p.overdue_offers == 1
    assert [b.count for b in p.offer_ages] == [1, 1, 0, 1, 0]
    assert p.accepted_this_week == 3
    assert p.median_accept_seconds == 2 * 3600
    assert p.declined_this_week == 1
    assert p.expired_this_week == 1
    assert p.accept_rate == 3 / (4 + 1)
    page = admin_client.get("/admin/pipeline")
    assert page.status_code == 200
    assert re.search(r'id="offers-waiting">3<', page.text)
    assert re.search(r'id="pool-size">2<', page.text)
    assert 'href="/admin/pipeline" class="active"' in page.text or "Pipeline</a>" in page.text
    # Statuses grouped by stage with the stage's total: 3 offered + 2 pool + 1 new are open,
    # 3 accepted in progress, none won or lost.
    stages = dict(
        re.findall(
            r'data-group="(\w+)">\s*<tr class="group-row">.*?class="num group-count">([\d,]+)<',
            page.text,
            re.S,
        )
    )
    assert stages == {"open": "6", "in_progress": "3", "won": "0", "lost": "0"}


# ------------------------------------------------------------------ actions -----------------
@pytest.fixture
def routed(settings, broker):
    """A Paris lead offered to the gold installer (contact@soleil-paris.example)."""
    load_installers(settings)
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        offer = route_lead(s, lead_id, now=clock.now(), settings=settings)
        assert offer.installer.email == "contact@soleil-paris.example"
    return lead_id


def installer_id(settings, email: str) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(Installer.id).where(Installer.email == email))


def lead_state(settings, lead_id: int):
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        _ = lead.assigned_installer
        offers = list(s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id)))
        events = list(
            s.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id))
        )
        timers = list(s.scalars(select(Timer).where(Timer.lead_id == lead_id).order_by(Timer.id)))
        return lead, [(o.installer.email, o.status.value) for o in offers], events, timers


def test_assign_withdraws_the_offer_and_emails_the_installer(settings, routed, admin_client):
    sud = "info@sud-energie.example"
    response = post(
        admin_client,
        f"/admin/leads/{routed}/assign",
        {"installer_id": installer_id(settings, sud), "reason": "customer asked for them"},
    )
    assert response.status_code == 303
    assert "assigned to info@sud-energie.example" in admin_client.get(f"/admin/leads/{routed}").text
    lead, offers, events, timers = lead_state(settings, routed)
    assert lead.status == LeadStatus.ACCEPTED and lead.assigned_installer.email == sud
    assert lead.accepted_at is not None
    assert offers == [("contact@soleil-paris.example", "withdrawn")]
    event = events[-1]
    assert event.type == "assigned" and event.actor == Actor.ADMIN
    assert event.data["by"] == "admin@example.com"
    assert event.data["reason"] == "customer asked for them"
    assert event.data["installer"] == sud and event.data["previous_status"] == "offered"
    assert [t.kind for t in timers if t.status == TimerStatus.PENDING] == ["status_reminder"]
    assert [m.template for m in emails_to(settings, sud)] == ["offer_accepted", "contact_details"]
    # The withdrawn offer can no longer be accepted.
    first = installer_id(settings, "contact@soleil-paris.example")
    with session_scope(settings) as s:
        offer_id = s.scalar(select(Offer.id).where(Offer.lead_id == routed))
        with pytest.raises(OfferClosed) as closed:
            accept(s, offer_id, first, now=clock.now(), settings=settings)
        assert closed.value.code == "taken"
    with session_scope(settings) as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "lead.assign")).one()
        assert audit.actor == "admin@example.com" and audit.object_id == str(routed)

    # Reassign: the first holder's reminders stop, the new one's start.
    idf = "devis@ile-de-france-pv.example"
    post(
        admin_client,
        f"/admin/leads/{routed}/assign",
        {"installer_id": installer_id(settings, idf), "reason": "no answer from Sud"},
    )
    lead, _offers, events, timers = lead_state(settings, routed)
    assert lead.assigned_installer.email == idf
    assert events[-1].type == "reassigned" and events[-1].data["previous_installer"] == sud
    assert [(t.installer_id, t.status) for t in timers] == [
        (installer_id(settings, sud), TimerStatus.CANCELLED),
        (installer_id(settings, idf), TimerStatus.PENDING),
    ]
    assert [m.template for m in emails_to(settings, idf)] == ["offer_accepted", "contact_details"]
    # The timeline on the page names the admin and the reason.
    page = admin_client.get(f"/admin/leads/{routed}").text
    assert "Reassigned from Sud Énergie to IDF Photovoltaïque: no answer from Sud" in page
    assert "admin@example.com" in page


def test_assign_is_refused_without_a_reason_or_to_a_deactivated_installer(
    settings, routed, admin_client
):
    sud = installer_id(settings, "info@sud-energie.example")
    post(admin_client, f"/admin/leads/{routed}/assign", {"installer_id": sud, "reason": " "})
    assert "Give a reason" in admin_client.get(f"/admin/leads/{routed}").text
    with session_scope(settings) as s:
        s.get(Installer, sud).active = False
    post(admin_client, f"/admin/leads/{routed}/assign", {"installer_id": sud, "reason": "x"})
    assert "is deactivated" in admin_client.get(f"/admin/leads/{routed}").text
    lead, offers, _events, _timers = lead_state(settings, routed)
    assert lead.status == LeadStatus.OFFERED and offers[0][1] == "offered"
    assert (
        post(
            admin_client, "/admin/leads/999999/assign", {"installer_id": sud, "reason": "x"}
        ).status_code
        == 404
    )


def test_back_to_rotation_skips_installers_already_offered_then_pools(
    settings, routed, admin_client
):
    make_admin(settings, email="boss@example.com")
    sud = "info@sud-energie.example"
    post(
        admin_client,
        f"/admin/leads/{routed}/assign",
        {"installer_id": installer_id(settings, sud), "reason": "try Sud"},
    )
    # Held by Sud → back to rotation: Soleil was offered already, so IDF gets it.
    post(admin_client, f"/admin/leads/{routed}/rotate", {"reason": "Sud cannot do it"})
    lead, offers, events, timers = lead_state(settings, routed)
    assert lead.status == LeadStatus.OFFERED and lead.assigned_installer_id is None
    assert offers == [
        ("contact@soleil-paris.example", "withdrawn"),
        ("devis@ile-de-france-pv.example", "offered"),
    ]
    assert [e.type for e in events[-3:]] == ["back_to_rotation", "released", "offered"]
    assert events[-3].data["reason"] == "Sud cannot do it" and events[-3].actor == Actor.ADMIN
    assert events[-3].data["previous_installer"] == sud
    assert all(t.status == TimerStatus.CANCELLED for t in timers)
    assert [m.template for m in emails_to(settings, "devis@ile-de-france-pv.example")] == ["offer"]
    # Offered to IDF → back to rotation: nobody is left, so the pool, and admins are told.
    post(admin_client, f"/admin/leads/{routed}/rotate", {"reason": "IDF is slow"})
    lead, offers, events, _ = lead_state(settings, routed)
    assert lead.status == LeadStatus.POOL
    assert offers[-1] == ("devis@ile-de-france-pv.example", "withdrawn")
    assert events[-1].type == "pool"
    assert emails_to(settings, "boss@example.com") == []  # told in the next digest
    send_admin_digests(settings, clock.now())
    (digest,) = emails_to(settings, "boss@example.com")
    assert (
        digest.template == "admin_digest" and f"Lead #{routed} is in the pool" in digest.body_text
    )


def test_close_archive_and_spam(settings, routed, admin_client):
    response = post(admin_client, f"/admin/leads/{routed}/close", {"reason": "customer moved"})
    assert response.status_code == 303
    lead, offers, events, _ = lead_state(settings, routed)
    assert lead.status == LeadStatus.FAILED and lead.progress["failed_reason"] == "customer moved"
    assert offers[0][1] == "withdrawn" and events[-1].type == "closed"
    post(admin_client, f"/admin/leads/{routed}/close", {"reason": "again"})
    assert "is failed already" in admin_client.get(f"/admin/leads/{routed}").text

    post(admin_client, f"/admin/leads/{routed}/archive")
    lead, *_ = lead_state(settings, routed)
    assert lead.archived_at is not None
    assert f'data-lead="{routed}"' not in admin_client.get("/admin/leads").text
    assert f'data-lead="{routed}"' in admin_client.get("/admin/leads?archived=yes").text
    post(admin_client, f"/admin/leads/{routed}/unarchive")
    assert lead_state(settings, routed)[0].archived_at is None

    other = new_lead(settings, email="spam@example.net", postcode="69001", city="Lyon")
    with session_scope(settings) as s:
        route_lead(s, other, now=clock.now(), settings=settings)
    post(admin_client, f"/admin/leads/{other}/spam")
    lead, offers, events, _ = lead_state(settings, other)
    assert lead.spam and lead.archived_at and lead.status == LeadStatus.FAILED
    assert offers[0][1] == "withdrawn" and events[-1].type == "marked_spam"
    post(admin_client, f"/admin/leads/{other}/unspam")
    lead, *_ = lead_state(settings, other)
    assert not lead.spam and lead.archived_at is None
    # A spam lead put back into rotation is offered again (to someone not offered yet).
    post(admin_client, f"/admin/leads/{other}/rotate", {"reason": "not spam after all"})
    assert lead_state(settings, other)[0].status in (LeadStatus.OFFERED, LeadStatus.POOL)


def test_edit_validates_and_normalises(settings, routed, admin_client):
    form = admin_client.get(f"/admin/leads/{routed}/edit")
    assert form.status_code == 200 and 'value="Claire Dubois"' in form.text
    bad = post(
        admin_client,
        f"/admin/leads/{routed}/edit",
        {"name": "Claire Dubois", "email": "not-an-email", "postcode": "75010", "phone": ""},
    )
    assert bad.status_code == 422
    assert "not a valid email address" in bad.text and 'value="not-an-email"' in bad.text
    none = post(
        admin_client,
        f"/admin/leads/{routed}/edit",
        {"name": "Claire Dubois", "email": "", "phone": "", "postcode": "75010"},
    )
    assert none.status_code == 422 and "an email or a phone number is required" in none.text
    good = post(
        admin_client,
        f"/admin/leads/{routed}/edit",
        {
            "name": "Claire Dubois-Martin",
            "email": "claire@example.fr",
            "phone": "01 40 34 70 01",
            "postcode": "75011",
            "city": "Paris",
            "country": "fr",
            "product": "pv_battery",
            "message": "",
        },
    )
    assert good.status_code == 303
    lead, _offers, events, _ = lead_state(settings, routed)
    assert lead.customer_name == "Claire Dubois-Martin" and lead.phone == "+33140347001"
    assert lead.postcode == "75011" and lead.country == "FR" and lead.product == "pv_battery"
    assert lead.message is None
    assert events[-1].type == "edited"
    assert set(events[-1].data["fields"]) == {
        "customer_name",
        "phone",
        "postcode",
        "product",
        "message",
    }
    assert "Claire" not in str(events[-1].data)  # names of fields, never their values
    with session_scope(settings) as s:
        assert all_ids(s, lq.LeadFilters.parse({"q": "dubois-martin"})) == [routed]
    unchanged = post(
        admin_client,
        f"/admin/leads/{routed}/edit",
        {"name": "Claire Dubois-Martin"},
    )
    assert unchanged.status_code == 303
    assert "Nothing changed" in admin_client.get(f"/admin/leads/{routed}").text


def test_notes_are_internal(settings, routed, admin_client):
    post(admin_client, f"/admin/leads/{routed}/notes", {"body": "Called: prefers mornings."})
    post(admin_client, f"/admin/leads/{routed}/notes", {"body": ""})
    page = admin_client.get(f"/admin/leads/{routed}").text
    assert "Called: prefers mornings." in page and "The note is empty." in page
    with session_scope(settings) as s:
        note = s.scalars(select(LeadNote)).one()
        assert note.author == "admin@example.com"
    api = admin_client.get(
        f"/api/leads/{routed}", headers={"Authorization": "Bearer test-api-token"}
    )
    assert api.status_code == 200 and "prefers mornings" not in api.text
    assert all(
        "prefers mornings" not in (m.body_text or "")
        for m in emails_to(settings, "contact@soleil-paris.example")
    )
    post(admin_client, f"/admin/leads/{routed}/notes/{note.id}/delete")
    assert "prefers mornings" not in admin_client.get(f"/admin/leads/{routed}").text
    assert post(admin_client, f"/admin/leads/{routed}/notes/{note.id}/delete").status_code == 404


def test_documents_upload_download_delete_and_refusals(settings, routed, admin_client):
    body = b"%PDF-1.4 quote for the roof\n" * 100
    response = post(
        admin_client,
        f"/admin/leads/{routed}/documents",
        files={"file": ("devis toiture é.pdf", body, "application/pdf")},
    )
    assert response.status_code == 303
    with session_scope(settings) as s:
        document = s.scalars(select(LeadDocument)).one()
    stored = settings.data_path / "documents" / str(routed) / document.stored_name
    assert stored.read_bytes() == body and document.size == len(body)
    assert (
        document.filename == "devis toiture é.pdf" and document.uploaded_by == "admin@example.com"
    )
    download = admin_client.get(f"/admin/leads/{routed}/documents/{document.id}")
    assert download.status_code == 200 and download.content == body
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert admin_client.get(f"/admin/leads/{routed + 1}/documents/{document.id}").status_code == 404

    for name in (
        "../../etc/passwd",
        "..",
        ".htaccess",
        "a/b.pdf",
        "a\\b.pdf",
        "CON.txt",
        "x" * 201 + ".pdf",
        "what?.pdf",
        "report.pdf.",
    ):
        post(
            admin_client,
            f"/admin/leads/{routed}/documents",
            files={"file": (name, b"data", "text/plain")},
        )
        assert "That file name is not allowed" in admin_client.get(f"/admin/leads/{routed}").text, (
            name
        )
    big = b"x" * (10 * 1024 * 1024 + 1)
    refused = post(
        admin_client, f"/admin/leads/{routed}/documents", files={"file": ("big.bin", big)}
    )
    assert refused.status_code in (303, 413)
    if refused.status_code == 303:
        assert "too large" in admin_client.get(f"/admin/leads/{routed}").text
    else:
        assert "too large" in refused.text
    # Just under the limit is fine (and chunked reading does not count past it).
    settings_limit = 10 * 1024 * 1024
    assert (
        post(
            admin_client,
            f"/admin/leads/{routed}/documents",
            files={"file": ("limit.bin", b"y" * settings_limit)},
        ).status_code
        == 303
    )
    with session_scope(settings) as s:
        names = sorted(d.filename for d in s.scalars(select(LeadDocument)))
    assert names == ["devis toiture é.pdf", "limit.bin"]
    assert len(list(stored.parent.iterdir())) == 2  # nothing left behind by the refusals

    post(admin_client, f"/admin/leads/{routed}/documents/{document.id}/delete")
    assert not stored.exists()
    with session_scope(settings) as s:
        assert [d.filename for d in s.scalars(select(LeadDocument))] == ["limit.bin"]


def test_lead_detail_shows_fields_offers_and_timeline(settings, routed, admin_client):
    page = admin_client.get(f"/admin/leads/{routed}")
    assert page.status_code == 200
    text = page.text
    for fragment in (
        "Claire Dubois",
        "+33140347000",
        "Quai de Valmy 167",
        "<dt>Annual consumption</dt><dd>3,100\xa0kWh</dd>",
        "contact@soleil-paris.example",
        "Request received from email (smtp)",
        "Offered to Soleil Paris SARL (gold, 0 offers in 30 days) until ",
        'id="assign-form"',
        'id="erase-form"',
    ):
        assert fragment in text, fragment
    assert admin_client.get("/admin/leads/424242").status_code == 404
    assert admin_client.get("/admin/leads/99999999999").status_code == 404


def test_safe_filenames():
    for name in ("devis.pdf", "Facture EDF 2025.pdf", "zdjęcie dachu.JPG", "a-b_c (1).xlsx"):
        assert safe_filename(name) == name
    for name in (
        "",
        " lead.pdf",
        "a\x00b",
        "tab\tname",
        "line\nbreak.txt",
        "..",
        "../x",
        "a/b",
        "c:\\x",
        ".env",
        "file.",
        "nul.pdf",
        "LPT1",
        "x" * 201,
        None,
        b"bytes.pdf",
    ):
        assert safe_filename(name) is None, name


def test_pipeline_week_starts_on_monday_in_the_admin_time_zone():
    """Reports count days in the admin time zone; "this week" on the pipeline does too."""
    paris = ZoneInfo("Europe/Paris")
    # Monday 00:30 in Paris is still Sunday 23:30 UTC.
    at = datetime(2026, 3, 2, 0, 30, tzinfo=paris)
    assert lq.week_start(at, paris) == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert lq.week_start(at) == datetime(2026, 2, 23, 0, 0, tzinfo=UTC)
    # Summer time: Monday 00:00 in Paris is 22:00 UTC on Sunday.
    assert lq.week_start(datetime(2026, 7, 8, 12, tzinfo=UTC), paris) == datetime(
        2026, 7, 5, 22, 0, tzinfo=UTC
    )
