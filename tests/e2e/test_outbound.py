"""The outbox: atomic with the change that causes it, sent through real relays (aiosmtpd) and
the Maildir, retried, failed, recovered after a dead worker."""

from __future__ import annotations

import mailbox
import re
import shutil
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from mailflow import clock
from mailflow.db import get_engine, session_scope
from mailflow.models import Installer, Lead, OutboxMessage, OutboxState
from mailflow.outbound import outbox as outbox_module
from mailflow.outbound.emails import EmailSpec, offer_email
from mailflow.outbound.outbox import (
    RECENTLY_SENT,
    SENDING_LEASE,
    RecentlySent,
    claim,
    deliver,
    queue_email,
    sweep_outbox,
)
from mailflow.outbound.transports import MaildirTransport, thread_transport
from mailflow.outbound.verp import verp_address
from support.factories import make_lead, queue_offer
from support.servers.relay import Relay
from support.waiting import free_port, wait_for


def use_relay(settings, monkeypatch, relay: Relay):
    updated = settings.model_copy(update={"outbound_url": relay.url})
    monkeypatch.setattr("mailflow.jobs.actors.get_settings", lambda: updated)
    return updated


def outbox(settings, outbox_id: int) -> OutboxMessage:
    with session_scope(settings) as s:
        return s.get(OutboxMessage, outbox_id)


def test_state_change_and_email_commit_together(settings, installer):
    with pytest.raises(RuntimeError), session_scope(settings) as s:
        lead = make_lead(s)
        spec = offer_email(
            lead, s.get(Installer, installer), deadline=clock.now(), accept_url="a", decline_url="d"
        )
        queue_email(s, spec, now=clock.now(), settings=settings)
        raise RuntimeError("the transaction fails after queueing")
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(select(func.count()).select_from(Lead)) == 0


def test_committed_message_is_sent_to_the_maildir(settings, installer, worker, broker):
    outbox_id = queue_offer(settings, installer)
    wait_for(lambda: outbox(settings, outbox_id).state == OutboxState.SENT)
    box = mailbox.Maildir(settings.data_path / "outbox", create=False)
    (message,) = list(box)
    assert message["To"] == "contact@soleil-paris.example"
    # VERP: the outbox id signed with our key (a bounce acts only on a message we sent)
    assert message["Return-Path"] == f"<{verp_address(settings, outbox_id)}>"
    assert re.fullmatch(rf"<bounces\+{outbox_id}-[a-z2-7]{{16}}@localhost>", message["Return-Path"])
    assert message["Message-ID"] == outbox(settings, outbox_id).message_id


def test_relay_gets_both_parts_headers_and_language(
    settings, installer, worker, tmp_path, monkeypatch
):
    relay = Relay(tmp_path).start()
    try:
        use_relay(settings, monkeypatch, relay)
        ids = [queue_offer(settings, installer, language) for language in ("fr", "de", "en")]
        try:
            wait_for(lambda: len(relay.received) == 3)
        except AssertionError:
            print([(outbox(settings, i).state, outbox(settings, i).last_error) for i in ids])
            raise
        for outbox_id in ids:
            wait_for(lambda i=outbox_id: outbox(settings, i).state == OutboxState.SENT)
    finally:
        relay.stop()
    subjects = {}
    for received in relay.received:
        msg = received.message
        outbox_id = int(msg["X-Mailflow-Outbox-Id"])
        assert received.mail_from == verp_address(settings, outbox_id)  # signed VERP
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert msg["Message-ID"] == outbox(settings, outbox_id).message_id
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "/l/accept/TOKEN-A" in text and "/l/accept/TOKEN-A" in html
        assert "Claire" not in text and "claire@example.fr" not in html  # no identity in offers
        subjects[msg["Subject"]] = text
    # each in its installer's language, with the lead's number
    assert any(s.startswith("Lead n° ") for s in subjects)
    assert any(s.startswith("Lead Nr. ") for s in subjects)
    assert any(s.startswith("Lead #") for s in subjects)


