"""No dead ends for installers (#18): the dashboard opens where the work is, sign-in links are
pre-filled, next steps after accepting, an optional decline reason and a truthful next step,
destructive steps confirmed, the contact recorded, a printable lead page and a map link."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.models import Installer, Lead, LeadStatus, Offer, OfferStatus
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from mailflow.web.dashboard.home import opening_tab
from support.lifecycle import accepted_lead
from support.offers import (
    csrf_of,
    emails_to,
    lead,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.people import GOLD_PARIS, SILVER_PARIS
from support.waiting import wait_for

PARIS = ZoneInfo("Europe/Paris")
SIGNIN = re.compile(r"/l/signin/[A-Za-z0-9_\-.]+")


@pytest.fixture
def client(settings, worker):
    with TestClient(create_app()) as client:
        yield client


def set_installer(settings, address: str, **values) -> None:
    with session_scope(settings) as s:
        row = s.scalar(select(Installer).where(Installer.email == address))
        for key, value in values.items():
            setattr(row, key, value)


def sign_in(client, settings, address: str = GOLD_PARIS) -> None:
    before = len(emails_to(settings, address, "signin"))
    page = client.get("/dashboard/signin")
    client.post("/dashboard/signin", data={"csrf_token": csrf_of(page.text), "email": address})
    # The link is written by a job: wait for its email (joining a queue can wait for ever on
    # messages other tests left delayed).
    mail = wait_for(lambda: emails_to(settings, address, "signin")[before:])[0]
    path = SIGNIN.search(mail.body_text).group(0)
    page = client.get(path)
    done = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303


def offer_link(settings, lead_id: int, action: str, address: str = GOLD_PARIS) -> str:
    mail = [m for m in emails_to(settings, address, "offer") if m.lead_id == lead_id][0]
    return links_in(mail)[action]


def accept(settings, client, lead_id: int, address: str = GOLD_PARIS):
    wait_for_offer(settings, lead_id)
    link = offer_link(settings, lead_id, "accept", address)
    page = client.get(link)
    done = client.post(link, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200, done.text
    return done


def gold_only(settings) -> None:
    load_installers(settings)
    set_installer(settings, SILVER_PARIS, active=False)


def record(client, lead_id: int, step: str, extra: dict | None = None, **fields):
    page = client.get(f"/dashboard/leads/{lead_id}")
    data = {"csrf_token": csrf_of(page.text), "status": step, **(extra or {})}
    data.update({f"{step}-{k}": v for k, v in fields.items()})
    return client.post(f"/dashboard/leads/{lead_id}/status", data=data, follow_redirects=False)


def active_tab(page_html: str) -> str:
    return re.search(r'href="/dashboard/\?tab=(\w+)" class="active"', page_html).group(1)


def section(page_html: str, ident: str) -> str:
    start = page_html.index(f'id="{ident}"')
    return page_html[start : page_html.find("</section>", start)]


# ------------------------------------------------------------------ the opening tab ---------
def test_opening_tab_rule():
    empty = dict.fromkeys(("new", "progress", "follow_up", "finished", "available"), 0)
    assert opening_tab(empty, 0, 0) == "new"
    assert opening_tab({**empty, "new": 1, "follow_up": 2}, 1, 1) == "new"  # offers first
    assert opening_tab({**empty, "new": 1, "follow_up": 2}, 0, 1) == "follow_up"
    assert opening_tab({**empty, "finished": 3, "available": 1}, 0, 0) == "finished"
    assert opening_tab({**empty, "available": 2}, 0, 0) == "available"


def test_dashboard_opens_on_the_tab_with_work(settings, client):
    gold_only(settings)
    sign_in(client, settings)
    assert active_tab(client.get("/dashboard/").text) == "new"  # nothing anywhere

    in_progress = new_lead(settings, postcode="75011", email="b@example.fr")
    accept(settings, client, in_progress)
    assert record(client, in_progress, "contact_attempted").status_code == 303
    home = client.get("/dashboard/").text
    assert active_tab(home) == "progress"  # not an empty "New 0"
    assert f'href="/dashboard/leads/{in_progress}"' in home

    follow = new_lead(settings, postcode="75012", email="c@example.fr")
    accept(settings, client, follow)
    later = (clock.now() + timedelta(days=5)).date().isoformat()
    assert record(client, follow, "follow_up", date=later).status_code == 303
    assert active_tab(client.get("/dashboard/").text) == "progress"  # not due yet
    with session_scope(settings) as s:  # the day has come
        row = s.get(Lead, follow)
        row.progress = {**row.progress, "follow_up": {"date": clock.now().date().isoformat()}}
    assert active_tab(client.get("/dashboard/").text) == "follow_up"

    waiting = new_lead(settings, postcode="75014", email="e@example.fr")
    wait_for_offer(settings, waiting)
    home = client.get("/dashboard/").text
    assert active_tab(home) == "new" and 'id="offers"' in home
    # Only offers in New: no empty card under them.
    assert 'id="leads"' not in home
    # The Decline button does not look disabled (not the grey secondary style).
    assert re.search(r'class="button decline small-button" href="/l/decline/', home)
    # Asking for a tab still shows it.
    assert active_tab(client.get("/dashboard/?tab=finished").text) == "finished"


# ------------------------------------------------------------------ sign-in prefill ---------
def test_signin_form_is_prefilled_but_trusts_nothing(settings, client):
    load_installers(settings)
    page = client.get("/dashboard/signin?email=" + quote(GOLD_PARIS))
    assert f'value="{GOLD_PARIS}"' in page.text
    hostile = client.get("/dashboard/signin?email=" + quote('"><script>alert(1)</script>'))
    assert hostile.status_code == 200 and "<script>alert(1)" not in hostile.text
    # Pre-filling signs nobody in.
    assert client.get("/dashboard/", follow_redirects=False).status_code == 303


def test_pages_that_say_sign_in_link_to_a_prefilled_form(settings, client):
    gold_only(settings)
    lead_id = new_lead(settings)
    accepted = accept(settings, client, lead_id)
    # After accepting: call, record the contact, open the dashboard.
    steps = section(accepted.text.replace("</div>", "</section>"), "next-steps")
    assert 'href="tel:+33140347000"' in steps
    assert f'href="/dashboard/leads/{lead_id}#record"' in steps
    dashboard = html.unescape(re.search(r'id="open-dashboard" href="([^"]+)"', steps).group(1))
    assert urlsplit(dashboard).path == "/dashboard/signin"
    assert parse_qs(urlsplit(dashboard).query)["email"] == [GOLD_PARIS]
    signin = client.get(dashboard)
    assert f'value="{GOLD_PARIS}"' in signin.text

    # The contact details page ("sign in to your dashboard to see them again") links there.
    details = wait_for(lambda: emails_to(settings, GOLD_PARIS, "contact_details"))
    reveal = links_in(details[-1])["reveal"]
    page = client.get(reveal)
    shown = client.post(reveal, data={"csrf_token": csrf_of(page.text)})
    link = html.unescape(re.search(r'href="([^"]+)" id="signin-link"', shown.text).group(1))
    assert parse_qs(urlsplit(link).query) == {
        "email": [GOLD_PARIS],
        "next": [f"/dashboard/leads/{lead_id}"],
    }

    # The paused installer's vacation page says "sign in" and links to the pre-filled form.
    set_installer(settings, GOLD_PARIS, active=False)
    footer = re.search(
        r"/l/vacation/[A-Za-z0-9_\-.]+", emails_to(settings, GOLD_PARIS)[-1].body_text
    )
    page = client.get(footer.group(0))
    link = html.unescape(re.search(r'href="([^"]+)" id="signin-link"', page.text).group(1))
    assert f'value="{GOLD_PARIS}"' in client.get(link).text

    # Signed in already: the sign-in link goes where it was meant to.
    set_installer(settings, GOLD_PARIS, active=True)
    sign_in(client, settings)
    again = client.get(
        f"/dashboard/signin?email=x%40y.z&next=/dashboard/leads/{lead_id}", follow_redirects=False
    )
    assert again.headers["location"] == f"/dashboard/leads/{lead_id}"


# ------------------------------------------------------------------ decline -----------------
def test_decline_without_reason_goes_to_the_next_installer(settings, client):
    load_installers(settings)
    lead_id = new_lead(settings)
    (offer,) = wait_for_offer(settings, lead_id)
    with session_scope(settings) as s:
        first = s.get(Installer, s.get(Offer, offer.id).installer_id).email
    link = offer_link(settings, lead_id, "decline", first)
    page = client.get(link)
    assert page.status_code == 200
    assert 'name="reason"' in page.text and "checked" not in page.text  # nothing chosen
    done = client.post(link, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200
    with session_scope(settings) as s:
        declined = s.get(Offer, offer.id)
        assert declined.status == OfferStatus.DECLINED and declined.decline_reason is None
        row = s.get(Lead, lead_id)
        assert row.status == LeadStatus.OFFERED  # what routing did: the next installer
        assert len(list(s.scalars(select(Offer).where(Offer.lead_id == lead_id)))) == 2
    assert "proposé à l'installateur suivant" in done.text
    assert "bourse" not in done.text


def test_decline_when_nobody_else_can_take_it_says_so(settings, client):
    gold_only(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    link = offer_link(settings, lead_id, "decline")
    page = client.get(link)
    done = client.post(link, data={"csrf_token": csrf_of(page.text), "reason": "no_capacity"})
    assert done.status_code == 200
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.POOL and row.exchange_since is not None
    assert "bourse aux leads" in done.text and "installateur suivant" not in done.text


# ------------------------------------------------------------------ destructive steps -------
@pytest.mark.parametrize("step", ["failed", "released"])
def test_destructive_steps_need_confirmation(settings, client, step):
    gold_only(settings)
    lead_id = new_lead(settings)
    accept(settings, client, lead_id)
    sign_in(client, settings)
    page = client.get(f"/dashboard/leads/{lead_id}").text
    styles = dict(
        (value, cls)
        for cls, value in re.findall(
            r'<div class="(step[a-z ]*)">\s*<label class="choice"><input type="radio" '
            r'name="status" value="([a-z_]+)"',
            page,
        )
    )
    # Only the steps that cannot be undone look dangerous.
    assert {v for v, cls in styles.items() if "destructive" in cls} == {"failed", "released"}
    assert f'name="{step}-confirm"' in page

    refused = record(client, lead_id, step, reason="plus intéressé")
    assert refused.status_code == 422
    assert "Cochez la case pour confirmer" in refused.text
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
    assert not [e for e in lead(settings, lead_id).events if e.type == "status"]

    done = record(client, lead_id, step, reason="plus intéressé", confirm="on")
    assert done.status_code == 303
    row = lead(settings, lead_id)
    if step == "failed":
        assert row.status == LeadStatus.FAILED
    else:
        assert row.assigned_installer_id is None


# ------------------------------------------------------------------ contact type and date ---
def test_status_records_contact_type_and_date(settings, client):
    gold_only(settings)
    lead_id = new_lead(settings)
    accept(settings, client, lead_id)
    sign_in(client, settings)
    page = client.get(f"/dashboard/leads/{lead_id}").text
    today = clock.now().astimezone(PARIS).date()
    assert f'name="contact_date" value="{today.isoformat()}" max="{today.isoformat()}"' in page
    assert '<option value="phone">Téléphone</option>' in page

    tomorrow = (today + timedelta(days=1)).isoformat()
    future = record(
        client, lead_id, "first_contact", {"contact_type": "phone", "contact_date": tomorrow}
    )
    assert future.status_code == 422
    assert "La date du contact ne peut pas être dans le futur." in future.text
    bad = record(client, lead_id, "first_contact", {"contact_type": "fax"})
    assert bad.status_code == 422 and "Choisissez téléphone, e-mail, visite ou autre." in bad.text
    garbled = record(client, lead_id, "first_contact", {"contact_date": "31/02/2026"})
    assert garbled.status_code == 422
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED

    yesterday = today - timedelta(days=1)
    done = record(
        client,
        lead_id,
        "first_contact",
        {"contact_type": "visit", "contact_date": yesterday.isoformat()},
    )
    assert done.status_code == 303
    row = lead(settings, lead_id)
    (event,) = [e for e in row.events if e.type == "status"]
    assert event.data["contact_type"] == "visit"
    assert event.data["contact_date"] == yesterday.isoformat()
    timeline = section(client.get(f"/dashboard/leads/{lead_id}").text, "timeline")
    assert "Contact : Visite" in timeline

    # Only the type: the day is today in the installer's zone.
    done = record(
        client, lead_id, "quote_sent", {"contact_type": "email", "contact_date": ""}, amount="9000"
    )
    assert done.status_code == 303
    last = [e for e in lead(settings, lead_id).events if e.type == "status"][-1]
    assert last.data["contact_type"] == "email" and last.data["contact_date"] == today.isoformat()
    assert "contact_type" not in lead(settings, lead_id).progress["quote"]


def test_status_link_page_records_the_contact_and_confirms(settings, client):
    lead_id = accepted_lead(settings, clock.now() - timedelta(hours=1))
    mail = wait_for(lambda: emails_to(settings, GOLD_PARIS, "offer_accepted"))[-1]
    links = dict(
        (label.strip(), url.split("/l/status/")[1])
        for url, label in re.findall(
            r'<a href="([^"]+/l/status/[^"]+)"[^>]*>([^<]+)</a>', mail.body_html
        )
    )
    failed = "/l/status/" + links["Échec : le client ne souhaite pas continuer"]
    page = client.get(failed)
    assert 'name="confirm"' in page.text and 'class="danger"' in page.text
    csrf = csrf_of(page.text)
    refused = client.post(failed, data={"csrf_token": csrf, "contact_type": "phone"})
    assert refused.status_code == 422 and lead(settings, lead_id).status == LeadStatus.ACCEPTED
    first = "/l/status/" + links["Premier contact établi"]
    page = client.get(first)
    assert 'name="contact_type"' in page.text
    done = client.post(
        first, data={"csrf_token": csrf_of(page.text), "contact_type": "phone", "contact_date": ""}
    )
    assert done.status_code == 200
    (event,) = [e for e in lead(settings, lead_id).events if e.type == "status"]
    assert event.data["contact_type"] == "phone" and event.data["via"] == "email link"


# ------------------------------------------------------------------ print and map -----------
def test_map_link_only_once_accepted_and_print_link(settings, client):
    gold_only(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    offer_page = client.get(offer_link(settings, lead_id, "accept"))
    assert "openstreetmap" not in offer_page.text and "Quai de Valmy" not in offer_page.text
    accepted = accept(settings, client, lead_id)
    expected = "https://www.openstreetmap.org/search?query=" + quote(
        "Quai de Valmy 167, 75010 Paris, FR", safe=""
    ).replace("%20", "+")
    assert f'href="{expected}"' in accepted.text

    sign_in(client, settings)
    page = client.get(f"/dashboard/leads/{lead_id}").text
    assert 'id="map-link" rel="noopener noreferrer" target="_blank"' in page
    assert f'href="{expected}"' in section(page, "customer")
    assert f'href="/dashboard/leads/{lead_id}?print=1" id="print-link">Imprimer</a>' in page
    assert "@media print" in page
    printable = client.get(f"/dashboard/leads/{lead_id}?print=1").text
    assert '<body class="printable">' in printable and 'id="print-hint"' in printable


# ------------------------------------------------------------------ reminders ---------------
def test_reminder_names_the_lead_and_links_to_it(settings, worker):
    at = datetime(2026, 11, 19, 15, 0, tzinfo=PARIS)  # Thursday
    lead_id = accepted_lead(settings, at)
    run_sweep(settings, datetime(2026, 11, 23, 15, 0, tzinfo=PARIS))  # 2 business days later
    (reminder,) = emails_to(settings, GOLD_PARIS, "reminder")
    assert f"n° {lead_id} (Claire Dubois, 75010 Paris)" in reminder.subject
    assert f"Lead n° {lead_id} : Claire Dubois, 75010 Paris" in reminder.body_text
    base = settings.base_url.rstrip("/")
    assert f"{base}/dashboard/leads/{lead_id}#record" in reminder.body_text
    assert f'href="{base}/dashboard/leads/{lead_id}#record"' in reminder.body_html
    assert f'href="{base}/dashboard/leads/{lead_id}"' in reminder.body_html
