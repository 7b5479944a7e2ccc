"""The README's run command, walked end to end: `mailflow run` as a separate process."""

from __future__ import annotations

import smtplib
import subprocess
import threading
import time

import pytest
from conftest import wait_for
from service import MAILFLOW, MailflowProcess
from test_smtp import simple_lead


@pytest.fixture
def service_db(request, tmp_path):
    """`mailflow run` uses SQLite in its data dir, or the test PostgreSQL in that mode."""
    from conftest import use_postgres

    return request.getfixturevalue("database_url") if use_postgres() else None


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail("form@site.example", ["leads@localhost"], raw)


def lead_for(service: MailflowProcess, message_id: str) -> dict | None:
    for item in service.api("/api/inbound?limit=100")["items"]:
        if item["message_id"] == message_id and item["outcome"] != "pending":
            return item
    return None


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
        tmp_path / "var", service_db, extra_env={"MAILFLOW_MAX_MESSAGE_SIZE": str(32 * 1024 * 1024)}
    ).start()
    try:
        filler = (b"\r\n" + b"Z" * 76) * (20 * 1024 * 1024 // 78)
        huge = [simple_lead(f"<huge-{i}@site.example>") + filler for i in range(10)]
        errors: list[Exception] = []

        def push(raw: bytes) -> None:
            try:
                send(service.smtp_port, raw)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=push, args=(raw,)) for raw in huge]
        for t in threads:
            t.start()
        time.sleep(0.5)  # the big transfers are under way
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
        busy = any(t.is_alive() for t in threads)
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert busy, "the big messages finished before the small ones were measured"
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
            timeout=120,
        )
    finally:
        service.stop()
