"""Prometheus metrics at /metrics."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient
from test_outbound import installer, queue_offer  # noqa: F401  (fixture)

from mailflow import clock
from mailflow.metrics import DRAMATIQ
from mailflow.outbound.outbox import deliver
from mailflow.web.app import create_app


def test_metrics_show_outbox_inbound_and_send_latency(settings, installer):  # noqa: F811
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
