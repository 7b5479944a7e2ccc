"""The admin's lead page reads like a story (real offers, declines, expiries, acceptances and
status steps, in the configured time zone), and the inbound and outbox pages show messages
decoded, the raw source one click away, no live token anywhere."""

from __future__ import annotations

import base64
import html
import quopri
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailflow import clock
from mailflow import config as mf_config
from mailflow.db import session_scope
from mailflow.lifecycle.service import record_status
from mailflow.links import tokens
from mailflow.models import Installer, Lead, LeadEvent, Offer, OutboxMessage
from mailflow.routing.offers import accept, decline, expire_offer, lock_lead, route_lead
from mailflow.web.admin.redaction import redact_text
from support.factories import make_inbound
from support.offers import load_installers, new_lead
from support.web import signed_in_client

NEW_YORK = ZoneInfo("America/New_York")
SOLEIL = "contact@soleil-paris.example"
IDF = "devis@ile-de-france-pv.example"


@pytest.fixture
def new_york(settings, monkeypatch):
    """The admin console in New York time (the settings are read again)."""
    monkeypatch.setenv("MAILFLOW_ADMIN_TIME_ZONE", "America/New_York")
    mf_config.reset_settings()
    assert mf_config.get_settings().admin_time_zone == "America/New_York"
    yield
    mf_config.reset_settings()


@pytest.fixture
def admin_client(settings):
    with signed_in_client(settings) as client:
        yield client


def plain(text: str) -> str:
    return html.unescape(text).replace("\xa0", " ").replace("\u202f", " ")


def sentences(page: str) -> list[str]:
    return [plain(s) for s in re.findall(r'<strong class="sentence">(.*?)</strong>', page, re.S)]


def facts(page: str, section: str) -> list[tuple[str, str]]:
    block = re.search(rf'<dl class="facts" id="{section}">(.*?)</dl>', page, re.S).group(1)
    return [
        (plain(dt), plain(re.sub(r"<[^>]+>", "", dd)).strip())
        for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block, re.S)
    ]


def offer_of(session, lead_id: int, email: str) -> Offer:
    return session.scalars(
        select(Offer)
        .join(Installer, Offer.installer_id == Installer.id)
        .where(Offer.lead_id == lead_id, Installer.email == email)
        .order_by(Offer.id.desc())
    ).first()


def until(deadline: datetime) -> str:
    return deadline.astimezone(NEW_YORK).strftime("%a %H:%M")


