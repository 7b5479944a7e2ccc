"""Bounces arriving at intake act only on a message we sent (signed VERP return path, matching
recipient); repeated hard bounces flag an installer, soft ones never do; admins see the flag
and its history and clear it. Bounces are built from the Return-Path of messages really queued,
so these tests read whatever return path the outbox writes."""

from __future__ import annotations

import email
import smtplib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.domain.intake.schema import LeadIn
from mailflow.inbound.smtp import IntakeController
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import process_inbound_message
from mailflow.leads.service import create_lead
from mailflow.models import (
    AuditEntry,
    BounceEvent,
    Channel,
    InboundMessage,
    InboundOutcome,
    Installer,
    Lead,
    LeadEvent,
    LeadStatus,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxState,
)
from mailflow.outbound.emails import admin_alert_email
from mailflow.outbound.message import wire_bytes
from mailflow.outbound.outbox import queue_email
from mailflow.routing.offers import load_candidates, route_lead
from support.paths import CORPUS
from support.waiting import wait_for
from support.web import post, signed_in_client

INSTALLER = "contact@soleil-paris.example"
OTHER = "devis@ile-de-france-pv.example"


@pytest.fixture(autouse=True)
def _flush_broker(broker):
    """Queued messages enqueue a send on the stub broker; nobody runs it here."""
    yield


def process(settings, raw: bytes, envelope_to: list[str], *, at=None) -> InboundMessage:
    stored = store_inbound(raw, Channel.SMTP, settings=settings, envelope_to=envelope_to)
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=at or clock.now(), settings=settings)
    with session_scope(settings) as s:
        return s.get(InboundMessage, stored.id)


def add_installer(settings, email: str) -> int:
    with session_scope(settings) as s:
        installer = Installer(email=email, name="X", country="FR", postcodes="75")
        s.add(installer)
        s.flush()
        return installer.id


def add_lead(settings) -> int:
    lead_in = LeadIn.model_validate(
        {"customer": {"name": "C", "email": "c@example.fr", "postcode": "75010"}}
    )
    with session_scope(settings) as s:
        return create_lead(s, lead_in, now=clock.now(), source="email", channel="smtp").id


def sent_message(settings, to: str, *, lead_id: int | None = None) -> tuple[int, str]:
    """An email queued the normal way and handed to the next MTA: (outbox id, its return path)."""
    with session_scope(settings) as s:
        spec = admin_alert_email(to, title="t", message="m", lead_id=lead_id)
        row = queue_email(s, spec, now=clock.now(), settings=settings)
        row.state, row.sent_at = OutboxState.SENT, clock.now()
    sent = wire_bytes(settings, row.id, row.raw)  # the bytes the transport hands on
    return row.id, email.message_from_bytes(sent)["Return-Path"].strip("<> ")


def dsn(return_path: str, recipient: str, *, status="5.1.1", action="failed") -> bytes:
    """An RFC 3464 delivery status notification as Postfix sends it."""
    return (
        "From: MAILER-DAEMON@mx.example (Mail Delivery System)\n"
        f"To: {return_path}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: <dsn-{uuid.uuid4().hex}@mx.example>\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} mailbox problem\n\n--B--\n"
    ).encode()


def x_failed_recipients(recipient: str, to: str = "leads@localhost") -> bytes:
    """An Exim-style bounce: no report, the failed address in a header."""
    return (
        "From: Mail Delivery System <Mailer-Daemon@mx.example>\n"
        f"To: {to}\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        f"X-Failed-Recipients: {recipient}\n"
        f"Message-ID: <exim-{uuid.uuid4().hex}@mx.example>\n"
        "Auto-Submitted: auto-replied\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        f"recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {recipient}\n    550 5.1.1 User unknown\n"
    ).encode()


def installer_row(settings, email_address: str) -> Installer:
    with session_scope(settings) as s:
        return s.scalar(select(Installer).where(Installer.email == email_address))


def outbox_state(settings, outbox_id: int) -> OutboxState:
    with session_scope(settings) as s:
        return s.get(OutboxMessage, outbox_id).state


def bounce_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(BounceEvent))


# ------------------------------------------------------------------ forged bounces ---------
def test_x_failed_recipients_header_alone_disables_nobody(settings):
    add_installer(settings, INSTALLER)
    outbox_id, _ = sent_message(settings, INSTALLER)
    for _ in range(5):
        row = process(settings, x_failed_recipients(INSTALLER), ["leads@localhost"])
        assert row.outcome == InboundOutcome.BOUNCE and "ignored" in row.reason
    assert installer_row(settings, INSTALLER).bounced_at is None
    assert outbox_state(settings, outbox_id) == OutboxState.SENT


