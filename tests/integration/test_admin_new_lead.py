"""The admin's "new lead" page: a lead taken by phone, validated as the webhook validates,
source ``manual``, duplicates marked, routed like any other, audited (#16)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.models import AuditEntry, Lead, LeadStatus
from mailflow.web.app import create_app
from support.offers import load_installers, wait_for_offer
from support.people import GOLD_PARIS
from support.web import CSRF_RE, choose_language, post, signed_in_client

FORM = {
    "name": "Julien Petit",
    "email": "julien.petit@example.fr",
    "phone": "06 12 34 56 78",
    "street": "12 rue Oberkampf",
    "postcode": "75011",
    "city": "Paris",
    "country": "FR",
    "language": "fr",
    "reachability": "le soir",
    "product": "pv_battery",
    "building_type": "residential",
    "grid_connection": "on_grid",
    "external_id": "TEL-2026-001",
    "annual_consumption_kwh": "4 200",
    "roof_area_m2": "38,5",
    "module_count": "14",
    "storage_interest": "yes",
    "module": "Q.PEAK DUO",
    "message": "Appel du 4 décembre : veut un devis avant Noël.",
}


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


def create(client, data: dict, page: str = "/admin/leads/new"):
    return post(client, "/admin/leads/new", data, page=page)


def leads(settings) -> list[Lead]:
    with session_scope(settings) as s:
        rows = list(s.scalars(select(Lead).order_by(Lead.id)))
        for row in rows:
            _ = row.events
        return rows


def test_the_leads_list_links_to_the_form(settings, admin_client):
    page = admin_client.get("/admin/leads")
    assert 'href="/admin/leads/new"' in page.text
    form = admin_client.get("/admin/leads/new")
    assert form.status_code == 200
    assert 'action="/admin/leads/new"' in form.text and 'value="FR"' in form.text
    for name in ("name", "email", "phone", "postcode", "product", "roof_area_m2", "message"):
        assert f'name="{name}"' in form.text


def test_create_routes_the_lead_and_shows_its_page(settings, worker, admin_client):
    load_installers(settings)
    response = create(admin_client, FORM)
    assert response.status_code == 303, response.text
    (lead,) = leads(settings)
    assert response.headers["location"] == f"/admin/leads/{lead.id}"
    assert lead.source == "manual" and lead.customer_name == "Julien Petit"
    assert lead.phone == "+33612345678" and lead.email == "julien.petit@example.fr"
    assert (lead.postcode, lead.city, lead.country, lead.language) == ("75011", "Paris", "FR", "fr")
    assert lead.product == "pv_battery" and lead.external_id == "TEL-2026-001"
    assert lead.details == {
        "annual_consumption_kwh": 4200,
        "roof_area_m2": 38.5,
        "module_count": 14,
        "storage_interest": True,
        "module": "Q.PEAK DUO",
    }
    intake = lead.events[0]
    assert intake.type == "intake" and intake.actor.value == "admin"
    assert intake.data["by"] == "admin@example.com" and intake.data["source"] == "manual"
    (offer,) = wait_for_offer(settings, lead.id)  # routed like any lead: gold Paris first
    with session_scope(settings) as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "lead.create")).one()
        assert audit.object_id == str(lead.id) and audit.actor == "admin@example.com"
        assert "Julien" not in str(audit.data) + (audit.summary or "")
    page = admin_client.get(f"/admin/leads/{lead.id}")
    assert f"Lead #{lead.id} created." in page.text and GOLD_PARIS in page.text


def test_the_same_customer_again_is_a_duplicate(settings, worker, admin_client):
    first = create(admin_client, FORM)
    again = create(admin_client, {**FORM, "phone": "", "message": "rappel"})
    assert first.status_code == again.status_code == 303
    original, duplicate = leads(settings)
    assert duplicate.status == LeadStatus.DUPLICATE and duplicate.duplicate_of_id == original.id
    page = admin_client.get(again.headers["location"])
    assert f"a duplicate of lead #{original.id}" in page.text


def test_a_form_sent_twice_makes_one_lead(settings, worker, admin_client):
    form = admin_client.get("/admin/leads/new").text
    form_id = re.search(r'name="form_id" value="([^"]+)"', form).group(1)
    token = CSRF_RE.search(form).group(1)
    data = {"csrf_token": token, "form_id": form_id, **FORM}
    one = admin_client.post("/admin/leads/new", data=data, follow_redirects=False)
    two = admin_client.post("/admin/leads/new", data=data, follow_redirects=False)
    assert one.headers["location"] == two.headers["location"]
    assert len(leads(settings)) == 1


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"name": ""}, "name", "Enter the customer&#39;s name."),
        ({"postcode": ""}, "postcode", "Enter a postcode."),
        ({"postcode": "--"}, "postcode", "This is not a postcode."),
        ({"email": "julien@", "phone": ""}, "email", "This is not a valid email address."),
        ({"phone": "12", "email": ""}, "phone", "This is not a valid phone number."),
        ({"email": "", "phone": ""}, "email", "Enter an email address or a phone number."),
        ({"email": "", "phone": ""}, "phone", "Enter an email address or a phone number."),
        ({"country": "France"}, "country", "Enter a two-letter country code, e.g. FR or DE."),
        ({"product": "wind"}, "product", "Choose one of the listed values."),
        ({"roof_area_m2": "big"}, "roof_area_m2", "Enter a number."),
    ],
)
def test_errors_are_shown_beside_their_fields_with_the_typed_values(
    settings, admin_client, change, field, message
):
    data = {**FORM, **change}
    response = create(admin_client, data)
    assert response.status_code == 422
    shown = re.search(rf'<span class="err" id="{field}-error">([^<]*)</span>', response.text)
    assert shown and shown.group(1) == message, response.text
    assert 'value="Julien Petit"' in response.text or field == "name"
    typed = data[field]
    if typed and field not in ("product",):
        assert f'value="{typed}"' in response.text
    assert leads(settings) == []


def test_errors_in_the_admins_language(settings, admin_client):
    """The page speaks the admin's chosen language; untranslated texts stay English."""
    choose_language(admin_client, "de")
    response = admin_client.post(
        "/admin/leads/new",
        data={
            "csrf_token": CSRF_RE.search(admin_client.get("/admin/leads/new").text).group(1),
            **{**FORM, "name": ""},
        },
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert '<section lang="de">' in response.text
    assert 'id="name-error"' in response.text


def test_viewer_is_refused(settings):
    with signed_in_client(settings, role="viewer", email="viewer@example.com") as viewer:
        assert 'href="/admin/leads/new"' not in viewer.get("/admin/leads").text
        page = viewer.get("/admin/leads/new")  # a viewer sees every page, without its form
        assert page.status_code == 200 and 'id="read-only"' in page.text
        assert 'action="/admin/leads/new"' not in page.text
        refused = post(viewer, "/admin/leads/new", FORM, page="/admin/leads")
        assert refused.status_code == 403 and "read-only" in refused.text
    assert leads(settings) == []


def test_csrf_is_required(settings, admin_client):
    missing = admin_client.post("/admin/leads/new", data=FORM, follow_redirects=False)
    wrong = admin_client.post(
        "/admin/leads/new", data={**FORM, "csrf_token": "forged"}, follow_redirects=False
    )
    assert missing.status_code == wrong.status_code == 403
    assert leads(settings) == []


def test_signed_out_goes_to_the_login_form(settings):
    client = TestClient(create_app())
    page = client.get("/admin/leads/new", follow_redirects=False)
    assert page.status_code in (302, 303) and "/admin/login" in page.headers["location"]
    sent = client.post("/admin/leads/new", data=FORM, follow_redirects=False)
    assert sent.status_code == 403
    assert leads(settings) == []
