"""Admin pages never show a live link token (issue #14, "serious 3").

The emails we send carry their recipient's credentials (accept, decline, reveal, status,
vacation, sign-in links and the ``reply+<token>@`` address). Every admin page that shows email
content is rendered here, as an admin and as a read-only viewer, and searched for any string
that the token service accepts: in the page as served, HTML-unescaped, quoted-printable
decoded, base64 decoded, and for downloaded messages part by part after MIME decoding.
"""

from __future__ import annotations

import base64
import binascii
import email
import html
import quopri
import re
import time
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st
from sqlalchemy import select, update

from mailflow import clock
from mailflow.db import session_scope
from mailflow.lifecycle.service import deactivate_silent_installers
from mailflow.links import tokens
from mailflow.models import Installer, LeadEvent, Offer, OutboxMessage
from mailflow.routing.offers import route_lead
from mailflow.web.admin.redaction import redact_bytes, redact_message, redact_text
from mailflow.web.app import create_app
from support.factories import make_admin, make_inbound
from support.offers import csrf_of, links_in, load_installers, new_lead
from support.web import login

RUN = re.compile(r"[A-Za-z0-9_\-.]{20,}")
BASE64_BLOCK = re.compile(r"(?:[A-Za-z0-9+/]{8,}={0,2}\s*){2,}")


# ------------------------------------------------------------------ the token finder ---------
def live_tokens(settings, text: str) -> set[str]:
    """Every substring of ``text`` that one of our serializers accepts (any purpose)."""
    found = set()
    for run in RUN.findall(text):
        parts = run.split(".")
        for i in range(len(parts) - 2):
            for candidate in (".".join(parts[i : i + 3]), "." + ".".join(parts[i + 1 : i + 4])):
                if candidate.count(".") < 2:
                    continue
                for purpose in tokens.PURPOSES:
                    try:
                        tokens.serializer(settings, purpose).loads(candidate)
                    except Exception:
                        continue
                    found.add(candidate)
    return found


def decodings(text: str) -> list[str]:
    """The text and what a reader could decode out of it."""
    texts = [text, html.unescape(text)]
    for t in list(texts):
        texts.append(quopri.decodestring(t.encode("utf-8", "replace")).decode("utf-8", "replace"))
        for block in BASE64_BLOCK.findall(t):
            try:
                texts.append(base64.b64decode(re.sub(r"\s", "", block) + "==").decode("latin-1"))
            except (binascii.Error, ValueError):
                pass
    return texts


def mime_decodings(raw: bytes, depth: int = 0) -> list[str]:
    message = email.message_from_bytes(raw)
    out = [raw.decode("latin-1")]
    if depth > 4:
        return out
    for part in message.walk():
        out.extend(f"{name}: {value}" for name, value in part.items())
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out.append(payload.decode("latin-1"))
            if part.get_content_maintype() == "message" or payload[:200].count(b":") > 2:
                out.extend(mime_decodings(payload, depth + 1))
    return out


def leaked(settings, text: str) -> set[str]:
    return set().union(*(live_tokens(settings, t) for t in decodings(text)))