def test_forged_dsn_to_a_guessed_sequential_verp_address_is_ignored(settings):
    add_installer(settings, INSTALLER)
    ids = [sent_message(settings, INSTALLER)[0] for _ in range(3)]
    for outbox_id in ids:  # the attacker guesses bounces+<n>@ for n = 1, 2, 3 …
        guessed = f"bounces+{outbox_id}@localhost"
        row = process(settings, dsn(guessed, INSTALLER), [guessed])
        assert row.outcome == InboundOutcome.BOUNCE and "unsigned" in row.reason
        assert outbox_state(settings, outbox_id) == OutboxState.SENT
    assert installer_row(settings, INSTALLER).bounced_at is None
    assert bounce_count(settings) == 0


def test_corpus_bounce_to_an_old_unsigned_verp_address_is_ignored_and_logged(settings, caplog):
    add_installer(settings, "gone@installer.example")
    with session_scope(settings) as s:
        s.add(
            OutboxMessage(
                id=42,
                to="gone@installer.example",
                template="offer",
                subject="x",
                state=OutboxState.SENT,
                message_id="<m42@localhost>",
            )
        )
    raw = (CORPUS / "leads" / "bounce_dsn.eml").read_bytes()
    row = process(settings, raw, ["bounces+42@localhost"])
    assert row.outcome == InboundOutcome.BOUNCE and "unsigned return address" in row.reason
    assert row.parsed["bounce"]["status"] == "5.1.1"  # still shown to admins
    assert outbox_state(settings, 42) == OutboxState.SENT
    assert installer_row(settings, "gone@installer.example").bounced_at is None
    assert any("bounce ignored" in r.getMessage() for r in caplog.records)


def test_signed_verp_with_a_wrong_final_recipient_is_ignored(settings):
    add_installer(settings, INSTALLER)
    add_installer(settings, OTHER)
    for _ in range(3):
        outbox_id, return_path = sent_message(settings, INSTALLER)
        row = process(settings, dsn(return_path, OTHER), [return_path])
        assert "ignored" in row.reason and OTHER in row.reason
        assert outbox_state(settings, outbox_id) == OutboxState.SENT
    assert installer_row(settings, OTHER).bounced_at is None
    assert installer_row(settings, INSTALLER).bounced_at is None
    assert bounce_count(settings) == 0


def test_signature_of_one_message_does_not_verify_another(settings):
    add_installer(settings, INSTALLER)
    mine, my_return_path = sent_message(settings, INSTALLER)
    theirs, _ = sent_message(settings, INSTALLER)
    signature = my_return_path.split("@")[0].rpartition("-")[2]
    forged = f"bounces+{theirs}-{signature}@localhost"
    row = process(settings, dsn(forged, INSTALLER), [forged])
    assert "bad signature" in row.reason
    assert outbox_state(settings, theirs) == OutboxState.SENT
    assert outbox_state(settings, mine) == OutboxState.SENT


# ------------------------------------------------------------------ genuine bounces --------
def test_one_soft_bounce_never_disables(settings):
    """Postfix gives up on a deferred message after days with ``Action: failed`` and a 4.x.x
    status: the address may work tomorrow."""
    add_installer(settings, INSTALLER)
    outbox_id, return_path = sent_message(settings, INSTALLER)
    row = process(settings, dsn(return_path, INSTALLER, status="4.4.1"), [return_path])
    assert row.outcome == InboundOutcome.BOUNCE and "ignored" not in row.reason
    assert installer_row(settings, INSTALLER).bounced_at is None
    assert outbox_state(settings, outbox_id) == OutboxState.SENT
    assert bounce_count(settings) == 1  # in the history, as soft


def test_hard_bounces_of_three_messages_flag_the_installer(settings):
    installer_id = add_installer(settings, INSTALLER)
    first, first_path = sent_message(settings, INSTALLER)
    for _ in range(3):  # one message bouncing again and again is one bad message
        process(settings, dsn(first_path, INSTALLER), [first_path])
    assert outbox_state(settings, first) == OutboxState.BOUNCED
    second, second_path = sent_message(settings, INSTALLER)
    process(settings, dsn(second_path, INSTALLER, status="5.2.1"), [second_path])
    assert installer_row(settings, INSTALLER).bounced_at is None
    third, third_path = sent_message(settings, INSTALLER)
    process(settings, dsn(third_path, INSTALLER), [third_path])
    flagged = installer_row(settings, INSTALLER)
    assert flagged.bounced_at is not None and "3 messages hard-bounced" in flagged.bounce_reason

    lead_id = add_lead(settings)
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        candidate = next(c for c in load_candidates(s, lead, clock.now()) if c.id == installer_id)
        assert candidate.bounced  # routing skips it (domain/routing.py: "email address bounces")


