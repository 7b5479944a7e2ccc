"""End to end on the running service: `mailflow run`, SMTP intake, Maildir outbound, links."""

from __future__ import annotations

import mailbox
import re
import subprocess
from email import policy
from email.parser import BytesParser

import httpx
import pytest

from support.mail import crlf
from support.offers import csrf_of
from support.paths import CORPUS
from support.servers.process import MAILFLOW, MailflowProcess, send
from support.waiting import wait_for

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/l/(?:accept|decline|reveal)/[A-Za-z0-9_\-.]+)")


def maildir_messages(service: MailflowProcess, to: str) -> list:
    box = mailbox.Maildir(service.data_dir / "outbox", create=True)
    found = []
    for key in box.keys():
        with box.get_file(key) as fh:
            msg = BytesParser(policy=policy.default).parse(fh)
        if msg["To"] == to:
            found.append(msg)
    return sorted(found, key=lambda m: m["Date"])


def links(msg) -> dict[str, str]:
    text = msg.get_body(("plain",)).get_content()
    return {url.split("/l/")[1].split("/")[0]: url for url in LINK.findall(text)}


def cli(service: MailflowProcess, *args: str) -> str:
    result = subprocess.run(
        [*MAILFLOW, *args],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=service.data_dir.parent,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


@pytest.mark.real_clock
def test_lead_to_offer_to_accept_on_the_running_service(tmp_path, service_db):
    service = MailflowProcess(tmp_path / "var", service_db).start()
    try:
        cli(service, "installers", "import", str(CORPUS / "installers.csv"))
        send(service.smtp_port, crlf((CORPUS / "leads" / "qcells_fr_tabs.eml").read_bytes()))
        # The offer, whatever else the installer got meanwhile (a tier change email when the
        # start-up tier recompute runs after the import, for one).
        offer = wait_for(
            lambda: [
                m
                for m in maildir_messages(service, "contact@soleil-paris.example")
                if "accept" in links(m)
            ],
            timeout=30,
        )[0]
        assert "Claire" not in offer.get_body(("plain",)).get_content()
        accept = links(offer)["accept"]
        with httpx.Client(timeout=30) as client:
            page = client.get(accept)
            assert page.status_code == 200
            lead_id = service.api("/api/leads")["items"][0]["id"]
            assert service.api(f"/api/leads/{lead_id}")["status"] == "offered"
            done = client.post(accept, data={"csrf_token": csrf_of(page.text)})
            assert done.status_code == 200 and "claire.dubois@example.fr" in done.text
        lead = service.api(f"/api/leads/{lead_id}")
        assert lead["status"] == "accepted"
        assert lead["assigned_to"] == "contact@soleil-paris.example"
        details = wait_for(
            lambda: [
                m
                for m in maildir_messages(service, "contact@soleil-paris.example")
                if "reveal" in links(m)
            ],
            timeout=30,
        )[0]
        reveal = links(details)["reveal"]
        with httpx.Client(timeout=30) as client:
            page = client.get(reveal)
            first = client.post(reveal, data={"csrf_token": csrf_of(page.text)})
            second = client.post(reveal, data={"csrf_token": csrf_of(page.text)})
        assert "claire.dubois@example.fr" in first.text
        assert second.status_code == 409 and "claire.dubois@example.fr" not in second.text
        assert maildir_messages(service, "devis@ile-de-france-pv.example") == []
    finally:
        assert service.stop() == 0
    # Tokens never reach the logs.
    for url in (accept, reveal):
        assert url.rsplit("/", 1)[1] not in service.output()


def test_sweep_at_after_the_deadline_rotates_the_offer(tmp_path, service_db):
    service = MailflowProcess(tmp_path / "var", service_db).start()
    try:
        cli(service, "installers", "import", str(CORPUS / "installers.csv"))
        send(service.smtp_port, crlf((CORPUS / "leads" / "qcells_fr_tabs.eml").read_bytes()))
        wait_for(lambda: maildir_messages(service, "contact@soleil-paris.example"), timeout=30)
        lead_id = service.api("/api/leads")["items"][0]["id"]
        deadline = service.api(f"/api/leads/{lead_id}")["offers"][0]["deadline"]
        out = cli(service, "sweep", "--at", deadline.replace("Z", "+00:00"))
        assert "offers: 1" in out
        wait_for(lambda: maildir_messages(service, "devis@ile-de-france-pv.example"), timeout=30)
        offers = service.api(f"/api/leads/{lead_id}")["offers"]
        assert [o["status"] for o in offers] == ["expired", "offered"]
    finally:
        service.stop()
