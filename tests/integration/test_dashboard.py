"""Installer accounts: sign-in by emailed link, the session, the dashboard, vacation, language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
import time_machine
from fastapi.responses import Response
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.lifecycle.service import deactivate_silent_installers
from mailflow.links import tokens
from mailflow.models import (
    Installer,
    InstallerSession,
    Lead,
    LeadStatus,
    LinkNonce,
    Offer,
    OfferStatus,
    SiteVisit,
    Survey,
)
from mailflow.web.app import create_app
from mailflow.web.dashboard.common import safe_next
from mailflow.web.dashboard.sessions import set_session_cookie
from support.broker import stub_broker
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

SIGNIN = re.compile(r"/l/signin/[A-Za-z0-9_\-.]+")


def make_client() -> TestClient:
    return TestClient(create_app())


@pytest.fixture
def client(settings, worker):
    """A browser; the worker sends the sign-in links (a job, see mailflow.installers.signin)."""
    with make_client() as client:
        yield client


# ------------------------------------------------------------------ helpers ----------------
def request_link(client, address: str, next_url: str | None = None):
    page = client.get("/dashboard/signin" + (f"?next={next_url}" if next_url else ""))
    assert page.status_code == 200
    data = {"csrf_token": csrf_of(page.text), "email": address}
    if next_url:
        data["next"] = unquote(next_url)
    return client.post("/dashboard/signin", data=data)


def last_signin_path(settings, address: str) -> str:
    """The newest sign-in link emailed to ``address`` (a job sends it: wait for the jobs)."""
    stub_broker.join("outbound")
    mails = emails_to(settings, address, "signin")
    assert mails, f"no sign-in email to {address}"
    return SIGNIN.search(mails[-1].body_text).group(0)


def sign_in(client, settings, address: str) -> None:
    assert request_link(client, address).status_code == 200
    path = last_signin_path(settings, address)
    page = client.get(path)
    assert page.status_code == 200
    done = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/dashboard/"


def installer(settings, address: str) -> Installer:
    with session_scope(settings) as s:
        return s.scalar(select(Installer).where(Installer.email == address))


def update_installer(settings, address: str, **values) -> None:
    with session_scope(settings) as s:
        row = s.scalar(select(Installer).where(Installer.email == address))
        for key, value in values.items():
            setattr(row, key, value)


def sessions_of(settings, address: str) -> int:
    with session_scope(settings) as s:
        return s.scalar(
            select(func.count())
            .select_from(InstallerSession)
            .join(Installer, Installer.id == InstallerSession.installer_id)
            .where(Installer.email == address)
        )


def accept_lead(settings, client, postcode: str = "75010", email: str = "claire@example.fr") -> int:
    """A lead offered to the gold Paris installer, accepted through the emailed link."""
    lead_id = new_lead(settings, postcode=postcode, email=email)
    (offer,) = wait_for_offer(settings, lead_id)
    mail = [m for m in emails_to(settings, GOLD_PARIS, "offer") if m.lead_id == lead_id][0]
    accept = links_in(mail)["accept"]
    page = client.get(accept)
    done = client.post(accept, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200, done.text
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
    return lead_id


def only_gold_serves_paris(settings) -> None:
    """Routing shares leads between tiers: with the silver Paris installer paused, every
    Paris lead goes to the gold one."""
    update_installer(settings, SILVER_PARIS, active=False)


def record(client, lead_id: int, step: str, **fields):
    page = client.get(f"/dashboard/leads/{lead_id}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_of(page.text), "status": step}
    data.update({f"{step}-{k}": v for k, v in fields.items()})
    return client.post(f"/dashboard/leads/{lead_id}/status", data=data, follow_redirects=False)


def section(html: str, ident: str) -> str:
    start = html.index(f'id="{ident}"')
    end = html.find("</section>", start)
    return html[start:end]


def lead_ids(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'href="/dashboard/leads/(\d+)"', html)}


# ------------------------------------------------------------------ sign-in ---------------
def test_signin_request_answers_the_same_and_only_mails_known_installers(settings, client):
    load_installers(settings)
    page = client.get("/dashboard/signin")
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    cookie = page.headers["set-cookie"]  # the signed double-submit cookie of web/csrf.py
    assert cookie.startswith("mf_csrf=") and "SameSite=strict" in cookie and "HttpOnly" in cookie

    known = request_link(client, "Contact@Soleil-Paris.example")
    unknown = request_link(client, "nobody@soleil-paris.example")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("Contact@Soleil-Paris.example", "X") == unknown.text.replace(
        "nobody@soleil-paris.example", "X"
    )
    assert "sign-in link is on its way" in known.text
    stub_broker.join("outbound")
    (mail,) = emails_to(settings, GOLD_PARIS, "signin")
    assert mail.language == "fr" and "/l/signin/" in mail.body_text
    assert emails_to(settings, "nobody@soleil-paris.example") == []

    # At most 5 links per address and hour; the page does not tell.
    for _ in range(6):
        again = request_link(client, GOLD_PARIS)
        assert again.status_code == 200 and "on its way" in again.text
    stub_broker.join("outbound")
    assert len(emails_to(settings, GOLD_PARIS, "signin")) == 5

    bad = request_link(client, "not an address")
    assert bad.status_code == 422 and "valid email address" in bad.text


def test_signin_link_opening_changes_nothing_post_signs_in_once(settings, client):
    load_installers(settings)
    request_link(client, GOLD_PARIS)
    path = last_signin_path(settings, GOLD_PARIS)
    before = installer(settings, GOLD_PARIS).last_action_at

    for _ in range(2):  # mail scanners open links
        page = client.get(path)
        assert page.status_code == 200
        assert "Se connecter" in page.text and "Camille Roux" in page.text
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "mf_installer" not in page.headers.get("set-cookie", "")
    assert sessions_of(settings, GOLD_PARIS) == 0
    assert installer(settings, GOLD_PARIS).last_action_at == before
    assert client.get("/dashboard/", follow_redirects=False).status_code == 303

    done = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/dashboard/"
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("mf_installer=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # http base URL in tests
    assert sessions_of(settings, GOLD_PARIS) == 1
    assert installer(settings, GOLD_PARIS).last_action_at is not None

    home = client.get("/dashboard/")
    assert home.status_code == 200 and "Vos leads" in home.text
    assert home.headers["Cache-Control"] == "no-store"

    # The link works once.
    again = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert again.status_code == 409 and "déjà été utilisé" in again.text
    assert "/dashboard/signin" in again.text  # offers a new link
    assert sessions_of(settings, GOLD_PARIS) == 1
    opened = client.get(path)
    assert opened.status_code == 409


def test_bad_and_expired_signin_links(settings, client):
    load_installers(settings)
    request_link(client, GOLD_PARIS)
    path = last_signin_path(settings, GOLD_PARIS)
    page = client.get(path)
    assert page.status_code == 200
    tampered = client.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert tampered.status_code == 400 and "/dashboard/signin" in tampered.text
    assert client.get("/l/signin/nonsense").status_code == 400
    with time_machine.travel(clock.now() + timedelta(hours=1, minutes=5)):
        late = client.get(path)
        assert late.status_code == 410 and "expiré" in late.text  # in the installer's language
        posted = client.post(path, data={"csrf_token": csrf_of(page.text)})
        # The page's CSRF cookie lasts an hour too: refused either way, nothing changed.
        assert posted.status_code in (403, 410)
    assert sessions_of(settings, GOLD_PARIS) == 0


def test_signin_goes_back_to_the_page_asked_for(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = accept_lead(settings, client)
    asked = client.get(f"/dashboard/leads/{lead_id}", follow_redirects=False)
    assert asked.status_code == 303
    location = asked.headers["location"]
    assert location.startswith("/dashboard/signin?next=")
    request_link(client, GOLD_PARIS, next_url=location.split("next=", 1)[1])
    path = last_signin_path(settings, GOLD_PARIS)
    page = client.get(path)
    done = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.headers["location"] == f"/dashboard/leads/{lead_id}"

    for evil in (
        "//evil.example/x",
        "https://evil.example/",
        "/dashboard/../admin",
        "/dashboard/signin",
        "/admin/",
        None,
        5,
    ):
        assert safe_next(evil) == "/dashboard/"


def test_session_cookie_is_secure_on_https(settings):
    https = settings.model_copy(update={"base_url": "https://leads.example.com"})
    cookie = set_session_cookie(Response(), "value", https).headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


# ------------------------------------------------------------------ the dashboard ---------
def test_tabs_show_the_right_leads(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    accepted = accept_lead(settings, client, "75010", "a@example.fr")
    progress = accept_lead(settings, client, "75011", "b@example.fr")
    follow = accept_lead(settings, client, "75012", "c@example.fr")
    finished = accept_lead(settings, client, "75013", "d@example.fr")
    waiting = new_lead(settings, postcode="75014", email="e@example.fr")
    wait_for_offer(settings, waiting)
    sign_in(client, settings, GOLD_PARIS)

    assert record(client, progress, "contact_attempted").status_code == 303
    soon = (clock.now() + timedelta(days=10)).date().isoformat()
    assert record(client, follow, "follow_up", date=soon, note="rappeler").status_code == 303
    assert (
        record(client, finished, "failed", reason="plus intéressé", confirm="on").status_code == 303
    )

    new = client.get("/dashboard/")
    assert new.status_code == 200
    assert lead_ids(section(new.text, "leads")) == {accepted}
    offers = section(new.text, "offers")
    assert f"#{waiting}" in offers and "Claire" not in offers  # no name before accepting
    assert "75014" in offers and "Répondre avant" in offers
    assert f'href="/dashboard/leads/{waiting}"' not in new.text
    assert 'id="tab-new"' in new.text and ">2</span>" in new.text  # one lead + one offer

    assert lead_ids(client.get("/dashboard/?tab=progress").text) == {progress}
    follow_tab = client.get("/dashboard/?tab=follow_up").text
    assert lead_ids(follow_tab) == {follow} and "rappeler" in follow_tab
    assert lead_ids(client.get("/dashboard/?tab=finished").text) == {finished}
    assert lead_ids(client.get("/dashboard/?tab=bogus").text) == {accepted}


def test_waiting_offer_links_to_the_emailed_answer_pages(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    sign_in(client, settings, GOLD_PARIS)
    home = client.get("/dashboard/").text
    accept = re.search(r'href="(/l/accept/[^"]+)"', home).group(1)
    assert re.search(r'href="/l/decline/[^"]+"', home)
    page = client.get(accept)
    assert page.status_code == 200 and "Accepter ce lead ?" in page.text
    done = client.post(accept, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200 and "claire@example.fr" in done.text
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
    # The emailed link and the dashboard's are one answer: the email's link is now used.
    emailed = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    assert client.post(emailed, data={"csrf_token": csrf_of(page.text)}).status_code == 409
    assert lead_ids(client.get("/dashboard/").text) == {lead_id}
    assert "/l/accept/" not in client.get("/dashboard/").text


def test_lead_page_for_the_owner_only(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = accept_lead(settings, client)
    with session_scope(settings) as s:
        s.get(Lead, lead_id).message = "Appelez <b>après</b> 18h <script>alert(1)</script>"
    sign_in(client, settings, GOLD_PARIS)
    page = client.get(f"/dashboard/leads/{lead_id}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    customer = section(page.text, "customer")
    for shown in (
        "Claire Dubois",
        "claire@example.fr",
        "+33140347000",
        "Quai de Valmy 167",
        "75010",
        "toujours",
    ):
        assert shown in customer
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in customer and "<script>" not in page.text
    assert "3" in section(page.text, "project")  # consumption 3100 kWh
    timeline = section(page.text, "timeline")
    assert "Accepté" in timeline and "Europe/Paris" in timeline
    steps = re.findall(r'name="status" value="([a-z_]+)"', page.text)
    assert steps == [
        "contact_attempted",
        "first_contact",
        "quote_sent",
        "order_placed",
        "failed",
        "follow_up",
        "released",
    ]

    with make_client() as other:
        sign_in(other, settings, SILVER_PARIS)
        theirs = other.get(f"/dashboard/leads/{lead_id}")
        missing = other.get("/dashboard/leads/999999")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text == missing.text and "Claire" not in theirs.text
        assert other.get("/dashboard/leads/abc").status_code == 404
        home = other.get("/dashboard/").text
        csrf = csrf_of(home)
        posted = other.post(
            f"/dashboard/leads/{lead_id}/status", data={"csrf_token": csrf, "status": "failed"}
        )
        assert posted.status_code == 404
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED


def test_record_a_quote_from_the_lead_page(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = accept_lead(settings, client)
    sign_in(client, settings, GOLD_PARIS)

    # Missing amount: the form comes back with the error, nothing recorded.
    missing = record(client, lead_id, "quote_sent", amount="", currency="EUR")
    assert missing.status_code == 422
    assert 'id="f-quote_sent-amount-error"' in missing.text and "Obligatoire" in missing.text
    assert 'value="quote_sent" id="step-quote_sent" checked' in missing.text
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
    bad = record(client, lead_id, "quote_sent", amount="beaucoup")
    assert bad.status_code == 422 and 'value="beaucoup"' in bad.text
    none = record(client, lead_id, "")
    assert none.status_code == 422

    done = record(
        client,
        lead_id,
        "quote_sent",
        amount="12 500,50",
        currency="EUR",
        approved="on",
        products="13 modules, onduleur",
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/dashboard/leads/{lead_id}?done=saved"
    page = client.get(done.headers["location"])
    assert "Enregistré." in page.text
    progress = section(page.text, "progress")
    assert "12\u202f500,50\xa0€" in progress and "13 modules, onduleur" in progress
    timeline = section(page.text, "timeline")
    assert "Devis envoyé" in timeline or "Quote sent" in timeline
    assert "12\u202f500,50\xa0€" in timeline
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.QUOTE_SENT
    assert row.progress["quote"] == {
        "amount": 12500.5,
        "currency": "EUR",
        "approved": True,
        "products": "13 modules, onduleur",
    }
    (event,) = [e for e in row.events if e.type == "status"]
    assert event.data["via"] == "dashboard" and event.actor == "installer"
    assert event.data["amount"] == 12500.5

    # A step the lead cannot take from here: a clear refusal, nothing recorded.
    refused = record(client, lead_id, "contact_attempted")
    assert refused.status_code == 409
    assert 'id="problem"' in refused.text and "Devis envoyé" in refused.text
    assert lead(settings, lead_id).status == LeadStatus.QUOTE_SENT
    assert len([e for e in lead(settings, lead_id).events if e.type == "status"]) == 1

    # Giving the lead back: it leaves the dashboard.
    released = record(client, lead_id, "released", reason="trop loin", confirm="on")
    assert (
        released.status_code == 303 and released.headers["location"] == "/dashboard/?done=released"
    )
    assert client.get(f"/dashboard/leads/{lead_id}").status_code == 404


def test_timeline_hides_other_installers(settings, worker, client):
    load_installers(settings)
    lead_id = new_lead(settings)
    (first,) = wait_for_offer(settings, lead_id)
    first_email, second_email = (
        (GOLD_PARIS, SILVER_PARIS)
        if installer(settings, GOLD_PARIS).id == first.installer_id
        else (SILVER_PARIS, GOLD_PARIS)
    )
    decline = links_in(emails_to(settings, first_email, "offer")[0])["decline"]
    page = client.get(decline)
    client.post(
        decline,
        data={
            "csrf_token": csrf_of(page.text),
            "reason": "no_capacity",
            "note": "secret note about my workload",
        },
    )
    wait_for_offer(settings, lead_id, count=2)
    accept = links_in(emails_to(settings, second_email, "offer")[0])["accept"]
    page = client.get(accept)
    assert client.post(accept, data={"csrf_token": csrf_of(page.text)}).status_code == 200
    sign_in(client, settings, second_email)
    timeline = section(client.get(f"/dashboard/leads/{lead_id}").text, "timeline")
    assert first_email not in timeline and "secret note" not in timeline
    assert "Refusé" not in timeline
    assert "Demande reçue" in timeline and "Offre reçue" in timeline and "Accepté" in timeline


# ------------------------------------------------------------------ settings & vacation ----
@time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=True)
def test_vacation_language_and_digest_in_settings(settings, client):
    load_installers(settings)
    sign_in(client, settings, GOLD_PARIS)
    page = client.get("/dashboard/settings")
    assert page.status_code == 200 and "Congés" in page.text
    csrf = csrf_of(page.text)

    # Across the spring time change: CET on the first day, CEST after the last.
    saved = client.post(
        "/dashboard/settings",
        data={
            "csrf_token": csrf,
            "action": "vacation",
            "vacation_from": "2027-03-20",
            "vacation_until": "2027-03-30",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    row = installer(settings, GOLD_PARIS)
    assert row.vacation_from == datetime(2027, 3, 19, 23, 0, tzinfo=UTC)
    assert row.vacation_until == datetime(2027, 3, 30, 22, 0, tzinfo=UTC)
    shown = client.get(saved.headers["location"]).text
    assert 'value="2027-03-20"' in shown and 'value="2027-03-30"' in shown
    assert "30 mars 2027" in shown

    wrong = client.post(
        "/dashboard/settings",
        data={
            "csrf_token": csrf,
            "action": "vacation",
            "vacation_from": "2027-04-10",
            "vacation_until": "2027-04-01",
        },
    )
    assert wrong.status_code == 422
    past = client.post(
        "/dashboard/settings",
        data={
            "csrf_token": csrf,
            "action": "vacation",
            "vacation_from": "2020-01-01",
            "vacation_until": "2020-01-02",
        },
    )
    assert past.status_code == 422
    assert installer(settings, GOLD_PARIS).vacation_until == datetime(
        2027, 3, 30, 22, 0, tzinfo=UTC
    )

    cleared = client.post(
        "/dashboard/settings", data={"csrf_token": csrf, "action": "clear_vacation"}
    )
    assert cleared.status_code == 200
    row = installer(settings, GOLD_PARIS)
    assert row.vacation_from is None and row.vacation_until is None

    prefs = client.post(
        "/dashboard/settings",
        data={
            "csrf_token": csrf,
            "action": "preferences",
            "language": "de",
            "digest_opt_out": "on",
        },
    )
    assert prefs.status_code == 200 and "Einstellungen" in prefs.text
    row = installer(settings, GOLD_PARIS)
    assert row.language == "de" and row.digest_opt_out is True
    client.post(
        "/dashboard/settings", data={"csrf_token": csrf, "action": "preferences", "language": "xx"}
    )
    row = installer(settings, GOLD_PARIS)
    assert row.language == "de" and row.digest_opt_out is False


@time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=True)
def test_vacation_link_from_the_email_footer(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    vacation = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["vacation"]
    before = installer(settings, GOLD_PARIS)

    for _ in range(2):
        page = client.get(vacation)
        assert page.status_code == 200 and 'name="vacation_from"' in page.text
        assert page.headers["Referrer-Policy"] == "no-referrer"
    after_get = installer(settings, GOLD_PARIS)
    assert after_get.vacation_from is None and after_get.last_action_at == before.last_action_at

    refused = client.post(
        vacation,
        data={"action": "vacation", "vacation_from": "2027-07-01", "vacation_until": "2027-07-14"},
    )
    assert refused.status_code == 403 and installer(settings, GOLD_PARIS).vacation_from is None

    done = client.post(
        vacation,
        data={
            "csrf_token": csrf_of(page.text),
            "action": "vacation",
            "vacation_from": "2027-07-01",
            "vacation_until": "2027-07-14",
        },
    )
    assert done.status_code == 200 and "14 juil. 2027" in done.text
    row = installer(settings, GOLD_PARIS)
    assert row.vacation_from == datetime(2027, 6, 30, 22, 0, tzinfo=UTC)
    assert row.vacation_until == datetime(2027, 7, 14, 22, 0, tzinfo=UTC)
    assert row.last_action_at is not None and row.last_action_at != before.last_action_at

    # Lasting: the same link works again (to clear it).
    page = client.get(vacation)
    assert 'value="2027-07-01"' in page.text
    cleared = client.post(
        vacation, data={"csrf_token": csrf_of(page.text), "action": "clear_vacation"}
    )
    assert cleared.status_code == 200
    assert installer(settings, GOLD_PARIS).vacation_until is None
    invalid = client.post(
        vacation,
        data={
            "csrf_token": csrf_of(page.text),
            "action": "vacation",
            "vacation_from": "",
            "vacation_until": "",
        },
    )
    assert invalid.status_code == 422
    assert client.get("/l/vacation/garbage").status_code == 400


def test_digest_opt_out_link(settings, client):
    load_installers(settings)
    row = installer(settings, GOLD_PARIS)
    with session_scope(settings) as s:
        token = tokens.issue(
            s,
            settings,
            "vacation",
            now=clock.now(),
            subject_id=row.id,
            installer_id=row.id,
            extra={"digest": "off"},
        )
    path = f"/l/vacation/{token}"
    page = client.get(path)
    assert page.status_code == 200 and "récapitulatif hebdomadaire" in page.text
    assert installer(settings, GOLD_PARIS).digest_opt_out is False
    done = client.post(path, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200
    assert installer(settings, GOLD_PARIS).digest_opt_out is True
    assert installer(settings, GOLD_PARIS).vacation_from is None

    # RFC 8058 one-click (a mail client's POST, no page): only with the digest link.
    update_installer(settings, GOLD_PARIS, digest_opt_out=False)
    with make_client() as mail_client:
        one_click = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200
    assert installer(settings, GOLD_PARIS).digest_opt_out is True
    with session_scope(settings) as s:
        plain = tokens.issue(
            s, settings, "vacation", now=clock.now(), subject_id=row.id, installer_id=row.id
        )
    with make_client() as mail_client:
        assert (
            mail_client.post(
                f"/l/vacation/{plain}", data={"List-Unsubscribe": "One-Click"}
            ).status_code
            == 400
        )


# ------------------------------------------------------------------ accounts ---------------
def test_paused_installer_signs_in_and_reactivates(settings, client):
    load_installers(settings)
    paused_at = clock.now() - timedelta(days=3)
    update_installer(settings, GOLD_PARIS, active=False, deactivated_at=paused_at)
    sign_in(client, settings, GOLD_PARIS)
    home = client.get("/dashboard/")
    assert 'id="paused"' in home.text and "Réactiver mon compte" in home.text
    assert installer(settings, GOLD_PARIS).active is False  # signing in alone does not
    assert client.post("/dashboard/reactivate", data={}).status_code == 403
    done = client.post(
        "/dashboard/reactivate", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False
    )
    assert done.status_code == 303
    row = installer(settings, GOLD_PARIS)
    assert row.active is True and row.deactivated_at is None
    assert 'id="paused"' not in client.get(done.headers["location"]).text


def test_deactivation_email_link_still_signs_in_the_next_day(settings, client):
    load_installers(settings)
    update_installer(
        settings,
        GOLD_PARIS,
        last_action_at=clock.now() - timedelta(weeks=9),
        created_at=clock.now() - timedelta(weeks=9),
    )
    assert deactivate_silent_installers(settings, clock.now()) >= 1
    (mail,) = emails_to(settings, GOLD_PARIS, "account_deactivated")
    path = SIGNIN.search(mail.body_text).group(0)
    with time_machine.travel(clock.now() + timedelta(days=1)):
        assert client.get(path).status_code == 200


def test_nothing_is_reachable_signed_out(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = accept_lead(settings, client)
    for path in (
        "/dashboard/",
        "/dashboard/settings",
        f"/dashboard/leads/{lead_id}",
        "/dashboard/?tab=finished",
    ):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard/signin")
    for path in (
        "/dashboard/settings",
        f"/dashboard/leads/{lead_id}/status",
        "/dashboard/reactivate",
        "/dashboard/signout",
    ):
        response = client.post(
            path, data={"csrf_token": "x", "status": "failed", "action": "clear_vacation"}
        )
        assert response.status_code == 403, path
        assert "Claire" not in response.text
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
    # A forged cookie is no session either.
    client.cookies.set("mf_installer", "forged.value", path="/")
    assert client.get("/dashboard/", follow_redirects=False).status_code == 303

    # Signing out ends the session on the server: the old cookie no longer works.
    client.cookies.clear()
    sign_in(client, settings, GOLD_PARIS)
    cookie = client.cookies.get("mf_installer")
    home = client.get("/dashboard/")
    out = client.post(
        "/dashboard/signout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/signin"
    assert sessions_of(settings, GOLD_PARIS) == 0
    client.cookies.set("mf_installer", cookie, path="/")
    assert client.get("/dashboard/", follow_redirects=False).status_code == 303


def test_posts_without_csrf_are_refused(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = accept_lead(settings, client)

    # The sign-in form.
    client.get("/dashboard/signin")
    refused = client.post("/dashboard/signin", data={"email": GOLD_PARIS})
    assert refused.status_code == 403 and emails_to(settings, GOLD_PARIS, "signin") == []
    refused = client.post("/dashboard/signin", data={"email": GOLD_PARIS, "csrf_token": "nope"})
    assert refused.status_code == 403 and emails_to(settings, GOLD_PARIS, "signin") == []

    # The sign-in link.
    request_link(client, GOLD_PARIS)
    path = last_signin_path(settings, GOLD_PARIS)
    client.get(path)
    assert client.post(path, data={}).status_code == 403
    assert client.post(path, data={"csrf_token": "nope"}).status_code == 403
    assert sessions_of(settings, GOLD_PARIS) == 0
    with session_scope(settings) as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(LinkNonce)
                .where(LinkNonce.purpose == "signin", LinkNonce.used_at.is_not(None))
            )
            == 0
        )

    # Signed in: every form needs the session's token.
    sign_in(client, settings, GOLD_PARIS)
    update_installer(settings, GOLD_PARIS, active=False)
    for path, data in (
        (f"/dashboard/leads/{lead_id}/status", {"status": "failed"}),
        (
            "/dashboard/settings",
            {"action": "vacation", "vacation_from": "2027-07-01", "vacation_until": "2027-07-02"},
        ),
        ("/dashboard/reactivate", {}),
        ("/dashboard/signout", {}),
    ):
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf_token": "wrong"}).status_code == 403, path
    row = installer(settings, GOLD_PARIS)
    assert row.vacation_from is None and row.active is False
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED
    assert sessions_of(settings, GOLD_PARIS) == 1

    with session_scope(settings) as s:
        offers = list(s.scalars(select(Offer).where(Offer.lead_id == lead_id)))
        assert [o.status for o in offers] == [OfferStatus.ACCEPTED]


def test_score_page_shows_tier_score_and_ratings(settings, client):
    load_installers(settings)
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        installer = s.query(Installer).filter_by(email=GOLD_PARIS).one()
        lead_row = s.get(Lead, lead_id)
        lead_row.assigned_installer_id, lead_row.status = installer.id, LeadStatus.INSTALLED
        s.add(
            Survey(
                lead_id=lead_id,
                installer_id=installer.id,
                submitted_at=clock.now() - timedelta(days=1),
                service=5,
                installation=4,
                communication=5,
                comment="<b>Parfait</b>",
            )
        )
    sign_in(client, settings, GOLD_PARIS)
    page = client.get("/dashboard/score")
    assert page.status_code == 200
    # French page: the tier's name in French, and why it is what it is (one rating is too
    # little history to move an imported Gold).
    assert 'data-tier="gold">Or</span>' in page.text and "/ 100" in page.text
    assert "Votre niveau reste Or" in page.text
    assert "Notes des clients" in page.text and "Délai de réponse" in page.text
    assert "&lt;b&gt;Parfait&lt;/b&gt;" in page.text
    client.cookies.clear()
    assert client.get("/dashboard/score", follow_redirects=False).status_code in (302, 303)


def test_book_move_and_cancel_a_site_visit_from_the_lead_page(settings, worker, client):
    load_installers(settings)
    only_gold_serves_paris(settings)
    lead_id = accept_lead(settings, client)
    sign_in(client, settings, GOLD_PARIS)
    page = client.get(f"/dashboard/leads/{lead_id}")
    assert 'id="visit"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    day = (clock.now() + timedelta(days=5)).date().isoformat()
    booked = client.post(
        f"/dashboard/leads/{lead_id}/visit",
        data={"csrf_token": csrf, "date": day, "time": "10:30"},
        follow_redirects=False,
    )
    assert booked.status_code == 303
    moved = client.post(
        f"/dashboard/leads/{lead_id}/visit",
        data={"csrf_token": csrf, "date": day, "time": "15:00"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    past = client.post(
        f"/dashboard/leads/{lead_id}/visit",
        data={"csrf_token": csrf, "date": "2020-01-01", "time": "10:00"},
    )
    assert past.status_code == 422
    cancelled = client.post(
        f"/dashboard/leads/{lead_id}/visit",
        data={"csrf_token": csrf, "action": "cancel"},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    with session_scope(settings) as s:
        visit = s.query(SiteVisit).one()
        assert visit.sequence == 2 and visit.cancelled_at is not None
    assert len(emails_to(settings, "claire@example.fr", "site_visit")) == 3
    assert (
        client.post(
            f"/dashboard/leads/{lead_id}/visit",
            data={"csrf_token": "forged", "date": day, "time": "10:00"},
        ).status_code
        == 403
    )


@time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), tick=True)
def test_limits_card_and_vacation_from_today_withdraws_open_offers(settings, client):
    """#17: the dashboard shows the installer's limits; a vacation starting today withdraws
    the offers waiting for their answer at once (the lead moves on, one email)."""
    load_installers(settings)
    update_installer(settings, GOLD_PARIS, cap_month=40)
    lead_id = new_lead(settings)
    (offer,) = wait_for_offer(settings, lead_id)
    assert offer.installer_id == installer(settings, GOLD_PARIS).id
    sign_in(client, settings, GOLD_PARIS)
    limits = section(client.get("/dashboard/").text, "limits")
    assert re.search(r"1 / 3\b", limits)  # one offer waiting, at most 3
    assert "1 / 4" in limits and "1 / 12" in limits and "1 / 40" in limits  # paced caps

    csrf = csrf_of(client.get("/dashboard/settings").text)
    saved = client.post(
        "/dashboard/settings",
        data={
            "csrf_token": csrf,
            "action": "vacation",
            "vacation_from": "2026-12-01",
            "vacation_until": "2026-12-10",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    (first, second) = wait_for_offer(settings, lead_id, 2)
    assert first.status == OfferStatus.WITHDRAWN and second.status == OfferStatus.OFFERED
    assert second.installer_id == installer(settings, SILVER_PARIS).id
    (told,) = emails_to(settings, GOLD_PARIS, "offers_withdrawn")
    assert f"#{lead_id}" in told.body_text
    assert "offer_withdrawn" in [e.type for e in lead(settings, lead_id).events]