def test_flagging_an_installer_withdraws_their_open_offers_and_the_lead_moves_on(settings):
    """An offer to an address that bounces would wait out its deadline unread: once the
    installer is flagged, the lead goes to the next installer in the same transaction, and no
    "offers withdrawn" email is written to the address that bounces."""
    flagged_id = add_installer(settings, INSTALLER)
    other_id = add_installer(settings, OTHER)
    with session_scope(settings) as s:
        s.get(Installer, flagged_id).tier = "gold"
    lead_id = add_lead(settings)
    with session_scope(settings) as s:
        first = route_lead(s, lead_id, now=clock.now(), settings=settings)
        assert first.installer_id == flagged_id
    for _ in range(3):
        _, return_path = sent_message(settings, INSTALLER)
        process(settings, dsn(return_path, INSTALLER), [return_path])
    assert installer_row(settings, INSTALLER).bounced_at is not None
    with session_scope(settings) as s:
        offers = [
            (o.installer_id, o.status)
            for o in s.scalars(select(Offer).where(Offer.lead_id == lead_id).order_by(Offer.id))
        ]
        withdrawn_emails = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.template == "offers_withdrawn")
        )
        reasons = [
            e.data.get("reason")
            for e in s.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id))
            if e.type == "offer_withdrawn"
        ]
    assert offers == [(flagged_id, OfferStatus.WITHDRAWN), (other_id, OfferStatus.OFFERED)]
    assert reasons == ["bouncing"]
    assert withdrawn_emails == 0


def test_hard_bounces_outside_the_window_do_not_add_up(settings):
    add_installer(settings, INSTALLER)
    start = clock.now()
    for day in (0, 10, 20, 30):  # never three within 14 days
        _, return_path = sent_message(settings, INSTALLER)
        process(
            settings, dsn(return_path, INSTALLER), [return_path], at=start + timedelta(days=day)
        )
    assert installer_row(settings, INSTALLER).bounced_at is None


def test_threshold_is_a_setting(settings):
    add_installer(settings, INSTALLER)
    strict = settings.model_copy(update={"bounce_disable_after": 1})
    _, return_path = sent_message(settings, INSTALLER)
    stored = store_inbound(
        dsn(return_path, INSTALLER), Channel.SMTP, settings=settings, envelope_to=[return_path]
    )
    with session_scope(settings) as s:
        process_inbound_message(s, stored.id, now=clock.now(), settings=strict)
    assert installer_row(settings, INSTALLER).bounced_at is not None


def test_exim_bounce_with_a_signed_return_path_counts(settings):
    add_installer(settings, INSTALLER)
    outbox_id, return_path = sent_message(settings, INSTALLER)
    row = process(settings, x_failed_recipients(INSTALLER, to=return_path), [return_path])
    assert "ignored" not in row.reason
    assert outbox_state(settings, outbox_id) == OutboxState.BOUNCED


def test_customer_bounce_must_verify_too(settings):
    lead_id = add_lead(settings)
    outbox_id, return_path = sent_message(settings, "c@example.fr", lead_id=lead_id)
    guessed = f"bounces+{outbox_id}@localhost"
    process(settings, dsn(guessed, "c@example.fr"), [guessed])
    assert outbox_state(settings, outbox_id) == OutboxState.SENT
    process(settings, dsn(return_path, "c@example.fr"), [return_path])
    assert outbox_state(settings, outbox_id) == OutboxState.BOUNCED
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert [e.type for e in lead.events].count("email_bounced") == 1
        assert lead.status != LeadStatus.DUPLICATE and s.query(Lead).count() == 1
    assert bounce_count(settings) == 0  # history is kept for installers only


