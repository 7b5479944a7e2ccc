"""The lead table's bulk actions (assign, back to rotation, archive, unarchive) on a mix of
leads that can and cannot take them; the column chooser; saved filters; archived leads hidden
by default. Each action is checked in the database and in the audit log, not only on the
page."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qsl

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from mailflow import clock
from mailflow.cli import main
from mailflow.db import session_scope
from mailflow.models import AuditEntry, Installer, Lead, LeadEvent, LeadStatus, Offer, SavedFilter
from mailflow.routing.offers import route_lead
from mailflow.web.admin import lead_queries as lq
from support.offers import emails_to, load_installers, new_lead
from support.web import csrf, post, signed_in_client

SUD = "info@sud-energie.example"
SOLEIL = "contact@soleil-paris.example"
MISSING = 999_999
LEAD_ROW = re.compile(r'<tr data-lead="(\d+)">')


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


@pytest.fixture
def leads(settings, broker):
    """Two Paris leads offered to the gold installer, and one installed (won) lead."""
    load_installers(settings)
    ids = [new_lead(settings, email=f"c{i}@example.fr", postcode=f"7501{i}") for i in range(1, 4)]
    with session_scope(settings) as s:
        for lead_id in ids:
            route_lead(s, lead_id, now=clock.now(), settings=settings)
        s.get(Lead, ids[2]).status = LeadStatus.INSTALLED
    return ids


def installer_id(settings, email: str) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(Installer.id).where(Installer.email == email))


def state(settings, lead_id: int) -> tuple[str, str | None, bool]:
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        holder = lead.assigned_installer.email if lead.assigned_installer else None
        return lead.status.value, holder, lead.archived_at is not None


def audited(settings, action: str) -> list[tuple[str, dict]]:
    with session_scope(settings) as s:
        return [
            (e.object_id, e.data)
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        ]


def bulk(client, ids, action: str, **fields):
    data = {"action": action, "next": "/admin/leads?postcode=75", **fields}
    token = csrf(client, "/admin/leads")
    body = {"csrf_token": token, **data, "id": [str(i) for i in ids]}
    return client.post("/admin/leads/bulk", data=body, follow_redirects=False)


def outcomes(page: str) -> dict[int, tuple[str, str]]:
    rows = re.findall(
        r'<tr data-lead="(\d+)" data-done="(yes|no)">.*?<td class="wrap"[^>]*>(.*?)</td>',
        page,
        re.S,
    )
    return {int(i): (done, re.sub(r"<[^>]+>", "", text).strip()) for i, done, text in rows}


def test_bulk_assign_rotate_and_archive_change_only_the_leads_that_can(
    settings, leads, admin_client
):
    first, second, won = leads
    sud = installer_id(settings, SUD)
    before_won = state(settings, won)

    # Assign: the two offered leads go to Sud; the won lead and a missing id are skipped.
    page = bulk(
        admin_client, [first, won, second, MISSING], "assign", installer_id=sud, reason="area"
    )
    assert page.status_code == 200
    summary = re.search(r'<p id="bulk-summary"[^>]*>(.*?)</p>', page.text, re.S).group(1)
    assert summary.strip().startswith(f"2 assigned, 2 skipped: Lead #{won} is installed")
    result = outcomes(page.text)
    assert list(result) == [first, won, second, MISSING]
    assert result[first] == ("yes", f"assigned to {SUD}; they have been emailed")
    assert result[won][0] == "no" and "cannot be reassigned" in result[won][1]
    assert result[MISSING] == ("no", f"skipped There is no lead #{MISSING}.")
    assert state(settings, first) == ("accepted", SUD, False)
    assert state(settings, second) == ("accepted", SUD, False)
    assert state(settings, won) == before_won
    assert [m.template for m in emails_to(settings, SUD)] == [
        "offer_accepted",
        "contact_details",
    ] * 2
    entries = audited(settings, "lead.assign")
    assert [i for i, _ in entries] == [str(first), str(second)]
    assert all(d == {"bulk": True, "reason": "area", "installer_id": sud} for _, d in entries)
    assert 'href="/admin/leads?postcode=75" id="back-to-list"' in page.text

    # Back to rotation: Sud loses both, each is offered to an installer not offered it yet (or
    # goes to the pool); the won lead stays won.
    def offers(lead_id: int) -> list[tuple[str, str]]:
        with session_scope(settings) as s:
            return [
                (o.installer.email, o.status.value)
                for o in s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id))
            ]

    offered_before = {i: {email for email, _ in offers(i)} for i in (first, second)}
    page = bulk(admin_client, [first, second, won], "rotate", reason="Sud is on holiday")
    assert "2 put back in rotation, 1 skipped" in page.text
    for lead_id in (first, second):
        status, holder, _ = state(settings, lead_id)
        assert status in ("offered", "pool") and holder is None
        open_now = [email for email, st in offers(lead_id) if st == "offered"]
        assert len(open_now) == (status == "offered")
        assert not set(open_now) & (offered_before[lead_id] | {SUD})
        with session_scope(settings) as s:
            event = s.scalars(
                select(LeadEvent)
                .where(LeadEvent.lead_id == lead_id, LeadEvent.type == "back_to_rotation")
                .order_by(LeadEvent.id)
            ).one()
            assert event.data["reason"] == "Sud is on holiday"
            assert event.data["by"] == "admin@example.com"
    assert state(settings, won) == before_won
    assert [i for i, _ in audited(settings, "lead.rotate")] == [str(first), str(second)]

    # Archive: the first and the won lead; then the first again is skipped (already archived).
    page = bulk(admin_client, [first, won], "archive")
    assert outcomes(page.text) == {first: ("yes", "archived"), won: ("yes", "archived")}
    page = bulk(admin_client, [first, second], "archive")
    result = outcomes(page.text)
    assert result[first] == ("no", f"skipped Lead #{first} is archived already.")
    assert result[second] == ("yes", "archived")
    assert [i for i, _ in audited(settings, "lead.archive")] == [str(first), str(won), str(second)]
    # Archived leads leave the default list and show with the filter.
    default = [int(i) for i in LEAD_ROW.findall(admin_client.get("/admin/leads").text)]
    assert default == []
    archived = admin_client.get("/admin/leads?archived=yes").text
    assert sorted(int(i) for i in LEAD_ROW.findall(archived)) == sorted(leads)
    assert 'id="bulk-unarchive"' in archived and 'id="bulk-archive"' not in archived
    bulk(admin_client, [second], "unarchive")
    assert [int(i) for i in LEAD_ROW.findall(admin_client.get("/admin/leads").text)] == [second]
    assert [i for i, _ in audited(settings, "lead.unarchive")] == [str(second)]


def test_bulk_is_refused_to_viewers_without_csrf_and_for_odd_input(settings, leads, admin_client):
    first, second, _won = leads
    before = [state(settings, i) for i in leads]
    with signed_in_client(settings, role="viewer", email="viewer@example.com") as viewer:
        page = viewer.get("/admin/leads").text
        # A viewer can export the ticked rows, not change them.
        assert 'id="export-selection"' in page and 'id="bulk-rotate"' not in page
        response = bulk(viewer, [first, second], "archive")
        assert response.status_code == 403 and "read-only" in response.text
    # No CSRF token, or a wrong one.
    body = {"action": "archive", "id": str(first)}
    assert admin_client.post("/admin/leads/bulk", data=body).status_code == 403
    forged = {"csrf_token": "forged", **body}
    assert admin_client.post("/admin/leads/bulk", data=forged).status_code == 403
    # Odd input: a 4xx, never a 500, and nothing changes.
    assert bulk(admin_client, ["abc"], "archive").status_code == 400
    assert bulk(admin_client, [first], "explode").status_code == 400
    assert bulk(admin_client, range(1, 300), "archive").status_code == 400
    # Assign without an installer, rotation without a reason: sent back with a message.
    response = bulk(admin_client, [first], "assign", reason="x")
    assert response.status_code == 303
    assert "Choose the installer" in admin_client.get(response.headers["location"]).text
    response = bulk(admin_client, [first], "rotate", reason=" ")
    assert "Give a reason" in admin_client.get(response.headers["location"]).text
    response = bulk(admin_client, [], "archive")
    assert "Tick the leads" in admin_client.get(response.headers["location"]).text
    assert [state(settings, i) for i in leads] == before
    with session_scope(settings) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action.like("lead.%"))).all() == []


def test_column_chooser_shows_exactly_the_chosen_columns(settings, leads, admin_client):
    page = admin_client.get("/admin/leads?cols=contact&cols=id&cols=status&cols=bogus").text
    header = page.split('id="leads-table"')[1].split("</thead>")[0]
    assert re.findall(r'data-col="(\w+)"', header) == ["contact", "id", "status"]
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")[:-1]
    assert len(rows) == 3
    for row in rows:
        # The tick box, then the three chosen cells.
        assert len(re.findall(r"<td", row)) == 4
        assert "c1@example.fr" in row or "c2@example.fr" in row or "c3@example.fr" in row
    # The export of the ticked rows gets the same columns, in the same order.
    form = page.split('id="bulk-form"')[1].split("</fieldset>")[0]
    assert re.findall(r'name="column" value="(\w+)"', form) == ["contact", "id", "status"]
    assert 'formaction="/admin/leads/export.xlsx" formmethod="post"' in form
    # The chooser (in its own order) has these ticked; the filter form keeps them as chosen.
    chooser = page.split('id="column-chooser"')[1].split("</details>")[0]
    assert re.findall(r'name="cols" value="(\w+)" checked', chooser) == ["id", "contact", "status"]
    search = page.split('role="search"')[1].split("</form>")[0]
    assert re.findall(r'name="cols" value="(\w+)"', search) == ["contact", "id", "status"]
    # So do the export links of the whole list (the default columns: no column= at all).
    assert (
        'href="/admin/leads/export.xlsx?sort=-created&amp;column=contact&amp;column=id&amp;column=status"'
        in page
    )
    default = admin_client.get("/admin/leads").text
    assert 'href="/admin/leads/export.xlsx?sort=-created" id="export-xlsx"' in default
    assert re.findall(r'data-col="(\w+)"', default.split("</thead>")[0]) == lq.DEFAULT_COLUMNS


def test_export_selection_is_a_post_with_the_form_token(settings, leads, admin_client):
    """The ticked rows are exported by POSTing the bulk form, so its CSRF token never lands in
    a URL; without the token the export is refused."""
    first, _, won = leads
    token = csrf(admin_client, "/admin/leads")
    body = {
        "csrf_token": token,
        "id": [str(won), str(first), "nonsense"],
        "column": ["id", "postcode"],
        "sort": "id",
    }
    response = admin_client.post("/admin/leads/export.xlsx", data=body)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [row for row in sheet.iter_rows(values_only=True)] == [
        ("id", "postcode"),
        (first, "75011"),
        (won, "75013"),
    ]
    refused = admin_client.post("/admin/leads/export.xlsx", data={**body, "csrf_token": "x"})
    assert refused.status_code == 403
    assert audited(settings, "leads.export")[-1][1]["filters"]["ids"] == 2


def test_saved_filter_round_trip(settings, leads, admin_client):
    first, second, won = leads
    query = "status=offered&postcode=7501&cols=id&cols=name&page=3&bogus=1"
    response = post(
        admin_client, "/admin/leads/filters", {"name": "  Paris  offered ", "query": query}
    )
    assert response.status_code == 303
    kept = "status=offered&postcode=7501&cols=id&cols=name"
    assert response.headers["location"] == f"/admin/leads?{kept}"
    with session_scope(settings) as s:
        saved = s.scalars(select(SavedFilter)).one()
        assert (saved.name, saved.query) == ("Paris offered", kept)
        saved_id = saved.id
    # Listed on the leads page as a link; following it lists the filter's leads and columns.
    page = admin_client.get("/admin/leads").text
    link = re.search(rf'data-saved="{saved_id}">\s*<a href="([^"]+)">Paris offered</a>', page)
    assert link
    target = link.group(1).replace("&amp;", "&")
    assert parse_qsl(target.split("?")[1]) == [
        ("status", "offered"),
        ("postcode", "7501"),
        ("cols", "id"),
        ("cols", "name"),
    ]
    listed = admin_client.get(target).text
    assert sorted(int(i) for i in LEAD_ROW.findall(listed)) == sorted([first, second])
    header = listed.split("</thead>")[0]
    assert re.findall(r'data-col="(\w+)"', header) == ["id", "name"]
    assert f'class="chip active" data-saved="{saved_id}"' in listed
    # Saving under the same name replaces it; another admin sees none of them.
    post(admin_client, "/admin/leads/filters", {"name": "paris OFFERED", "query": "view=kanban"})
    with session_scope(settings) as s:
        assert [(f.name, f.query) for f in s.scalars(select(SavedFilter))] == [
            ("paris OFFERED", "view=kanban")
        ]
    with signed_in_client(settings, email="other@example.com") as other:
        assert "paris OFFERED" not in other.get("/admin/leads").text
        assert post(other, f"/admin/leads/filters/{saved_id}/delete").status_code == 404
    with signed_in_client(settings, role="viewer", email="viewer@example.com") as viewer:
        refused = post(viewer, "/admin/leads/filters", {"name": "mine", "query": ""})
        assert refused.status_code == 403
    assert post(admin_client, "/admin/leads/filters", {"name": " ", "query": ""}).status_code == 303
    # Delete.
    response = post(
        admin_client, f"/admin/leads/filters/{saved_id}/delete", {"next": "/admin/leads"}
    )
    assert response.status_code == 303
    with session_scope(settings) as s:
        assert s.scalars(select(SavedFilter)).all() == []
    assert [i for i, _ in audited(settings, "saved_filter.save")] == [str(saved_id)] * 2
    assert [i for i, _ in audited(settings, "saved_filter.delete")] == [str(saved_id)]
    assert 400 <= post(admin_client, "/admin/leads/filters/abc/delete").status_code < 500


def test_a_saved_search_for_an_erased_customer_loses_its_search_term(settings, leads, admin_client):
    post(
        admin_client,
        "/admin/leads/filters",
        {"name": "Claire", "query": "q=c1@example.fr&status=offered"},
    )
    post(admin_client, "/admin/leads/filters", {"name": "Lyon", "query": "q=Lyon&status=offered"})
    result = CliRunner().invoke(main, ["leads", "erase", "c1@example.fr", "--yes"])
    assert result.exit_code == 0, result.output
    with session_scope(settings) as s:
        assert {f.name: f.query for f in s.scalars(select(SavedFilter))} == {
            "Claire": "status=offered",
            "Lyon": "q=Lyon&status=offered",
        }


def test_an_ordered_or_scheduled_lead_can_be_put_back_in_rotation(settings, leads, admin_client):
    """The admin's transitions allow it (any lead not installed); the system's table alone did
    not, and the page answered 500."""
    first, second, _won = leads
    sud = installer_id(settings, SUD)
    bulk(admin_client, [first, second], "assign", installer_id=sud, reason="area")
    with session_scope(settings) as s:
        s.get(Lead, first).status = LeadStatus.ORDER_PLACED
        s.get(Lead, second).status = LeadStatus.INSTALLATION_SCHEDULED
    page = bulk(admin_client, [first], "rotate", reason="order cancelled")
    assert page.status_code == 200 and outcomes(page.text)[first][0] == "yes"
    response = post(admin_client, f"/admin/leads/{second}/rotate", {"reason": "date cancelled"})
    assert response.status_code == 303
    for lead_id in (first, second):
        status, holder, _ = state(settings, lead_id)
        assert status in ("offered", "pool") and holder is None
        with session_scope(settings) as s:
            released = s.scalars(
                select(LeadEvent).where(LeadEvent.lead_id == lead_id, LeadEvent.type == "released")
            ).one()
            assert released.actor == "admin" and released.data["installer_id"] == sud
