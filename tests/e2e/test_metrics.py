"""Prometheus metrics at /metrics."""

from __future__ import annotations

import smtplib
import urllib.request

import dramatiq
from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient

from mailflow import clock
from mailflow.jobs.broker import DRAMATIQ
from mailflow.outbound.outbox import deliver
from mailflow.web.app import create_app
from support.factories import queue_offer
from support.servers.process import MailflowProcess, start_worker, stop_embedded_redis
from support.waiting import free_port, wait_for


def test_metrics_show_outbox_inbound_and_send_latency(settings, installer):
    outbox_id = queue_offer(settings, installer)
    queue_offer(settings, installer)
    deliver(outbox_id, settings=settings, now=clock.now())
    with TestClient(create_app()) as client:
        text = client.get("/metrics").text
    assert 'mailflow_outbox_messages{state="sent"} 1.0' in text
    assert 'mailflow_outbox_messages{state="queued"} 1.0' in text
    assert 'mailflow_leads{status="duplicate"} 1.0' in text  # the same customer twice
    assert "mailflow_outbound_send_seconds_count" in text
    assert 'mailflow_outbound_send_total{result="sent"}' in text


def test_dramatiq_middleware_counts_jobs(settings):
    broker = StubBroker()
    broker.add_middleware(DRAMATIQ.middleware())
    broker.emit_after("process_boot")

    @dramatiq.actor(broker=broker, queue_name="metrics-test", max_retries=0)
    def sometimes_fails(fail: bool) -> None:
        if fail:
            raise ValueError("boom")

    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        sometimes_fails.send(False)
        sometimes_fails.send(True)
        broker.join("metrics-test", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    with TestClient(create_app()) as client:
        text = client.get("/metrics").text
    labels = 'actor="sometimes_fails",queue="metrics-test"'
    assert f"mailflow_dramatiq_messages_total{{{labels}}} 2.0" in text
    assert f"mailflow_dramatiq_message_errors_total{{{labels}}} 1.0" in text
    assert f"mailflow_dramatiq_messages_in_progress{{{labels}}} 0.0" in text


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def sample(text: str, name: str) -> float:
    """The value of one series (summed over its labels) in a Prometheus text page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_smtp_worker_and_scheduler_processes_serve_their_own_metrics(settings, database_url):
    """At scale the jobs run in `mailflow worker`, the intake in `mailflow smtp` and the sweep in
    `mailflow scheduler`: each serves what it observed on MAILFLOW_METRICS_LISTEN."""

    data_dir = settings.data_path  # one data directory: the processes share its embedded Redis
    ports = {name: free_port() for name in ("smtp", "worker", "scheduler")}

    def env(name: str) -> dict[str, str]:
        return {"MAILFLOW_METRICS_LISTEN": f"127.0.0.1:{ports[name]}"}

    smtp = MailflowProcess(data_dir, database_url, command="smtp", extra_env=env("smtp"))
    scheduler = MailflowProcess(
        data_dir, database_url, command="scheduler", extra_env=env("scheduler")
    )
    worker = None
    try:
        smtp.start()
        worker = start_worker(data_dir, database_url, env("worker"))
        scheduler.start(wait=False)
        raw = (
            b"From: form@site.example\r\nTo: leads@localhost\r\nMessage-ID: <metrics-1@x>\r\n"
            b"Subject: Lead\r\n\r\nName: Anna Nowak\r\nEmail: anna@example.pl\r\n"
            b"Phone: +48 22 123 45 67\r\nPostcode: 00-001\r\nCountry: PL\r\nProduct: pv\r\n"
        )
        for _ in range(2):  # the second is the same message again
            with smtplib.SMTP("127.0.0.1", smtp.smtp_port, timeout=30) as client:
                client.sendmail("form@site.example", ["leads@localhost"], raw)

        smtp_page = scrape(ports["smtp"])
        assert 'mailflow_smtp_messages_total{result="stored"} 1.0' in smtp_page
        assert 'mailflow_smtp_messages_total{result="duplicate"} 1.0' in smtp_page
        # Both answers came after the store: its time is observed (no log line per message).
        assert "mailflow_smtp_store_seconds_count 2.0" in smtp_page
        assert sample(smtp_page, "process_resident_memory_bytes") > 10_000_000

        def worker_processed():
            page = scrape(ports["worker"])
            done = 'mailflow_dramatiq_messages_total{actor="process_inbound",queue="inbound"}'
            return page if done in page else None

        worker_page = wait_for(worker_processed, timeout=30)
        assert sample(worker_page, "process_cpu_seconds_total") > 0
        scheduler_page = wait_for(
            lambda: (
                (page := scrape(ports["scheduler"]))
                and sample(page, "mailflow_sweep_seconds_count") >= 1
                and page
            ),
            timeout=30,
        )
        # Database-wide series are the web process's alone: summed over every process's
        # endpoint they would be counted once per process.
        for page in (smtp_page, worker_page, scheduler_page):
            assert "mailflow_outbox_messages" not in page
            assert "mailflow_leads{" not in page
        for process in (smtp, worker, scheduler):
            assert process.stop() == 0, process.output()
    finally:
        for process in (smtp, worker, scheduler):
            if process is not None:
                process.stop()
        stop_embedded_redis(data_dir)
