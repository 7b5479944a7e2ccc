"""Prometheus metrics at ``/metrics``: outbox by state and inbound by outcome (read from the
database at scrape time, so every process reports the same truth), send latency and results
(observed by the process that sends)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

REGISTRY = CollectorRegistry()

SEND_SECONDS = Histogram(
    "mailflow_outbound_send_seconds",
    "Time to hand one message to the transport",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SEND_RESULTS = Counter(
    "mailflow_outbound_send_total", "Send attempts by result", ["result"], registry=REGISTRY
)


def observe_send(seconds: float, error: Exception | None) -> None:
    SEND_SECONDS.observe(seconds)
    if error is None:
        SEND_RESULTS.labels("sent").inc()
    else:
        from mailflow.outbound.transports import PermanentFailure

        SEND_RESULTS.labels(
            "permanent" if isinstance(error, PermanentFailure) else "temporary"
        ).inc()


class DatabaseCollector:
    def collect(self):
        from mailflow.db import session_scope
        from mailflow.models import InboundMessage, Lead, OutboxMessage

        outbox = GaugeMetricFamily(
            "mailflow_outbox_messages", "Outbox messages by state", labels=["state"]
        )
        inbound = GaugeMetricFamily(
            "mailflow_inbound_messages", "Inbound messages by outcome", labels=["outcome"]
        )
        leads = GaugeMetricFamily("mailflow_leads", "Leads by status", labels=["status"])
        with session_scope() as session:
            for state, count in session.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            ):
                outbox.add_metric([state.value], count)
            for outcome, count in session.execute(
                select(InboundMessage.outcome, func.count()).group_by(InboundMessage.outcome)
            ):
                inbound.add_metric([outcome.value], count)
            for status, count in session.execute(
                select(Lead.status, func.count()).group_by(Lead.status)
            ):
                leads.add_metric([status.value], count)
        yield outbox
        yield inbound
        yield leads


REGISTRY.register(DatabaseCollector())


def render() -> bytes:
    return generate_latest(REGISTRY)
