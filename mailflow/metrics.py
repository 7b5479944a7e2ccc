"""Prometheus metrics.

Two kinds of series:

- **observed** by the process that does the work (sends, jobs, SMTP answers, sweeps, and the
  process's own CPU and memory), kept in ``OBSERVED`` (the jobs' series are kept by the
  Dramatiq middleware in ``mailflow.jobs.broker``). ``mailflow web`` serves them at
  ``/metrics``; ``mailflow worker|smtp|scheduler|imap`` serve theirs on
  ``MAILFLOW_METRICS_LISTEN`` (scrape every process; at scale the jobs run in the workers);
- **database-wide** (outbox by state, inbound by outcome, leads by status), read at scrape time
  by ``mailflow web`` only, so every web process reports the same truth and nothing is counted
  twice when series are summed.
"""

from __future__ import annotations

import logging

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from mailflow.db import session_scope, statement_counts
from mailflow.models import InboundMessage, Lead, OutboxMessage

log = logging.getLogger(__name__)

OBSERVED = CollectorRegistry()
ProcessCollector(registry=OBSERVED)  # process_resident_memory_bytes, process_cpu_seconds_total


class RoundTripCollector:
    """Database round trips by job and kind (statement, begin, commit, rollback, checkout),
    counted when ``MAILFLOW_COUNT_STATEMENTS`` is on (nothing otherwise)."""

    def collect(self):
        family = CounterMetricFamily(
            "mailflow_db_round_trips",
            "Database round trips by job (MAILFLOW_COUNT_STATEMENTS)",
            labels=["job", "kind"],
        )
        for (job, kind), count in sorted(statement_counts().items()):
            family.add_metric([job, kind], count)
        yield family


OBSERVED.register(RoundTripCollector())

SMTP_ANSWERS = Counter(
    "mailflow_smtp_messages_total",
    "Messages offered to the SMTP intake, by answer",
    ["result"],  # stored, duplicate, temporary_failure
    registry=OBSERVED,
)
SMTP_STORE_SECONDS = Histogram(
    "mailflow_smtp_store_seconds",
    "Time from the end of DATA to the committed row of a stored message (before its 250)",
    registry=OBSERVED,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
SWEEP_SECONDS = Histogram(
    "mailflow_sweep_seconds",
    "Duration of one sweep (all jobs)",
    registry=OBSERVED,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SWEEP_FAILURES = Counter(
    "mailflow_sweep_job_failures_total",
    "Sweep jobs that failed (database unavailable or a bug; retried on the next sweep)",
    ["job"],
    registry=OBSERVED,
)
SWEEP_ACTIONS = Counter(
    "mailflow_sweep_actions_total",
    "Rows acted on by sweep jobs (offers expired, timers run, messages re-enqueued...)",
    ["job"],
    registry=OBSERVED,
)

SEND_SECONDS = Histogram(
    "mailflow_outbound_send_seconds",
    "Time to hand one message to the transport",
    registry=OBSERVED,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SEND_RESULTS = Counter(
    "mailflow_outbound_send_total", "Send attempts by result", ["result"], registry=OBSERVED
)


def observe_send(seconds: float, result: str) -> None:
    """One send attempt: ``result`` is sent, permanent (failure) or temporary (failure)."""
    SEND_SECONDS.observe(seconds)
    counter = _SEND_RESULT_COUNTERS.get(result)
    if counter is None:  # each label's child looked up once (a lookup per email costs more)
        counter = _SEND_RESULT_COUNTERS[result] = SEND_RESULTS.labels(result)
    counter.inc()


_SEND_RESULT_COUNTERS: dict = {}


class DatabaseCollector:
    def collect(self):
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


class _Observed:
    """This process's observed series, inside the web registry."""

    def collect(self):
        yield from OBSERVED.collect()


WEB_REGISTRY = CollectorRegistry()
WEB_REGISTRY.register(_Observed())
WEB_REGISTRY.register(DatabaseCollector())


def render() -> bytes:
    """What ``mailflow web`` serves at ``/metrics``."""
    return generate_latest(WEB_REGISTRY)


def serve_process_metrics(listen: str | None) -> object | None:
    """Serve this process's observed series at ``http://<listen>/metrics`` (a thread), when
    ``MAILFLOW_METRICS_LISTEN`` is set; returns the server (``shutdown()`` it on exit)."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=OBSERVED)
    log.info("metrics at http://%s/metrics", listen)
    return server
