"""MAILFLOW_COUNT_STATEMENTS: database round trips counted by the job that made them (what
bench/latency.py prints per lead), served on the process's metrics."""

from __future__ import annotations

import contextvars
import uuid

import dramatiq
from prometheus_client import generate_latest
from sqlalchemy import select, text

from mailflow import config as mf_config
from mailflow import db as mf_db
from mailflow.jobs.broker import DRAMATIQ
from mailflow.metrics import OBSERVED
from mailflow.models import Lead


def _counting(settings, monkeypatch):
    monkeypatch.setenv("MAILFLOW_COUNT_STATEMENTS", "1")
    mf_db.dispose_engines()
    mf_config.reset_settings()
    return mf_config.get_settings()


def _three_statements_in_one_transaction(settings, label: str) -> None:
    mf_db.statement_label.set(label)
    with mf_db.session_scope(settings) as session:
        session.execute(text("SELECT 1"))
        session.execute(select(Lead.id).limit(1))
        session.execute(select(Lead.id).where(Lead.id == -1))


def test_round_trips_are_counted_by_label_and_served(settings, monkeypatch):
    settings = _counting(settings, monkeypatch)
    label = f"job-{uuid.uuid4().hex[:8]}"
    before = mf_db.statement_counts()
    contextvars.copy_context().run(_three_statements_in_one_transaction, settings, label)
    contextvars.copy_context().run(_three_statements_in_one_transaction, settings, label)
    after = mf_db.statement_counts()
    mine = {kind: n for (job, kind), n in after.items() if job == label}
    # SQLite: mailflow emits its own BEGIN IMMEDIATE, one statement more per transaction.
    statements = 6 if mf_db.is_postgres(mf_db.get_engine(settings)) else 8
    assert mine["statement"] == statements
    assert mine["commit"] == 2
    assert mine["checkout"] == 2  # one connection taken from the pool per unit of work
    assert before.get((label, "statement"), 0) == 0
    # Work outside a job is not counted against it.
    assert mf_db.statement_label.get() == "other"
    served = generate_latest(OBSERVED).decode()
    assert (
        f'mailflow_db_round_trips_total{{job="{label}",kind="statement"}} {statements}.0' in served
    )


def test_nothing_counted_when_off(settings):
    label = f"job-{uuid.uuid4().hex[:8]}"
    contextvars.copy_context().run(_three_statements_in_one_transaction, settings, label)
    assert not [key for key in mf_db.statement_counts() if key[0] == label]


def test_the_job_middleware_labels_the_thread_with_the_actor():
    middleware = DRAMATIQ.middleware()
    message = dramatiq.Message(
        queue_name="routing", actor_name="route_lead_job", args=(1,), kwargs={}, options={}
    )

    def run() -> tuple[str, str]:
        middleware.before_process_message(None, message)
        during = mf_db.statement_label.get()
        middleware.after_process_message(None, message)
        return during, mf_db.statement_label.get()

    assert contextvars.copy_context().run(run) == ("route_lead_job", "other")