def test_451_then_250_is_delivered_once_after_a_retry(settings, installer, tmp_path, monkeypatch):
    relay = Relay(tmp_path, answers=["451 4.3.0 try later"]).start()
    try:
        current = use_relay(settings, monkeypatch, relay)
        outbox_id = queue_offer(settings, installer)
        first = deliver(outbox_id, settings=current, now=clock.now())
        assert first.state == OutboxState.QUEUED and first.retry_in == timedelta(seconds=30)
        row = outbox(settings, outbox_id)
        assert "451" in row.last_error and row.attempts == 1
        # Not due yet: nothing happens.
        assert deliver(outbox_id, settings=current, now=clock.now()).state is None
        later = clock.now() + timedelta(seconds=31)
        assert deliver(outbox_id, settings=current, now=later).state == OutboxState.SENT
        assert deliver(outbox_id, settings=current, now=later).state is None  # already sent
    finally:
        relay.stop()
    assert relay.handler.attempts == 2 and len(relay.received) == 1
    assert outbox(settings, outbox_id).attempts == 2


def test_550_fails_at_once_with_the_answer(settings, installer, tmp_path, monkeypatch):
    relay = Relay(tmp_path, answers=["550 5.1.1 mailbox unknown"]).start()
    try:
        current = use_relay(settings, monkeypatch, relay)
        outbox_id = queue_offer(settings, installer)
        assert deliver(outbox_id, settings=current, now=clock.now()).state == OutboxState.FAILED
    finally:
        relay.stop()
    row = outbox(settings, outbox_id)
    assert row.state == OutboxState.FAILED and "550 5.1.1 mailbox unknown" in row.last_error


def test_relay_down_is_temporary(settings, installer):
    current = settings.model_copy(update={"outbound_url": f"smtp://127.0.0.1:{free_port()}"})
    outbox_id = queue_offer(settings, installer)
    assert deliver(outbox_id, settings=current, now=clock.now()).state == OutboxState.QUEUED
    assert "refused" in outbox(settings, outbox_id).last_error.lower()


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_and_auth_against_a_relay_that_requires_them(settings, installer, tmp_path, mode):
    relay = Relay(
        tmp_path,
        starttls=mode == "starttls",
        implicit_tls=mode == "smtps",
        auth=("mailer", "s3cret pass"),
    ).start()
    try:
        url = relay.url.replace("s3cret pass", "s3cret%20pass")
        current = settings.model_copy(update={"outbound_url": url})
        outbox_id = queue_offer(settings, installer)
        assert deliver(outbox_id, settings=current, now=clock.now()).state == OutboxState.SENT
        wrong = settings.model_copy(update={"outbound_url": url.replace("s3cret", "wrong")})
        other = queue_offer(settings, installer)
        assert deliver(other, settings=wrong, now=clock.now()).state == OutboxState.FAILED
        assert "535" in outbox(settings, other).last_error
        # Without TLS the relay refuses to authenticate.
        if mode == "starttls":
            plain = settings.model_copy(
                update={"outbound_url": url.replace("smtp+starttls", "smtp")}
            )
            third = queue_offer(settings, installer)
            assert deliver(third, settings=plain, now=clock.now()).state != OutboxState.SENT
    finally:
        relay.stop()
    assert len(relay.received) == 1


def test_connection_is_reused_across_messages(settings, installer, tmp_path):
    relay = Relay(tmp_path).start()
    connections = []
    original = relay.controller.factory

    def counting_factory():
        connections.append(1)
        return original()

    relay.controller.factory = counting_factory
    try:
        current = settings.model_copy(update={"outbound_url": relay.url})
        for _ in range(5):
            outbox_id = queue_offer(settings, installer)
            assert deliver(outbox_id, settings=current, now=clock.now()).state == OutboxState.SENT
        thread_transport(relay.url).close()
    finally:
        relay.stop()
    assert len(relay.received) == 5
    assert len(connections) == 1


def test_dead_worker_and_lost_broker_message_are_recovered_once(settings, installer, broker):
    outbox_id = queue_offer(settings, installer)
    # A worker claimed the row and died mid-send; the broker lost every message.
    with session_scope(settings) as s:
        row = s.get(OutboxMessage, outbox_id)
        row.state, row.claimed_at, row.attempts = OutboxState.SENDING, clock.now(), 1
    broker.flush_all()
    assert sweep_outbox(settings, clock.now()) == 0  # the lease still runs
    later = clock.now() + SENDING_LEASE + timedelta(minutes=2)
    assert sweep_outbox(settings, later) == 1
    assert outbox(settings, outbox_id).state == OutboxState.QUEUED
    # The sweep re-enqueued it; a worker delivers it exactly once.
    worker_messages = broker.queues["outbound"].qsize()
    assert worker_messages == 1
    assert deliver(outbox_id, settings=settings, now=later).state == OutboxState.SENT
    assert deliver(outbox_id, settings=settings, now=later).state is None
    box = mailbox.Maildir(settings.data_path / "outbox", create=False)
    assert len(list(box)) == 1


