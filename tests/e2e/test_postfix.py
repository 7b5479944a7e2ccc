"""Leads through a real Postfix configured as docs/deploy.md says, relaying to `mailflow smtp`:
every lead stored once, byte for byte, with the right fields, and nothing left in the queue."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import compat32

import pytest
from sqlalchemy import create_engine, text

from mailflow.domain.intake.parse import parse_message
from support.database import use_postgres
from support.servers import postfix
from support.servers.process import MAILFLOW, MailflowProcess
from support.waiting import wait_for

pytestmark = pytest.mark.skipif(postfix.missing() is not None, reason=str(postfix.missing()))

INTAKE = "leads@leads.example.com"
LEADS = 200
SESSIONS = 10


def text_lead(n: int) -> EmailMessage:
    """A lead over 1 KB whose text ends with an empty line (the body then ends "\\n\\n")."""
    msg = EmailMessage()
    msg["From"] = "Formular <form@site.example>"
    msg["To"] = INTAKE
    msg["Subject"] = f"Anfrage {n}"
    msg["Message-ID"] = f"<postfix-{n}@site.example>"
    msg.set_content(
        f"Name: Kunde Nummer{n}\nE-Mail: kunde{n}@example.de\nTelefon: 030 1234567\n"
        f"PLZ: 10115\nOrt: Berlin\nLand: DE\nNachricht: {'Bitte um ein Angebot. ' * 60}\n\n"
    )
    return msg


def row(label: str, value: str) -> str:
    return f"<tr><td>{label}</td><td>{value}</td></tr>"


def filled(line: str, until: int, label: str, text: str) -> str:
    """``line`` and a row of ``label`` whose text makes it ``until`` bytes long."""
    room = until - len(line.encode()) - len(row(label, "").encode())
    return line + row(label, (text * (room // len(text) + 1))[:room])


def html_lead_on_one_line(size: int = 50_000) -> bytes:
    """A lead whose HTML is one line of ``size`` bytes. Postfix breaks a line over 998 bytes
    unless told not to: here the city straddles byte 998 and the email address 1,995 (where
    the second break falls, the first having added a space)."""
    line = "<html><body><table>"
    line = filled(line, 998 - len(b"<tr><td>Ville</td><td>Pari"), "Note", "x")
    line += row("Ville", "Paris") + row("Nom", "Claire Martin") + row("Code postal", "75011")
    line = filled(line, 1995 - len(b"<tr><td>Email</td><td>claire.mar"), "Info", "y")
    line += row("Email", "claire.martin@example.fr") + row("Téléphone", "01 23 45 67 89")
    end = "</table></body></html>"
    line = filled(line, size - len(end), "Message", "Je voudrais un devis. ") + end
    assert len(line.encode()) == size
    head = (
        "From: Formulaire <form@site.example>\r\n"
        f"To: {INTAKE}\r\n"
        "Subject: Demande de devis\r\n"
        "Message-ID: <postfix-html@site.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return (head + line + "\r\n").encode()


def submit(port: int, raw: bytes | EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        if isinstance(raw, EmailMessage):
            client.send_message(raw)
        else:
            client.sendmail("form@site.example", [INTAKE], raw)


def answers(port: int) -> bool:
    """True once an SMTP server greets on ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(3) == b"220"
    except OSError:
        return False


def body_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


def stored(database_url: str, data_dir) -> dict[str, list[bytes]]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT message_id, raw, raw_path FROM inbound_messages"))
        found: dict[str, list[bytes]] = {}
        for message_id, raw, raw_path in rows:
            raw = bytes(raw) if raw is not None else (data_dir / raw_path).read_bytes()
            found.setdefault(message_id, []).append(raw)
    engine.dispose()
    return found


def test_leads_through_postfix_as_the_guide_configures_it(tmp_path, request):
    database_url = request.getfixturevalue("database_url") if use_postgres() else None
    data = tmp_path / "var"
    intake = MailflowProcess(
        data,
        database_url,
        command="smtp",
        extra_env={"MAILFLOW_INTAKE_ADDRESS": INTAKE, "MAILFLOW_FROM_ADDRESS": INTAKE},
    )
    data.mkdir(parents=True)
    subprocess.run(
        [*MAILFLOW, "db", "upgrade"], env=intake.env, check=True, capture_output=True, cwd=tmp_path
    )
    intake.start()
    relay = postfix.PostfixRelay(intake.smtp_port).start()
    try:
        # An unknown recipient is refused by Postfix itself (no backscatter).
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.ehlo()
            client.mail("form@site.example")
            assert client.rcpt("nobody@leads.example.com")[0] == 550

        html = html_lead_on_one_line()
        submit(relay.port, html)
        leads = {n: text_lead(n) for n in range(LEADS)}
        submitted = 0
        lock = threading.Lock()

        def send(n: int) -> None:
            nonlocal submitted
            submit(relay.port, leads[n])
            with lock:
                submitted += 1

        with ThreadPoolExecutor(SESSIONS) as pool:
            futures = [pool.submit(send, n) for n in leads]
            wait_for(lambda: submitted >= LEADS // 2, timeout=60)
            intake.stop()  # mailflow restarted in the middle: Postfix defers meanwhile
            time.sleep(1.0)
            intake.start(wait=False)
            wait_for(lambda: answers(intake.smtp_port), timeout=30)
            for future in futures:
                future.result()
        relay.flush()  # as the guide says, after an outage
        deadline = time.monotonic() + 60
        while "Mail queue is empty" not in (queue := relay.queue()):
            assert time.monotonic() < deadline, f"{queue}\n{intake.output()[-3000:]}"
            time.sleep(0.5)

        url = database_url or f"sqlite:///{data / 'mailflow.db'}"
        rows = stored(url, data)
        assert len(rows) == LEADS + 1
        assert all(len(copies) == 1 for copies in rows.values()), "a lead was stored twice"
        (html_raw,) = rows["<postfix-html@site.example>"]
        assert body_of(html_raw) == body_of(html), "Postfix changed the long line"
        lead = parse_message(html_raw, envelope_to=[INTAKE]).lead
        assert (lead.customer.city, lead.customer.email) == ("Paris", "claire.martin@example.fr")
        for n, msg in leads.items():
            (raw,) = rows[f"<postfix-{n}@site.example>"]
            sent = msg.as_bytes().replace(b"\n", b"\r\n")
            assert body_of(raw) == body_of(sent) and raw.endswith(b"\r\n\r\n")
            customer = parse_message(raw, envelope_to=[INTAKE]).lead.customer
            assert (customer.email, customer.city) == (f"kunde{n}@example.de", "Berlin")
        headers = BytesParser(policy=compat32).parsebytes(html_raw, headersonly=True)
        assert "mx.test.example" in headers["Received"]
    finally:
        relay.cleanup()
        intake.stop()
