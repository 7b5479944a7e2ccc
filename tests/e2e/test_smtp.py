"""SMTP intake on a real socket (aiosmtpd) with smtplib as the client."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
import threading
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import mailflow.inbound.smtp as smtp_module
from mailflow import db as mf_db
from mailflow.db import session_scope
from mailflow.inbound.smtp import IntakeController
from mailflow.infra.intake_store import Incoming, store_many
from mailflow.models import Channel, InboundOutcome, Lead
from mailflow.web.app import create_app
from support.corpus import (
    OUTCOME_FOR_KIND,
    assert_lead_matches,
    corpus_messages,
    expected_for,
)
from support.database import use_postgres
from support.mail import crlf, inbound_rows, simple_lead
from support.waiting import free_port, wait_for
from support.web import AUTH


@pytest.fixture
def smtp_server(settings):
    controller = IntakeController(settings, hostname="127.0.0.1", port=0)
    controller.start()
    yield controller
    controller.stop()


def send(server, raw: bytes, to: str = "leads@localhost", sender: str = "form@site.example"):
    with smtplib.SMTP(server.hostname, server.port, timeout=30) as client:
        return client.sendmail(sender, [to], crlf(raw))


def lead_total(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(Lead))


def processed(settings, count: int = 1):
    def check():
        rows = inbound_rows(settings)
        done = [r for r in rows if r.outcome != InboundOutcome.PENDING]
        return rows if len(done) >= count else None

    return wait_for(check, timeout=15)


@pytest.mark.parametrize("eml", corpus_messages(), ids=lambda p: p.stem)
def test_corpus_message_gives_expected_outcome(settings, smtp_server, worker, eml):
    expected = expected_for(eml)
    send(smtp_server, eml.read_bytes())
    (row,) = processed(settings)
    assert row.outcome.value == OUTCOME_FOR_KIND[expected["kind"]], row.reason
    if expected["kind"] == "quarantine":
        assert expected["reason_contains"] in row.reason
        assert lead_total(settings) == 0
    elif expected["kind"] == "lead":
        with TestClient(create_app()) as client:
            lead = client.get(f"/api/leads/{row.lead_id}", headers=AUTH).json()
        assert_lead_matches(lead, expected)
        assert lead["status"] in ("new", "pool")  # no installers here: rotation finds nobody
        assert [e["type"] for e in lead["events"]][:1] == ["intake"]
    else:
        assert lead_total(settings) == 0
        if expected["kind"] == "bounce":
            assert expected["recipient"] in row.reason


def test_same_message_id_twice_makes_one_lead(settings, smtp_server, worker):
    raw = simple_lead()
    send(smtp_server, raw)
    send(smtp_server, raw)
    processed(settings)
    assert len(inbound_rows(settings)) == 1
    assert lead_total(settings) == 1


def test_message_without_message_id_dedups_on_its_bytes(settings, smtp_server, worker):
    raw = simple_lead(message_id=None)
    assert b"Message-ID" not in raw
    send(smtp_server, raw)
    send(smtp_server, raw)
    (row,) = processed(settings)
    assert row.dedup_key.startswith("sha256:")
    assert lead_total(settings) == 1
    # Different bytes without Message-ID are a different message.
    send(smtp_server, simple_lead(message_id=None, name="Bernd Weber"))
    processed(settings, 2)
    assert len(inbound_rows(settings)) == 2


def test_recipients_other_than_intake_are_refused(settings, smtp_server):
    with smtplib.SMTP(smtp_server.hostname, smtp_server.port) as client:
        client.ehlo()
        client.mail("someone@example.org")
        assert client.rcpt("leads@localhost")[0] == 250
        assert client.rcpt("LEADS+fr@localhost")[0] == 250  # +tag, any case
        assert client.rcpt("bounces+42@localhost")[0] == 250  # VERP returns
        code, text = client.rcpt("postmaster@localhost")
        assert code == 550 and b"5.1.1" in text
        code, _ = client.rcpt("leads@elsewhere.example")
        assert code == 550
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(smtp_server, simple_lead(), to="sales@localhost")
    assert inbound_rows(settings) == []


def test_oversized_message_gets_552(settings, smtp_server):
    big = simple_lead() + (b"\r\n" + b"Y" * 998) * (12 * 1024 * 1024 // 1000 + 10)
    assert len(big) > 12 * 1024 * 1024
    # Announced with SIZE (smtplib does that): refused at MAIL FROM.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(smtp_server, big)
    assert refused.value.smtp_code == 552
    # Not announced: refused after DATA.
    with smtplib.SMTP(smtp_server.hostname, smtp_server.port) as client:
        client.ehlo()
        client.mail("form@site.example")
        client.rcpt("leads@localhost")
        code, _ = client.data(big)
        assert code == 552
    assert inbound_rows(settings) == []


@pytest.mark.skipif(use_postgres(), reason="SQLite lock scenario; PostgreSQL has its own test")
def test_database_locked_answers_451_and_writes_nothing(settings, monkeypatch):
    locked = settings.model_copy(update={"db_lock_timeout": 0.5})
    mf_db.dispose_engines()
    controller = IntakeController(locked, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        path = settings.sqlalchemy_url.removeprefix("sqlite:///")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(smtplib.SMTPDataError) as failed:
            send(controller, simple_lead())
        assert failed.value.smtp_code == 451
        assert b"4.3.0" in failed.value.smtp_error
        blocker.execute("ROLLBACK")
        blocker.close()
        assert inbound_rows(settings) == []
        # The sender's retry goes through once the database is back.
        send(controller, simple_lead())
        assert len(inbound_rows(settings)) == 1
    finally:
        controller.stop()


def test_database_unreachable_answers_451(settings, tmp_path):
    if use_postgres():
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    else:
        url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'mailflow.db'}"
    down = settings.model_copy(update={"database_url": url})
    controller = IntakeController(down, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        with pytest.raises(smtplib.SMTPDataError) as failed:
            send(controller, simple_lead())
        assert failed.value.smtp_code == 451
    finally:
        controller.stop()


def test_any_handler_error_is_451_not_500(settings, smtp_server, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(smtp_module, "store_many", broken)
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(smtp_server, simple_lead())
    assert failed.value.smtp_code == 451


@pytest.mark.parametrize("case", ["nul_byte", "unknown_charset", "broken_mime", "garbage"])
def test_bad_mail_is_quarantined_and_the_next_one_still_works(settings, smtp_server, worker, case):
    bad = {
        "nul_byte": simple_lead("<nul@x>").replace(b"Name: Anna", b"Name: An\x00na\x00"),
        "unknown_charset": (
            b"Message-ID: <cs@x>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: text/plain; charset="x-no-such-charset"\r\n\r\n'
            b"\xff\xfe\x00\x81 garbage \x9d\r\n"
        ),
        "broken_mime": (
            b"Message-ID: <mime@x>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n'
            b"--abc\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n"
            b"\r\n!!!not base64!!!\r\n--ab"
        ),
        "garbage": b"Message-ID: <g@x>\r\n\r\n\x00\x01\x02\x03" * 50,
    }[case]
    send(smtp_server, bad)
    (row,) = processed(settings)
    assert row.outcome == InboundOutcome.QUARANTINED
    assert row.reason
    assert lead_total(settings) == 0
    send(smtp_server, simple_lead("<after@x>", email="after@example.de"))
    rows = processed(settings, 2)
    assert rows[-1].outcome == InboundOutcome.LEAD


def test_a_batch_stores_new_messages_once_and_names_known_ones(settings, broker):
    """Group commit: one transaction for several messages, the same message twice in a batch,
    and one already stored before."""

    first = store_many([Incoming(simple_lead("<known@x>"), Channel.SMTP)], settings)
    batch = [
        Incoming(simple_lead("<a@x>"), Channel.SMTP),
        Incoming(simple_lead("<known@x>"), Channel.SMTP),
        Incoming(simple_lead("<b@x>"), Channel.SMTP, envelope_to=["leads@localhost"]),
        Incoming(simple_lead("<a@x>"), Channel.SMTP),
        Incoming(simple_lead(None, name="No Id"), Channel.SMTP),
    ]
    stored = store_many(batch, settings)
    assert [s.created for s in stored] == [True, False, True, False, True]
    assert stored[1].id == first[0].id and stored[3].id == stored[0].id
    rows = {r.id: r for r in inbound_rows(settings)}
    assert len(rows) == 4
    assert rows[stored[0].id].message_id == "<a@x>"
    assert rows[stored[2].id].envelope_to == "leads@localhost"
    assert rows[stored[4].id].dedup_key.startswith("sha256:")
    assert {r.outcome for r in rows.values()} == {InboundOutcome.PENDING}
    # Processing was enqueued once per new message.
    assert broker.queues["inbound"].qsize() == 4


def test_parallel_senders_are_each_stored_once_and_processed(settings, smtp_server, worker):
    """Twenty clients at once (commits are shared between them): every message answered 250
    is stored once, a re-send is recognised, and every one becomes a lead."""

    answers: list[str] = []

    def client(k: int) -> None:
        with smtplib.SMTP(smtp_server.hostname, smtp_server.port, timeout=30) as smtp:
            for i in range(5):
                raw = simple_lead(f"<p{k}-{i}@x>", name=f"Kunde {k} {i}", email=f"k{k}i{i}@ex.de")
                smtp.sendmail("form@site.example", ["leads@localhost"], crlf(raw))
                answers.append(f"{k}-{i}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 100
    send(smtp_server, simple_lead("<p7-3@x>", name="Kunde 7 3", email="k7i3@ex.de"))
    rows = processed(settings, 100)
    assert len(rows) == 100
    assert len({r.message_id for r in rows}) == 100
    wait_for(lambda: lead_total(settings) == 100, timeout=30)


def test_one_message_the_database_refuses_fails_alone(settings, smtp_server, monkeypatch):
    """A batch the database refuses is stored message by message: only the culprit gets 451."""

    real = smtp_module.store_many

    def picky(items, settings, enqueue=True):
        if any(b"poison" in item.raw for item in items):
            raise ValueError("the database refuses this row")
        return real(items, settings, enqueue=enqueue)

    monkeypatch.setattr(smtp_module, "store_many", picky)
    group = smtp_module.GroupCommit(settings, smtp_server.handler.quick, concurrency=1)

    async def three():
        items = [
            Incoming(simple_lead("<ok1@x>"), Channel.SMTP),
            Incoming(simple_lead("<poison@x>", name="poison"), Channel.SMTP),
            Incoming(simple_lead("<ok2@x>"), Channel.SMTP),
        ]
        return await asyncio.gather(*(group.store(i) for i in items), return_exceptions=True)

    ok1, poisoned, ok2 = asyncio.run(three())
    assert ok1.created and ok2.created
    assert isinstance(poisoned, ValueError)
    assert sorted(r.message_id for r in inbound_rows(settings)) == ["<ok1@x>", "<ok2@x>"]


def test_lead_over_1kb_ending_in_an_empty_line_is_stored(settings, smtp_server, worker):
    # EmailMessage ends the body with the text's own "\n" plus an empty line when the text
    # ends with "\n\n"; over the reader's 1,001-byte buffer that used to hang DATA.
    msg = EmailMessage()
    msg["From"] = "Formular <form@site.example>"
    msg["To"] = "leads@localhost"
    msg["Subject"] = "Anfrage"
    msg["Message-ID"] = "<empty-line@site.example>"
    text = (
        "Name: Anna Weber\nE-Mail: anna.weber@example.de\nTelefon: 030 1234567\nPLZ: 10115\n"
        "Ort: Berlin\nLand: DE\nNachricht: " + "Bitte um Angebot. " * 80 + "\n\n"
    )
    msg.set_content(text)
    raw = msg.as_bytes()
    assert len(raw) > 1100 and raw.endswith(b"\n\n")
    with smtplib.SMTP(smtp_server.hostname, smtp_server.port, timeout=10) as client:
        client.send_message(msg)
    (row,) = processed(settings)
    assert row.raw == crlf(raw)
    assert row.outcome == InboundOutcome.LEAD


def test_stopping_lets_the_stored_messages_reach_the_broker_first(settings, monkeypatch):
    """``stop()`` returns only once the processing jobs of what was stored are enqueued: the
    caller closes the broker next (the embedded Redis), and an enqueue against a closed Redis
    retries for seconds each (it once held ``mailflow smtp`` past its stop timeout)."""
    enqueued: list[int] = []
    started = threading.Event()

    def slow_enqueue(stored):
        started.set()
        threading.Event().wait(0.5)  # a broker round trip that takes its time
        enqueued.extend(item.id for item in stored)

    monkeypatch.setattr(smtp_module, "enqueue_processing", slow_enqueue)
    controller = IntakeController(settings, hostname="127.0.0.1", port=0)
    controller.start()
    send(controller, simple_lead())
    assert started.wait(5)
    controller.stop()
    assert enqueued == [row.id for row in inbound_rows(settings)]
    with pytest.raises(RuntimeError):  # nothing more is taken after the stop
        controller.handler.group.enqueuer.submit(print)