def test_maildir_delivery_is_idempotent(tmp_path):
    transport = MaildirTransport(tmp_path / "md")
    for _ in range(3):
        transport.send("bounces+1@x", ["a@b"], b"Subject: hi\r\n\r\nbody\r\n", "<key-1@x>")
    assert len(list(mailbox.Maildir(tmp_path / "md"))) == 1


def test_threads_making_the_maildir_at_once_all_get_it(tmp_path):
    # Worker threads sending their first emails at the same moment each make the transport.
    start, errors = threading.Barrier(8), []

    def make() -> None:
        start.wait()
        try:
            MaildirTransport(tmp_path / "new-box").send(
                "bounces+1@x",
                ["a@b"],
                b"Subject: hi\r\n\r\nbody\r\n",
                f"<{threading.get_ident()}@x>",
            )
        except Exception as exc:
            errors.append(exc)

    for _ in range(5):  # the race is narrow: a fresh box each round
        threads = [threading.Thread(target=make) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert errors == []
        assert len(list(mailbox.Maildir(tmp_path / "new-box"))) == 8
        assert (tmp_path / "new-box").stat().st_mode & 0o777 == 0o700
        shutil.rmtree(tmp_path / "new-box")


def test_concurrent_workers_send_each_message_once(settings, installer, tmp_path):
    relay = Relay(tmp_path).start()
    try:
        current = settings.model_copy(update={"outbound_url": relay.url})
        ids = [queue_offer(settings, installer) for _ in range(30)]

        errors = []

        def work(order):
            for outbox_id in order:
                try:
                    deliver(outbox_id, settings=current, now=clock.now(), batch=5)
                except Exception as exc:  # two claims must never wait for (or deadlock on)
                    errors.append(exc)  # each other's rows

        threads = [threading.Thread(target=work, args=(ids[::step],)) for step in (1, -1, 2, -2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for outbox_id in ids:  # whatever a thread missed (it skips rows another one holds)
            deliver(outbox_id, settings=current, now=clock.now())
    finally:
        relay.stop()
    assert errors == []
    ids_received = sorted(int(r.message["X-Mailflow-Outbox-Id"]) for r in relay.received)
    assert ids_received == sorted(ids)
    with session_scope(settings) as s:
        states = {row.state for row in s.scalars(select(OutboxMessage))}
    assert states == {OutboxState.SENT}


def test_overlapping_claims_neither_wait_for_nor_deadlock_on_each_other(settings, installer):
    """Eight claims at once, each from its own row on, their batches overlapping: every row
    goes to one claim at most, and no claim fails (on PostgreSQL they deadlocked when the
    UPDATE locked its rows in no particular order)."""
    ids = [queue_offer(settings, installer) for _ in range(1200)]
    engine = get_engine(settings)
    start = threading.Barrier(8)
    claimed: list[list[int]] = []
    errors = []

    def take(first: int) -> None:
        start.wait()
        try:
            with engine.begin() as connection:
                batch = claim(connection, first, clock.now(), batch=400)
                time.sleep(0.05)  # hold the rows while the others claim
            claimed.append([item.id for item in batch])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(ids[n * 100],)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    taken = [outbox_id for batch in claimed for outbox_id in batch]
    assert len(taken) == len(set(taken))
    assert set(taken) <= set(ids) and len(taken) >= 60


def test_rows_sent_in_a_batch_are_not_asked_for_again(settings, installer, tmp_path):
    """A batch sends the due rows over one connection; each sent row's own job then finds it
    in the process's list of sent rows, without a round trip, and nothing is sent twice."""
    relay = Relay(tmp_path).start()
    statements = []
    engine = get_engine(settings)

    def count(*_args):
        statements.append(1)

    try:
        current = settings.model_copy(update={"outbound_url": relay.url})
        ids = [queue_offer(settings, installer) for _ in range(5)]
        assert deliver(ids[0], settings=current, now=clock.now(), batch=5).state == (
            OutboxState.SENT
        )
        event.listen(engine, "before_cursor_execute", count)
        try:
            for outbox_id in ids[1:]:
                assert deliver(outbox_id, settings=current, now=clock.now(), batch=5).state is None
        finally:
            event.remove(engine, "before_cursor_execute", count)
        thread_transport(relay.url).close()
    finally:
        relay.stop()
    assert statements == []
    assert sorted(int(r.message["X-Mailflow-Outbox-Id"]) for r in relay.received) == ids
    # Another database's row of the same id is its own: not taken for sent.
    assert (str(engine.url), ids[1]) in RECENTLY_SENT
    assert ("sqlite:///elsewhere.db", ids[1]) not in RECENTLY_SENT


def test_a_row_given_back_to_the_queue_while_it_was_sent_is_sent_again_not_forgotten(
    settings, installer, tmp_path, monkeypatch
):
    """The sweep gives a row back to the queue when its sender's lease ran out (a time jump
    in the soak did it while the row was being sent). The sender's "sent" no longer applies
    to it: the row is not remembered as sent, and its own job sends it again (at least once),
    instead of finding it in the process's list and leaving it queued for ever."""
    relay = Relay(tmp_path).start()
    try:
        current = settings.model_copy(update={"outbound_url": relay.url})
        (outbox_id,) = [queue_offer(settings, installer)]
        transmit = outbox_module._transmit

        def lease_runs_out_meanwhile(item, settings_, now):
            transmit(item, settings_, now)
            sweep_outbox(settings, clock.now() + SENDING_LEASE * 2)

        monkeypatch.setattr(outbox_module, "_transmit", lease_runs_out_meanwhile)
        deliver(outbox_id, settings=current, now=clock.now())
        monkeypatch.setattr(outbox_module, "_transmit", transmit)
        assert (str(get_engine(settings).url), outbox_id) not in RECENTLY_SENT
        assert outbox(settings, outbox_id).state == OutboxState.QUEUED
        assert deliver(outbox_id, settings=current, now=clock.now()).state == OutboxState.SENT
        thread_transport(relay.url).close()
    finally:
        relay.stop()
    assert outbox(settings, outbox_id).state == OutboxState.SENT
    assert [int(r.message["X-Mailflow-Outbox-Id"]) for r in relay.received] == [outbox_id] * 2


def test_a_batch_takes_the_due_rows_from_its_own_on_in_order(settings, installer, tmp_path):
    """A send job's batch is its row and the due rows queued after it, in id order (read through
    the (state, id) index, whatever the length of the queue); older rows and rows not yet due
    stay for their own jobs."""
    relay = Relay(tmp_path).start()
    try:
        current = settings.model_copy(update={"outbound_url": relay.url})
        ids = [queue_offer(settings, installer) for _ in range(12)]
        with session_scope(settings) as s:  # one row waits for its retry
            s.get(OutboxMessage, ids[6]).next_attempt_at = clock.now() + timedelta(minutes=5)
        assert deliver(ids[3], settings=current, now=clock.now(), batch=5).state == (
            OutboxState.SENT
        )
        thread_transport(relay.url).close()
    finally:
        relay.stop()
    sent = sorted(int(r.message["X-Mailflow-Outbox-Id"]) for r in relay.received)
    assert sent == [ids[3], ids[4], ids[5], ids[7], ids[8]]
    with session_scope(settings) as s:
        queued = s.scalars(
            select(OutboxMessage.id).where(OutboxMessage.state == OutboxState.QUEUED)
        ).all()
    assert sorted(queued) == sorted(set(ids) - set(sent))


def test_the_list_of_sent_rows_is_bounded():
    recent = RecentlySent(size=3)
    recent.add("db", [1, 2])
    recent.add("db", [2, 3, 4])
    assert [("db", i) in recent for i in (1, 2, 3, 4)] == [False, True, True, True]


def test_transactional_mail_never_pretends_to_be_optional(settings, installer):
    """An admin alert is not optional mail: even with a link in its context it carries no
    List-Unsubscribe (the optional ones are checked in tests/integration/test_email_headers)."""
    with session_scope(settings) as s:
        spec = EmailSpec(
            to="contact@soleil-paris.example",
            template="admin_alert",
            language="en",
            context={
                "title": "Weekly digest",
                "message": "3 leads wait for you",
                "url": None,
                "unsubscribe_url": "http://x/l/digest/T",
            },
        )
        row = queue_email(s, spec, now=clock.now(), settings=settings)
        raw = row.raw
    assert b"List-Unsubscribe" not in raw