def test_the_lead_page_tells_what_happened_in_the_admins_time_zone(
    settings, broker, new_york, admin_client
):
    load_installers(settings)
    t0 = clock.now().replace(microsecond=0)
    # Lead A: Soleil Paris lets its offer time out, IDF declines: nobody is left.
    lost = new_lead(settings)
    with session_scope(settings) as s:
        first = route_lead(s, lost, now=t0, settings=settings)
        assert first.installer.email == SOLEIL
        deadline_soleil = first.deadline
        expire_offer(s, first, s.get(Lead, lost), now=first.deadline, settings=settings)
    with session_scope(settings) as s:
        second = offer_of(s, lost, IDF)
        deadline_idf = second.deadline
        decline(
            s,
            second.id,
            second.installer_id,
            reason="no_capacity",
            note="full until March",
            now=second.offered_at + timedelta(hours=1),
            settings=settings,
        )
    # Lead B: Soleil Paris accepts after 2 h 10 min and sends a quote of 12,500 €.
    won = new_lead(settings, postcode="92100", email="marc@example.fr", city="Boulogne")
    with session_scope(settings) as s:
        offer = route_lead(s, won, now=t0, settings=settings)
        assert offer.installer.email == SOLEIL
        deadline_won = offer.deadline
        accept(
            s,
            offer.id,
            offer.installer_id,
            now=t0 + timedelta(hours=2, minutes=10),
            settings=settings,
        )
    with session_scope(settings) as s:
        lead = lock_lead(s, won)
        record_status(
            s,
            lead,
            s.scalar(select(Installer).where(Installer.email == SOLEIL)),
            "quote_sent",
            {"amount": "12500", "currency": "EUR", "products": "10 kWp, 8 modules"},
            now=t0 + timedelta(days=1),
            settings=settings,
        )
        # Known instants, shown in New York time: summer (EDT) and winter (EST).
        lead.created_at = datetime(2026, 7, 14, 16, 5, 59, 123456, tzinfo=UTC)
        intake = s.scalars(select(LeadEvent).where(LeadEvent.lead_id == won)).first()
        intake.at = datetime(2026, 12, 2, 17, 15, 30, 999, tzinfo=UTC)

    page = admin_client.get(f"/admin/leads/{lost}").text
    # the deadlines are business days away: within a week, so a weekday and a time
    assert deadline_soleil - t0 < timedelta(days=6)
    assert sentences(page) == [
        "Request received from email (smtp)",
        f"Offered to Soleil Paris SARL (gold, 0 offers in 30 days) until {until(deadline_soleil)}",
        "Offer to Soleil Paris SARL timed out",
        f"Offered to IDF Photovoltaïque (silver, 0 offers in 30 days) until {until(deadline_idf)}",
        "Declined by IDF Photovoltaïque: No capacity at the moment — full until March",
        "Waiting in the pool, listed in the lead exchange: no eligible installer left",
    ]
    assert "{" not in "".join(sentences(page))
    # the offers table gives the reason in words too; the project by its names
    assert "declined: No capacity at the moment — full until March" in plain(page)
    assert "<dt>Product</dt><dd>solar PV</dd>" in page

    page = admin_client.get(f"/admin/leads/{won}").text
    told = sentences(page)
    assert told[:4] == [
        "Request received from email (smtp)",
        # Soleil had one offer (lead A) in the 30 days before this one
        f"Offered to Soleil Paris SARL (gold, 1 offer in 30 days) until {until(deadline_won)}",
        "Accepted by Soleil Paris SARL after 2 hr 10 min",
        "Status: Quote sent (12,500 €; 10 kWp, 8 modules)",
    ]
    # Progress as labelled fields, not JSON; details by their words and units.
    assert facts(page, "lead-progress") == [
        ("Quote amount", "12,500 €"),
        ("Quote accepted by the customer", "no"),
        ("Products", "10 kWp, 8 modules"),
    ]
    assert facts(page, "lead-details") == [("Annual consumption", "3,100 kWh"), ("Modules", "13")]
    assert "&#34;quote&#34;" not in page and '"quote"' not in page
    # Times in the admin's zone, to the minute, with the zone's abbreviation.
    created = re.search(r"<dt>Created</dt><dd>([^<]*)<", page).group(1)
    assert created == "2026-07-14 12:05 EDT "
    assert "2026-12-02 12:15 EST" in page
    assert " UTC" not in page and not re.search(r"\d\d:\d\d:\d\d", page)


def test_times_default_to_paris(settings, broker, admin_client):
    load_installers(settings)
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        s.get(Lead, lead_id).created_at = datetime(2026, 7, 14, 16, 5, tzinfo=UTC)
    page = admin_client.get(f"/admin/leads/{lead_id}").text
    assert "2026-07-14 18:05 CEST" in page


def test_an_unknown_time_zone_is_refused(settings, monkeypatch):
    monkeypatch.setenv("MAILFLOW_ADMIN_TIME_ZONE", "Mars/Olympus")
    mf_config.reset_settings()
    with pytest.raises(ValueError, match="unknown time zone"):
        mf_config.get_settings()
    mf_config.reset_settings()


# ------------------------------------------------------------------ messages ----------------
POLISH = (
    "Dzień dobry,\nproszę o wycenę instalacji PV dla domu w Łodzi.\nPozdrawiam, Paweł Żółkiewski\n"
)


def polish_message(token_link: str = "") -> bytes:
    body = quopri.encodestring((POLISH + token_link).encode("cp1250"))
    subject = base64.b64encode("Zapytanie o fotowoltaikę".encode("iso-8859-2")).decode()
    return (
        b"From: =?windows-1250?Q?Pawe=B3_=AF=F3=B3kiewski?= <pawel@example.pl>\r\n"
        b"To: leads@localhost\r\n"
        b"Subject: =?iso-8859-2?B?" + subject.encode() + b"?=\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\n"
        b"Content-Type: text/plain; charset=windows-1250\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body + b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <script>alert(1)</script><b>HTML</b></p><img src=x onerror=alert(2)>\r\n"
        b"--b1\r\n"
        b'Content-Type: image/jpeg; name="dach.jpg"\r\n'
        b'Content-Disposition: attachment; filename="dach.jpg"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"\xff\xd8" + b"j" * 3000)
        + b"--b1--\r\n"
    )


