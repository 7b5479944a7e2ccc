"""The README's run command, walked end to end: `mailflow run` as a separate process."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from support.mail import simple_lead
from support.servers.process import (
    MAILFLOW,
    MailflowProcess,
    lead_for,
    send,
    start_big_senders,
)
from support.waiting import wait_for


def test_run_send_a_lead_see_it_stop_cleanly(tmp_path, service_db):
    service = MailflowProcess(tmp_path / "var", service_db).start()
    try:
        out = service.output()
        assert f"127.0.0.1:{service.smtp_port}" in out and "API token" in out
        assert service.secrets()["webhook_secret"] in out
        send(service.smtp_port, simple_lead("<readme-1@site.example>"))
        item = wait_for(lambda: lead_for(service, "<readme-1@site.example>"), timeout=20)
        assert item["outcome"] == "lead"
        lead = service.api(f"/api/leads/{item['lead_id']}")
        assert lead["customer"]["name"] == "Anna Weber"
        assert lead["customer"]["phone"] == "+49301234567"
        assert service.api("/api/leads")["total"] == 1
    finally:
        code = service.stop()
    assert code == 0, service.output()
    assert "mailflow stopped" in service.output()


def test_sigkill_after_250_still_processes_the_message(tmp_path, service_db):
    data = tmp_path / "var"
    smtp_only = MailflowProcess(data, service_db, command="smtp")
    # At scale the parts do not migrate by themselves: the operator runs `db upgrade` first.
    data.mkdir(parents=True)
    subprocess.run(
        [*MAILFLOW, "db", "upgrade"],
        env=smtp_only.env,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    smtp_only.start()
    try:
        send(smtp_only.smtp_port, simple_lead("<killed-1@site.example>"))  # 250 received
    finally:
        smtp_only.kill()  # SIGKILL: no worker ever ran
    service = MailflowProcess(data, service_db).start()
    try:
        item = wait_for(lambda: lead_for(service, "<killed-1@site.example>"), timeout=20)
        assert item["outcome"] == "lead"
        assert service.api("/api/leads")["total"] == 1
    finally:
        service.stop()


@pytest.mark.slow
def test_ten_huge_messages_do_not_stall_small_ones(tmp_path, service_db):
    service = MailflowProcess(
        tmp_path / "var",
        service_db,
        extra_env={"MAILFLOW_MAX_MESSAGE_SIZE": str(32 * 1024 * 1024)},
    ).start()
    try:
        senders = start_big_senders(service.smtp_port, count=10, size=20 * 1024 * 1024)
        wait_for(lambda: _big_transfers_started(service), timeout=30, interval=0.02)
        timings = []
        for i in range(3):
            started = time.monotonic()
            assert service.healthz(timeout=5) == 200
            timings.append(("healthz", time.monotonic() - started))
            started = time.monotonic()
            send(
                service.smtp_port,
                simple_lead(f"<small-{i}@site.example>", email=f"small{i}@example.de"),
            )
            timings.append(("smtp", time.monotonic() - started))
        still_sending = senders.poll() is None
        out, err = senders.communicate(timeout=300)
        assert senders.returncode == 0, err
        assert still_sending, "the big messages finished before the small ones were measured"
        assert all(seconds < 1.0 for _, seconds in timings), timings
        wait_for(
            lambda: (
                sum(
                    1
                    for i in service.api("/api/inbound?limit=100")["items"]
                    if i["outcome"] != "pending"
                )
                == 13
            ),
            timeout=180,
        )
    finally:
        service.stop()


def _big_transfers_started(service: MailflowProcess) -> bool:
    """True once the server has several client connections open (seen via ss)."""
    if shutil.which("ss") is None:  # iproute2 missing: give the senders a moment instead
        time.sleep(1.0)
        return True
    out = subprocess.run(
        ["ss", "-tn", "state", "established", f"( sport = :{service.smtp_port} )"],
        capture_output=True,
        text=True,
    ).stdout
    return out.count("\n") >= 6
