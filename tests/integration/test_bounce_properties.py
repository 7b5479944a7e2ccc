"""Property tests of bounce handling over arbitrary input: the parser never raises, and nothing
acts on a bounce without a valid signed VERP id."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mailflow import clock
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.domain.intake.parse import parse_message
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import process_inbound_message
from mailflow.models import BounceEvent, Channel, Installer, OutboxMessage, OutboxState
from mailflow.outbound.verp import verified_outbox_id, verp_address

KEYS = Settings(secret_keys="property-key-new,property-key-old")
KINDS = ("lead", "bounce", "auto_reply", "quarantine")
VICTIM = "victim@installer.example"

base32 = st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567", min_size=1, max_size=20)
# mostly the ids that exist in the database test, as an attacker guessing sequential ids would
outbox_ids = st.integers(min_value=1, max_value=5) | st.integers(min_value=0, max_value=10**12)
# What an attacker can put in a return path: a bare id, or an id with a made-up signature.
forged_verp = st.builds(
    lambda n, sig, case: (
        (f"bounces+{n}" + (f"-{sig}" if sig else "") + "@localhost").upper()
        if case
        else f"bounces+{n}" + (f"-{sig}" if sig else "") + "@localhost"
    ),
    outbox_ids,
    st.none() | base32,
    st.booleans(),
)
statuses = st.from_regex(r"\A[245]\.\d{1,3}\.\d{1,3}\Z") | st.text(max_size=12)
header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=60,
)


@st.composite
def forged_bounces(draw) -> tuple[bytes, list[str]]:
    """A message shaped like a bounce, from someone who does not hold our signing key."""
    verp = draw(forged_verp)
    recipient = draw(st.sampled_from([VICTIM, VICTIM.upper(), "other@example.org"]) | header_text)
    headers = [
        f"From: {draw(st.sampled_from(['MAILER-DAEMON@mx.example', 'Mail Delivery System <x@y>', 'a@b']))}",
        f"To: {draw(st.sampled_from([verp, 'leads@localhost']))}",
        f"Subject: {draw(st.sampled_from(['Undelivered Mail', 'Delivery Status Notification', 'hi']))}",
        f"Message-ID: <{uuid.uuid4().hex}@forged.example>",
    ]
    if draw(st.booleans()):
        headers.append(f"X-Failed-Recipients: {recipient}")
    if draw(st.booleans()):
        headers.append("Return-Path: <>")
    body = draw(header_text)
    if draw(st.booleans()):
        report = (
            f"Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; {recipient}\n"
            f"Original-Recipient: rfc822;{draw(header_text)}\n"
            f"Action: {draw(st.sampled_from(['failed', 'delayed', 'x']))}\n"
            f"Status: {draw(statuses)}\n"
        )
        headers += [
            "MIME-Version: 1.0",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
        ]
        body = (
            f"--B\nContent-Type: text/plain\n\n{body}\n{verp if draw(st.booleans()) else ''}\n"
            f"--B\nContent-Type: message/delivery-status\n\n{report}\n"
            f"--B\nContent-Type: text/rfc822-headers\n\nReturn-Path: <{draw(forged_verp)}>\n"
            "--B--\n"
        )
    raw = ("\n".join(headers) + "\n\n" + body).encode("utf-8", "surrogateescape")
    envelope = draw(st.lists(st.sampled_from([verp, "leads@localhost"]), max_size=2))
    return raw, envelope


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=3000), envelope=st.lists(forged_verp | header_text, max_size=3))
def test_parser_never_raises_on_arbitrary_bytes(raw, envelope):
    result = parse_message(raw, envelope_to=envelope)
    assert result.kind in KINDS
    if result.kind == "bounce":
        bounce = result.bounce
        assert verified_outbox_id(KEYS, bounce.verp_id, bounce.verp_signature) is None


@settings(max_examples=300, deadline=None)
@given(message=forged_bounces())
def test_no_forged_bounce_carries_a_valid_signed_id(message):
    raw, envelope = message
    result = parse_message(raw, envelope_to=envelope)
    assert result.kind in KINDS
    if result.kind == "bounce":
        bounce = result.bounce
        assert verified_outbox_id(KEYS, bounce.verp_id, bounce.verp_signature) is None


@settings(max_examples=200, deadline=None)
@given(message=forged_bounces(), outbox_id=st.integers(min_value=1, max_value=10**9))
def test_a_genuine_return_path_verifies_only_its_own_id(message, outbox_id):
    """Our return path anywhere in a bounce verifies to its message or, when the forger put a
    signed-looking address of their own first, to nothing: never to another id."""
    raw, envelope = message
    ours = verp_address(KEYS, outbox_id)
    result = parse_message(
        raw.replace(b"\n\n", f"\nCc: {ours}\n\n".encode(), 1), envelope_to=envelope
    )
    if result.kind == "bounce":
        bounce = result.bounce
        assert verified_outbox_id(KEYS, bounce.verp_id, bounce.verp_signature) in (None, outbox_id)
    assert verified_outbox_id(KEYS, outbox_id, ours.split("@")[0].rpartition("-")[2]) == outbox_id
    assert verified_outbox_id(KEYS, outbox_id + 1, ours.split("@")[0].rpartition("-")[2]) is None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(message=forged_bounces())
def test_forged_bounces_change_nothing_in_the_database(settings, message):
    raw, envelope = message
    with session_scope(settings) as s:
        if s.scalar(select(Installer.id).where(Installer.email == VICTIM)) is None:
            s.add(Installer(email=VICTIM, name="V", country="FR", postcodes="75"))
            for n in range(1, 6):  # the ids an attacker guesses first
                s.add(
                    OutboxMessage(
                        id=n,
                        to=VICTIM,
                        template="offer",
                        subject="x",
                        state=OutboxState.SENT,
                        message_id=f"<m{n}@localhost>",
                    )
                )
    stored = store_inbound(raw, Channel.SMTP, settings=settings, envelope_to=envelope)
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=clock.now(), settings=settings)
    with session_scope(settings) as s:
        assert s.scalar(select(Installer.bounced_at).where(Installer.email == VICTIM)) is None
        states = set(s.scalars(select(OutboxMessage.state)))
        assert states == {OutboxState.SENT}
        assert s.scalar(select(func.count()).select_from(BounceEvent)) == 0