# ------------------------------------------------------------------ the scene ----------------
@pytest.fixture
def scene(settings, broker):
    """An offer sent (accept, decline, vacation links, reply address), accepted (reveal and
    status links), a deactivation email (sign-in link), and inbound mail quoting them:
    an installer's reply in base64, one in quoted-printable, and a bounce returning the
    offer email as an attached message."""
    load_installers(settings)
    lead_id = new_lead(settings)
    with session_scope(settings) as s:
        offer = route_lead(s, lead_id, now=clock.now(), settings=settings)
        offer_id, installer_id = offer.id, offer.installer_id
    with session_scope(settings) as s:
        mail = s.scalar(select(OutboxMessage).where(OutboxMessage.template == "offer"))
        offer_raw, offer_text = mail.raw, mail.body_text
    with TestClient(create_app()) as installer_browser:
        accept = links_in_text(offer_text)["accept"]
        page = installer_browser.get(accept)
        done = installer_browser.post(accept, data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 200, done.text
    with session_scope(settings) as s:
        assert s.get(Offer, offer_id).status.value == "accepted"
        s.execute(
            update(Installer)
            .where(Installer.id != installer_id)
            .values(last_action_at=clock.now() - timedelta(weeks=9))
        )
    deactivate_silent_installers(settings, clock.now())
    with session_scope(settings) as s:  # a bounce reason quoting our message (any text field)
        who = s.get(Installer, installer_id)
        who.bounced_at, who.bounce_reason = clock.now(), "550 returned: " + offer_text[:1500]

    quoted = "accept\n\n> " + offer_text.replace("\n", "\n> ")
    reply_b64 = EmailMessage()
    reply_b64["Subject"] = "Re: offer"
    reply_b64.set_content(quoted, cte="base64")
    reply_qp = EmailMessage()
    reply_qp["Subject"] = "Re: offer"
    reply_qp.set_content(quoted + "\n" + "x" * 70, cte="quoted-printable")
    bounce = EmailMessage()
    bounce["Subject"] = "Undelivered Mail Returned to Sender"
    bounce.set_content("The mail system could not deliver your message.")
    bounce.add_attachment(email.message_from_bytes(offer_raw, policy=SMTP_POLICY))
    inbound = [
        make_inbound(settings, "quarantined", raw=m.as_bytes(policy=SMTP_POLICY), parsed=p)
        for m, p in (
            (reply_b64, {"text": quoted}),
            (reply_qp, None),
            (bounce, {"original": offer_text[:2000]}),
        )
    ]
    with session_scope(settings) as s:
        outbox = [row.id for row in s.scalars(select(OutboxMessage))]
        purposes = set()
        for row in s.scalars(select(OutboxMessage)):
            purposes |= {p for p, _ in re.findall(r"/l/(\w+)/([\w\-.]+)", row.raw.decode())}
            if "reply+" in str(row.headers):
                purposes.add("reply")
    assert {"accept", "decline", "vacation", "reply", "status", "signin"} <= purposes, purposes
    return {"lead_id": lead_id, "installer_id": installer_id, "outbox": outbox, "inbound": inbound}


def links_in_text(text: str) -> dict[str, str]:
    row = OutboxMessage(body_text=text)
    return links_in(row)


def admin_pages(scene) -> list[str]:
    pages = ["/admin/", "/admin/outbox", "/admin/inbound", "/admin/audit", "/admin/pipeline"]
    pages += ["/admin/leads", "/admin/installers"]
    pages += [f"/admin/outbox/{i}" for i in scene["outbox"]]
    pages += [f"/admin/inbound/{i}" for i in scene["inbound"]]
    pages += [f"/admin/leads/{scene['lead_id']}", f"/admin/installers/{scene['installer_id']}"]
    return pages


def signed_in_as(settings, role: str) -> TestClient:
    make_admin(settings, email=f"{role}@example.com", role=role)
    client = TestClient(create_app())
    assert login(client, email=f"{role}@example.com").status_code == 303
    return client


# ------------------------------------------------------------------ tests --------------------
def test_the_finder_finds_the_tokens_of_the_stored_emails(settings, scene):
    """The check below can fail: the stored emails do carry live tokens, in every encoding."""
    with session_scope(settings) as s:
        rows = [s.get(OutboxMessage, i) for i in scene["outbox"]]
        assert all(leaked(settings, row.body_text) for row in rows if "/l/" in row.body_text)
        assert leaked(settings, rows[0].raw.decode())  # quoted-printable, soft line breaks


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_no_admin_page_shows_a_live_token(settings, scene, role):
    with signed_in_as(settings, role) as client:
        for path in admin_pages(scene):
            page = client.get(path)
            assert page.status_code == 200, (path, page.status_code)
            assert not leaked(settings, page.text), path
        outbox = client.get(f"/admin/outbox/{scene['outbox'][0]}").text
        assert "/l/accept/…redacted" in html.unescape(outbox)
        assert "reply+…redacted@" in outbox
        assert ("Raw source" in outbox) and (
            ("Content-Transfer-Encoding" in outbox) == (role == "admin")
        )
        for inbound_id in scene["inbound"]:
            raw = client.get(f"/admin/inbound/{inbound_id}/raw")
            if role == "viewer":
                assert raw.status_code == 403
                continue
            assert raw.status_code == 200
            assert not leaked(settings, raw.text)
            assert not set().union(*(live_tokens(settings, t) for t in mime_decodings(raw.content)))
            assert email.message_from_bytes(raw.content).get("Subject")  # still a message


def test_timeline_and_audit_hold_no_token(settings, scene):
    with session_scope(settings) as s:
        for event in s.scalars(select(LeadEvent)):
            assert not leaked(settings, str(event.data)), event.type


def test_redaction_of_text_keeps_the_words_and_drops_every_token(settings, scene):
    with session_scope(settings) as s:
        row = s.get(OutboxMessage, scene["outbox"][0])
        text, raw = row.body_text, row.raw
    redacted = redact_text(text)
    assert not leaked(settings, redacted) and leaked(settings, text)
    assert redacted.count("…redacted") >= 3
    assert not set().union(*(live_tokens(settings, t) for t in mime_decodings(redact_message(raw))))


# ------------------------------------------------------------------ property -----------------
def a_token(settings, purpose: str, nonce: str) -> str:
    return tokens.serializer(settings, purpose).dumps({"n": nonce})


@settings_hypothesis(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    purpose=st.sampled_from(tokens.PURPOSES),
    nonce=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789_-", min_size=8, max_size=30),
    cte=st.sampled_from(["quoted-printable", "base64", "8bit", "7bit"]),
    wrapped=st.booleans(),
    junk=st.binary(max_size=300),
)
def test_no_token_survives_any_encoding(
    settings, before, after, purpose, nonce, cte, wrapped, junk
):
    token = a_token(settings, purpose, nonce)
    body = f"{before}\nhttps://x.example/l/{purpose}/{token}\n{after} {token}."
    message = EmailMessage()
    message["Subject"] = "Re: offer"
    try:
        message.set_content(body, cte=cte if cte != "7bit" or body.isascii() else "8bit")
    except ValueError:
        message.set_content(body, cte="base64")
    if wrapped:  # a bounce returning it
        outer = EmailMessage()
        outer["Subject"] = "Undelivered"
        outer.set_content("could not deliver")
        outer.add_attachment(message)
        message = outer
    raw = message.as_bytes(policy=SMTP_POLICY)
    assert live_tokens(settings, "\n".join(mime_decodings(raw)))  # it is there to find
    redacted = redact_message(raw)
    assert not set().union(*(live_tokens(settings, t) for t in mime_decodings(redacted)))
    assert isinstance(redact_message(junk + raw[: len(junk)]), bytes)  # hostile bytes: no error


@pytest.mark.parametrize(
    "hostile",
    ["reply+" * 150_000, "a." * 500_000, "/l/ab/" * 150_000, ("abc-def_" * 10 + ".") * 12_000],
)
def test_redaction_stays_linear_on_hostile_text(hostile):
    began = time.monotonic()
    redact_text(hostile)
    redact_bytes(hostile.encode())
    assert time.monotonic() - began < 2.0
