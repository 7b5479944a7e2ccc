"""While the database cannot be reached: clear answers (503 + Retry-After, SMTP 451), retried
jobs, one log line per failure instead of a traceback, and nothing changed."""

from __future__ import annotations

import logging
import sqlite3

import dramatiq
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import OperationalError

from mailflow import config as mf_config
from mailflow import db as mf_db
from mailflow.db import is_database_unavailable, session_scope
from mailflow.jobs import actors
from mailflow.links import tokens
from mailflow.models import LeadStatus, OfferStatus
from mailflow.schedule import run_sweep
from mailflow.web.app import create_app
from support.database import use_postgres
from support.mail import signed_headers
from support.offers import (
    csrf_of,
    emails_to,
    lead,
    links_in,
    load_installers,
    new_lead,
    wait_for_offer,
)
from support.paths import CORPUS
from support.people import GOLD_PARIS
from support.waiting import free_port


def wrapped(orig: Exception, cls=sa_exc.OperationalError) -> Exception:
    return cls("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    "error, unavailable",
    [
        (wrapped(psycopg.OperationalError("connection failed: Connection refused")), True),
        (wrapped(psycopg.errors.AdminShutdown("terminating connection")), True),
        (wrapped(psycopg.errors.DeadlockDetected("deadlock detected")), True),
        (wrapped(sqlite3.OperationalError("database is locked")), True),
        (wrapped(sqlite3.OperationalError("unable to open database file")), True),
        (sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"), True),
        (wrapped(sqlite3.OperationalError("no such table: leads")), False),
        (wrapped(psycopg.errors.UniqueViolation("duplicate key"), sa_exc.IntegrityError), False),
        (wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), sa_exc.IntegrityError), False),
        (ValueError("not a database error"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_outages_are_told_apart_from_bugs(error, unavailable):
    assert is_database_unavailable(error) is unavailable


@pytest.fixture
def database_down(settings, tmp_path, monkeypatch):
    """Switch the process to a database that refuses connections; the yielded function brings
    the real one back."""
    if use_postgres():
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailflow"
    else:
        url = f"sqlite:///{tmp_path / 'unmounted' / 'mailflow.db'}"

    def switch(to: str) -> None:
        monkeypatch.setenv("MAILFLOW_DATABASE_URL", to)
        mf_config.reset_settings()
        mf_db.dispose_engines()

    switch(url)
    yield lambda: switch(settings.database_url)


def no_tracebacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_web_answers_503_during_an_outage_and_the_link_works_after(
    settings, worker, caplog, request
):

    load_installers(settings)
    lead_id = new_lead(settings)
    wait_for_offer(settings, lead_id)
    worker.stop()  # nothing runs behind the test's back while the database is away
    accept = links_in(emails_to(settings, GOLD_PARIS, "offer")[0])["accept"]
    client = TestClient(create_app())
    page = client.get(accept)
    csrf = csrf_of(page.text)

    restore = request.getfixturevalue("database_down")
    caplog.set_level(logging.WARNING)
    html = {"Accept": "text/html", "Accept-Language": "fr-FR,fr;q=0.9"}
    refused = client.post(accept, data={"csrf_token": csrf}, headers=html)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    assert "Temporairement indisponible" in refused.text
    assert "Claire" not in refused.text
    shown = client.get(accept, headers=html)
    assert shown.status_code == 503 and "<h1>" in shown.text

    body = sorted((CORPUS / "webhook").glob("valid_*.json"))[0].read_bytes()
    webhook = client.post(
        "/api/leads", content=body, headers=signed_headers("test-webhook-secret", body)
    )
    assert webhook.status_code == 503 and webhook.headers["Retry-After"] == "30"
    assert "retry later" in webhook.json()["detail"]
    api = client.get("/api/leads", headers={"Authorization": "Bearer test-api-token"})
    assert api.status_code == 503
    assert client.get("/healthz").status_code == 503

    assert no_tracebacks(caplog) == []
    assert any("database unavailable, answered 503" in r.getMessage() for r in caplog.records)

    restore()
    row = lead(settings, lead_id)
    assert row.status == LeadStatus.OFFERED  # the refused click changed nothing
    assert [o.status for o in wait_for_offer(settings, lead_id)] == [OfferStatus.OFFERED]
    done = client.post(accept, data={"csrf_token": csrf})
    assert done.status_code == 200 and "Claire Dubois" in done.text
    assert lead(settings, lead_id).status == LeadStatus.ACCEPTED


def test_jobs_are_retried_without_a_traceback(settings, broker, caplog, request):
    request.getfixturevalue("database_down")
    caplog.set_level(logging.WARNING)
    for job in ("process_inbound", "route_lead_job", "send_email"):
        with pytest.raises(dramatiq.Retry):
            broker.get_actor(job).fn(1)  # the actor as declared on the broker
    assert no_tracebacks(caplog) == []
    warnings = [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(warnings) == 3, warnings


def test_a_real_bug_in_a_job_keeps_its_traceback(settings, broker, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(actors, "process_one", broken)
    with pytest.raises(KeyError):
        broker.get_actor("process_inbound").fn(1)


def test_the_sweep_logs_one_line_per_job_during_an_outage(settings, caplog, request):
    request.getfixturevalue("database_down")
    caplog.set_level(logging.WARNING)
    results = run_sweep(mf_config.get_settings())
    assert results and set(results.values()) == {-1}
    assert no_tracebacks(caplog) == []
    assert sum("database unavailable" in r.getMessage() for r in caplog.records) == len(results)


def test_explaining_a_link_lets_an_outage_through(settings, request):
    """Pages that explain a used or expired link look its nonce up; during an outage that
    lookup must fail loudly (a 503), not pass for "unknown link" and leave a session that
    cannot commit."""

    token = tokens.serializer(settings, "accept").dumps({"n": "a-nonce"})
    request.getfixturevalue("database_down")
    down = mf_config.get_settings()
    with pytest.raises(OperationalError) as raised:
        with session_scope(down) as session:
            tokens.nonce_row(session, down, "accept", token)
    assert is_database_unavailable(raised.value)
    with session_scope(down) as session:  # not a token of ours: no query at all
        assert tokens.nonce_row(session, down, "accept", "garbage.token") is None