# ------------------------------------------------------------------ the admin's view -------
def test_admin_sees_the_flag_and_its_history_and_clears_it(settings):
    installer_id = add_installer(settings, INSTALLER)
    for _ in range(3):
        _, return_path = sent_message(settings, INSTALLER)
        process(settings, dsn(return_path, INSTALLER), [return_path])
    assert installer_row(settings, INSTALLER).bounced_at is not None
    with signed_in_client(settings) as client:
        listing = client.get("/admin/installers?state=bounced").text
        assert INSTALLER in listing and "hard-bounced" in listing
        page = client.get(f"/admin/installers/{installer_id}").text
        assert 'id="bounce-flag"' in page and 'id="clear-bounce"' in page
        assert page.count('<span class="flag bad">hard</span>') == 3
        assert "550 5.1.1 mailbox problem" in page
        assert "bounces+" not in page  # no signed return path on the page
        done = post(client, f"/admin/installers/{installer_id}/clear-bounce")
        assert done.status_code == 303
        page = client.get(f"/admin/installers/{installer_id}").text
        assert 'id="bounce-flag"' not in page and 'id="bounce-history"' in page
        assert post(client, f"/admin/installers/{installer_id}/clear-bounce").status_code == 303
    cleared = installer_row(settings, INSTALLER)
    assert cleared.bounced_at is None and cleared.bounce_cleared_at is not None
    with session_scope(settings) as s:
        (entry,) = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "installer.clear_bounce")
        )
        assert entry.object_id == str(installer_id) and entry.actor == "admin@example.com"
        assert "hard-bounced" in entry.data["bounce_reason"]
    # Only bounces after the clearing count: one more does not flag the address again.
    _, return_path = sent_message(settings, INSTALLER)
    process(settings, dsn(return_path, INSTALLER), [return_path])
    assert installer_row(settings, INSTALLER).bounced_at is None


def test_a_viewer_cannot_clear_the_flag(settings):
    installer_id = add_installer(settings, INSTALLER)
    with session_scope(settings) as s:
        s.get(Installer, installer_id).bounced_at = clock.now()
    with signed_in_client(settings, role="viewer", email="viewer@example.com") as client:
        assert 'id="clear-bounce"' not in client.get(f"/admin/installers/{installer_id}").text
        assert post(client, f"/admin/installers/{installer_id}/clear-bounce").status_code == 403
    assert installer_row(settings, INSTALLER).bounced_at is not None


# ------------------------------------------------------------------ over a real socket -----
@pytest.fixture
def smtp_server(settings):
    controller = IntakeController(settings, hostname="127.0.0.1", port=0)
    controller.start()
    yield controller
    controller.stop()


def smtp_send(server, raw: bytes, rcpt: str) -> None:
    with smtplib.SMTP(server.hostname, server.port, timeout=30) as client:
        client.sendmail("", [rcpt], raw.replace(b"\n", b"\r\n"))


def processed(settings, count: int) -> list[InboundMessage]:
    def done():
        with session_scope(settings) as s:
            rows = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        finished = [r for r in rows if r.outcome != InboundOutcome.PENDING]
        return finished if len(finished) >= count else None

    return wait_for(done, timeout=20)


def test_forged_bounces_over_smtp_disable_nobody(settings, smtp_server, worker):
    add_installer(settings, INSTALLER)
    outbox_id, return_path = sent_message(settings, INSTALLER)
    guessed = f"bounces+{outbox_id}@localhost"
    for _ in range(3):
        smtp_send(smtp_server, dsn(guessed, INSTALLER), guessed)
        smtp_send(smtp_server, x_failed_recipients(INSTALLER), "leads@localhost")
    rows = processed(settings, 6)
    assert all(r.outcome == InboundOutcome.BOUNCE and "ignored" in r.reason for r in rows)
    assert installer_row(settings, INSTALLER).bounced_at is None
    assert outbox_state(settings, outbox_id) == OutboxState.SENT
    # The genuine bounce to the signed return path, through the same door, does act.
    smtp_send(smtp_server, dsn(return_path, INSTALLER), return_path)
    assert processed(settings, 7)[-1].reason.startswith("bounce: ")
    assert outbox_state(settings, outbox_id) == OutboxState.BOUNCED


# ------------------------------------------------------------------ auto-replies -----------
def test_corpus_out_of_office_is_recorded_and_changes_nothing(settings):
    installer_id = add_installer(settings, "contact@soleil-install.example")
    lead_id = add_lead(settings)
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        lead.status = LeadStatus.OFFERED
        s.add(
            OutboxMessage(
                to="contact@soleil-install.example",
                template="offer",
                subject="x",
                state=OutboxState.SENT,
                message_id="<offer-1@localhost>",
                lead_id=lead.id,
                installer_id=installer_id,
                created_at=clock.now() - timedelta(hours=1),
            )
        )
    raw = (CORPUS / "leads" / "out_of_office.eml").read_bytes()
    row = process(settings, raw, ["leads@localhost"])
    assert row.outcome == InboundOutcome.AUTO_REPLY
    assert row.lead_id == lead_id
    with session_scope(settings) as s:
        lead = s.get(Lead, lead_id)
        assert lead.status == LeadStatus.OFFERED  # not an answer
        assert [e.type for e in lead.events] == ["intake", "auto_reply"]
        assert s.query(OutboxMessage).one().auto_reply_at is not None
        assert s.query(Lead).count() == 1