def test_an_inbound_message_is_shown_decoded_with_the_raw_source_a_click_away(
    settings, admin_client
):
    inbound_id = make_inbound(settings, "quarantined", raw=polish_message(), reason="no postcode")
    page = admin_client.get(f"/admin/inbound/{inbound_id}").text
    text = plain(page)
    assert "Paweł Żółkiewski <pawel@example.pl>" in text  # From, RFC 2047 in cp1250
    assert "Zapytanie o fotowoltaikę" in text  # Subject, base64 in ISO-8859-2
    assert re.search(
        r'<pre class="decoded-part">Dzień dobry,\nproszę o wycenę instalacji PV dla domu w Łodzi.\nPozdrawiam, Paweł Żółkiewski</pre>',
        html.unescape(page),
    )
    assert "text/plain · windows-1250" in text
    # HTML as text, never markup
    assert '<pre class="decoded-part">Hello HTML</pre>' in page
    assert "<script>" not in page and "<img" not in page
    # the attachment by name, type and size
    assert re.search(r"dach\.jpg</td><td[^>]*>image/jpeg</td><td[^>]*>3\.0 kB</td>", page)
    # the raw source: a click away, a valid download
    assert f'href="/admin/inbound/{inbound_id}/raw"' in page
    raw = admin_client.get(f"/admin/inbound/{inbound_id}/raw")
    assert raw.status_code == 200 and raw.content == polish_message()
    assert "Content-Transfer-Encoding: quoted-printable" in page  # inside <details>


def test_a_viewer_sees_the_decoded_headers_not_the_text(settings):
    inbound_id = make_inbound(settings, "quarantined", raw=polish_message(), reason="no postcode")
    with signed_in_client(settings, role="viewer", email="viewer@example.com") as client:
        page = plain(client.get(f"/admin/inbound/{inbound_id}").text)
        assert "Zapytanie o fotowoltaikę" in page
        assert "Dzień dobry" not in page and "dach.jpg" not in page
        assert client.get(f"/admin/inbound/{inbound_id}/raw").status_code == 403


def test_no_live_token_in_the_decoded_view(settings, admin_client):
    token = tokens.serializer(settings, "accept").dumps({"n": "story"})
    link = f"https://leads.example/l/accept/{token}\n"
    raw = polish_message(link).replace(
        b"To: leads@localhost", b"To: reply+" + token.encode() + b"@leads.example"
    )
    inbound_id = make_inbound(settings, "quarantined", raw=raw, reason="reply")
    page = admin_client.get(f"/admin/inbound/{inbound_id}").text
    assert token not in page and token.split(".")[-1] not in page
    assert "/l/accept/[redacted]</pre>" in page and "reply+…redacted@" in plain(page)
    assert "Dzień dobry" in plain(page)  # decoded all the same
    assert token.encode() not in admin_client.get(f"/admin/inbound/{inbound_id}/raw").content


def test_an_outbox_message_is_shown_decoded(settings, broker, admin_client):
    load_installers(settings)
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        route_lead(s, lead_id, now=clock.now(), settings=settings)
        row = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template == "offer")
            .order_by(OutboxMessage.id)
        ).first()
        outbox_id, subject, body = row.id, row.subject, row.body_text
        links = re.findall(r"/l/\w+/([\w\-.]+)", body)
    assert links
    page = admin_client.get(f"/admin/outbox/{outbox_id}").text
    assert subject and subject in plain(page)
    parts = re.findall(
        r'<h3 class="small muted">(.*?)</h3>\n<pre class="decoded-part">(.*?)</pre>', page, re.S
    )
    assert [plain(head) for head, _ in parts] == [
        "text/plain · utf-8",
        "text/html · utf-8 · HTML shown as text",
    ]
    # the text part as it was written, links redacted; the HTML part as text, no markup
    assert html.unescape(parts[0][1]) == redact_text(body).replace("\r\n", "\n").strip("\n")
    assert "<" not in html.unescape(parts[1][1]) and len(parts[1][1]) > 100
    assert not any(token in page for token in links)
