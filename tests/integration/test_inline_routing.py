"""The inbound job routes the lead it creates in the same transaction (#21): one job from the
stored message to the queued offer, no routing job after it. Should routing fail, the lead is
still committed and its routing job queued; a second run of the job makes no second offer;
the web process's creators (the webhook) keep the routing job."""

from __future__ import annotations

import contextvars
import logging
from datetime import timedelta

import pytest
from dramatiq import Message
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from mailflow import clock
from mailflow import config as mf_config
from mailflow import db as mf_db
from mailflow.db import session_scope
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import process_one
from mailflow.leads import created
from mailflow.models import (
    Actor,
    Channel,
    InboundMessage,
    InboundOutcome,
    Lead,
    LeadEvent,
    LeadStatus,
    LinkNonce,
    Offer,
    OfferStatus,
    OutboxMessage,
    RoutingDecision,
    appends,
)
from mailflow.web.app import create_app
from support.database import use_postgres
from support.factories import make_lead
from support.mail import signed_headers
from support.web import WEBHOOK_SECRET


def lead_email(n: int = 1, email: str = "camille.roche@example.fr") -> bytes:
    return (
        "From: Formulaire <formulaire@isolation-solaire.example>\r\n"
        "To: leads@localhost\r\n"
        "Subject: Nouvelle demande\r\n"
        f"Message-ID: <inline-{n}@isolation-solaire.example>\r\n"
        "\r\n"
        "Nom : Camille Roche\r\n"
        f"Courriel : {email}\r\n"
        "Téléphone : 06 12 34 56 78\r\n"
        "Code postal : 75010\r\n"
        "Ville : Paris\r\n"
    ).encode()


def store(settings, raw: bytes) -> int:
    return store_inbound(raw, Channel.SMTP, settings=settings, envelope_to=["leads@localhost"]).id


def run_inbound_job(broker, inbound_id: int) -> None:
    """The actor's own function, as the worker runs it."""
    broker.get_actor("process_inbound").fn(inbound_id)


def queued(broker, queue: str) -> list[tuple[str, tuple]]:
    return [
        (m.actor_name, tuple(m.args)) for m in map(Message.decode, list(broker.queues[queue].queue))
    ]


def record_statements(settings) -> list[str]:
    """The SQL of every statement run from now on, in order."""
    statements: list[str] = []
    event.listen(
        mf_db.get_engine(settings),
        "before_cursor_execute",
        lambda _conn, _cursor, sql, *_: statements.append(sql),
    )
    return statements


def state(settings) -> dict:
    with session_scope(settings) as s:
        lead = s.scalars(select(Lead)).one()
        offers = list(s.scalars(select(Offer).where(Offer.lead_id == lead.id)))
        return {
            "lead": (lead.id, lead.status, lead.created_at),
            "offers": [(o.id, o.installer_id, o.status, o.offered_at) for o in offers],
            "offer_emails": list(
                s.scalars(select(OutboxMessage.id).where(OutboxMessage.template == "offer"))
            ),
            "decisions": s.scalar(select(func.count()).select_from(RoutingDecision)),
            "inbound": [
                (r.outcome, r.lead_id, r.attempts) for r in s.scalars(select(InboundMessage))
            ],
        }


def test_the_inbound_job_offers_its_new_lead_in_the_same_transaction(settings, broker, installer):
    inbound_id = store(settings, lead_email())
    broker.flush_all()  # the store's own process_inbound message: run by hand below
    run_inbound_job(broker, inbound_id)
    got = state(settings)
    lead_id, status, created_at = got["lead"]
    assert status == LeadStatus.OFFERED
    ((offer_id, to, offer_status, offered_at),) = got["offers"]
    assert (to, offer_status) == (installer, OfferStatus.OFFERED)
    assert offered_at == created_at  # one job, one instant: the lead and its offer together
    assert len(got["offer_emails"]) == 1 and got["decisions"] == 1
    assert got["inbound"] == [(InboundOutcome.LEAD, lead_id, 1)]
    # No routing job follows; the offer email's send is queued after the commit.
    assert queued(broker, "routing") == []
    assert queued(broker, "outbound") == [("send_email", (got["offer_emails"][0],))]

    # At least once: the job delivered again (or the sweep's catch-up) finds the row processed.
    broker.flush_all()
    assert process_one(inbound_id, now=clock.now(), settings=settings) is None
    run_inbound_job(broker, inbound_id)
    assert state(settings) == got
    assert all(broker.queues[q].empty() for q in ("routing", "outbound"))


def test_a_duplicate_is_not_routed_and_queues_nothing(settings, broker, installer):
    first = store(settings, lead_email(1))
    run_inbound_job(broker, first)
    again = store(settings, lead_email(2))  # the same customer, another message
    broker.flush_all()
    run_inbound_job(broker, again)
    with session_scope(settings) as s:
        duplicate = s.scalars(select(Lead).where(Lead.status == LeadStatus.DUPLICATE)).one()
        assert s.scalar(select(func.count()).where(Offer.lead_id == duplicate.id)) == 0
    assert queued(broker, "routing") == [] and queued(broker, "outbound") == []


@pytest.mark.parametrize("failure", ["bug", "aborted transaction"])
def test_when_routing_fails_the_lead_is_committed_and_its_routing_job_queued(
    settings, broker, installer, monkeypatch, caplog, failure
):
    def failing(uow, lead):
        if failure == "bug":
            raise RuntimeError("routing bug")
        # A database error inside routing (a lock timeout is one): on PostgreSQL the whole
        # transaction is aborted from there on, nothing more can be written in it.
        uow.session.execute(text("SELECT no_such_column FROM leads"))

    monkeypatch.setattr(created, "next_offer", failing)
    inbound_id = store(settings, lead_email())
    broker.flush_all()
    with caplog.at_level(logging.ERROR, logger="mailflow.intake.process"):
        assert process_one(inbound_id, now=clock.now(), settings=settings) == InboundOutcome.LEAD
    assert "the routing left to route_lead_job" in caplog.text
    got = state(settings)
    lead_id, status, _ = got["lead"]
    assert status == LeadStatus.NEW and got["offers"] == [] and got["offer_emails"] == []
    assert got["inbound"] == [(InboundOutcome.LEAD, lead_id, 1)]  # processed once, committed
    assert queued(broker, "routing") == [("route_lead_job", (lead_id,))]

    # The routing job (the path every lead took before) offers it.
    monkeypatch.undo()
    broker.flush_all()
    broker.get_actor("route_lead_job").fn(lead_id)
    got = state(settings)
    assert got["lead"][1] == LeadStatus.OFFERED
    assert [(to, st) for _, to, st, _ in got["offers"]] == [(installer, OfferStatus.OFFERED)]
    assert len(got["offer_emails"]) == 1


def test_a_message_that_is_no_lead_fails_as_before(settings, broker, monkeypatch):
    """Only a lead's processing is tried again without routing; any other failure is the
    job's to retry."""
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("bounce bug")

    monkeypatch.setattr("mailflow.intake.process.record_auto_reply", failing)
    inbound_id = store(
        settings,
        b"From: Robot <robot@example.fr>\r\nTo: leads@localhost\r\nSubject: Out of office\r\n"
        b"Auto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@example.fr>\r\n\r\nAway.\r\n",
    )
    with pytest.raises(RuntimeError, match="bounce bug"):
        process_one(inbound_id, now=clock.now(), settings=settings)
    assert len(calls) == 1
    with session_scope(settings) as s:
        assert s.get(InboundMessage, inbound_id).outcome == InboundOutcome.PENDING


def test_the_webhook_answers_without_routing_and_leaves_it_to_the_job(settings, broker, installer):
    body = (
        b'{"product": "pv", "customer": {"name": "Claire Dubois", "email": "claire@example.fr",'
        b' "phone": "+33 1 40 34 70 00", "postcode": "75010", "city": "Paris"}}'
    )
    with TestClient(create_app()) as client:
        response = client.post(
            "/api/leads", content=body, headers=signed_headers(WEBHOOK_SECRET, body)
        )
    assert response.status_code == 201, response.text
    lead_id = response.json()["id"]
    assert queued(broker, "routing") == [("route_lead_job", (lead_id,))]
    with session_scope(settings) as s:
        assert s.get(Lead, lead_id).status == LeadStatus.NEW
        assert s.scalar(select(func.count()).select_from(Offer)) == 0


def test_stored_message_to_queued_offer_in_one_job_without_locking_the_lead(
    settings, broker, installer, monkeypatch
):
    """What bench/latency.py counts per lead: the inbound job's round trips, now all of them
    (before #21's single job: 16 in the inbound job plus 21 in the routing job for this lead on
    PostgreSQL; now 32)."""
    monkeypatch.setenv("MAILFLOW_COUNT_STATEMENTS", "1")
    mf_db.dispose_engines()
    mf_config.reset_settings()
    settings = mf_config.get_settings()
    inbound_id = store(settings, lead_email())
    broker.flush_all()
    statements = record_statements(settings)

    def job() -> None:
        mf_db.statement_label.set("process_inbound")
        run_inbound_job(broker, inbound_id)

    before = mf_db.statement_counts()
    contextvars.copy_context().run(job)
    counts = {
        kind: n - before.get((label, kind), 0)
        for (label, kind), n in mf_db.statement_counts().items()
        if label == "process_inbound"
    }
    assert state(settings)["lead"][1] == LeadStatus.OFFERED
    # PostgreSQL: one transaction (the message is read with its lock, parsed, its lead created
    # and routed); SQLite: two on one connection, the read before parsing, then the rest.
    assert (counts["checkout"], counts["commit"]) == (1, 1 if use_postgres() else 2)
    # The lead was created in this transaction: neither read again nor locked.
    assert not [s for s in statements if "FROM leads" in s and "FOR UPDATE" in s]
    assert sum(counts.values()) <= (24 if use_postgres() else 34)


def test_the_inbound_job_writes_its_write_only_rows_one_insert_per_table(
    settings, broker, installer
):
    """PostgreSQL: the job's timeline events, routing decision and link nonces are written by
    Core after the ORM's last flush (models.appends), in one statement; the lead's two events
    (intake, offered) in one VALUES list. SQLite: added to the session as before."""
    inbound_id = store(settings, lead_email())
    broker.flush_all()
    recorded = record_statements(settings)
    run_inbound_job(broker, inbound_id)
    statements = list(recorded)  # the job's
    got = state(settings)
    lead_id, status, created_at = got["lead"]
    ((offer_id, to, _, _),) = got["offers"]
    with session_scope(settings) as s:
        events = s.execute(
            select(LeadEvent.type, LeadEvent.at, LeadEvent.actor, LeadEvent.data)
            .where(LeadEvent.lead_id == lead_id)
            .order_by(LeadEvent.id)
        ).all()
        decision = s.scalars(select(RoutingDecision)).one()
        nonces = s.execute(select(LinkNonce.purpose, LinkNonce.lead_id, LinkNonce.installer_id))
        nonces = nonces.all()
    assert status == LeadStatus.OFFERED
    assert [(t, at, actor) for t, at, actor, _ in events] == [
        ("intake", created_at, Actor.SYSTEM),
        ("offered", created_at, Actor.SYSTEM),
    ]
    assert events[0].data["inbound_id"] == inbound_id
    assert (decision.lead_id, decision.offer_id, decision.installer_id) == (lead_id, offer_id, to)
    assert decision.candidates and decision.at == created_at
    assert {(purpose, lead, who) for purpose, lead, who in nonces} >= {
        ("accept", lead_id, installer),
        ("decline", lead_id, installer),
    }
    written = ("lead_events", "routing_decisions", "link_nonces")
    if use_postgres():
        # All three tables in one statement (data-modifying CTEs), after the ORM's writes.
        (last,) = [sql for sql in statements if "INSERT INTO lead_events" in sql]
        assert statements[-1] == last and last.startswith("WITH ")
        assert [last.count(f"INSERT INTO {table} ") for table in written] == [1, 1, 1]
        assert "VALUES (%(p0_0_0)s" in last and "), (%(p0_0_1)s" in last  # two events
    else:
        inserts = [sql.split("(")[0].strip() for sql in statements if sql.startswith("INSERT")]
        per_table = {table: inserts.count(f"INSERT INTO {table}") for table in written}
        assert per_table == {"lead_events": 2, "routing_decisions": 1, "link_nonces": 1}


def _new_lead_id(settings) -> int:
    with session_scope(settings) as s:
        return make_lead(s).id


def test_deferred_rows_are_written_at_commit_and_dropped_with_a_rollback(settings):
    from_, lead_id = clock.now(), _new_lead_id(settings)
    with session_scope(settings) as s:
        appends.defer(s)
        for n in range(3):
            values = {"lead_id": lead_id, "type": f"t{n}", "at": from_, "actor": Actor.SYSTEM}
            appends.add(s, LeadEvent, {**values, "data": {"n": n}})
        # not written yet: nothing reads them back in their transaction
        assert s.scalar(select(func.count()).where(LeadEvent.type.like("t%"))) == 0
    with pytest.raises(RuntimeError), session_scope(settings) as s:
        appends.defer(s)
        values = {"lead_id": lead_id, "type": "lost", "at": from_, "actor": Actor.SYSTEM}
        appends.add(s, LeadEvent, {**values, "data": {}})
        raise RuntimeError("rolled back")
    with session_scope(settings) as s:
        appends.defer(s)
        appends.add(s, LeadEvent, {**values, "data": {}})
        s.rollback()  # drops the deferred rows and ends the deferral in this session
        appends.add(s, LeadEvent, {**values, "type": "after", "data": {}})
        assert [e.type for e in s.new] == ["after"]  # an ORM object, as without deferral
        s.expunge_all()
    with session_scope(settings) as s:
        rows = s.execute(
            select(LeadEvent.type, LeadEvent.data)
            .where(LeadEvent.lead_id == lead_id, LeadEvent.type != "intake")
            .order_by(LeadEvent.id)
        ).all()
    assert [(t, d) for t, d in rows] == [("t0", {"n": 0}), ("t1", {"n": 1}), ("t2", {"n": 2})]


def test_deferred_rows_of_several_tables_get_the_defaults_of_the_columns_they_leave_out(settings):
    """The columns a deferred row leaves out get their Python-side defaults, as an ORM or Core
    INSERT gives them (on PostgreSQL the rows of all tables go in one statement)."""
    before, lead_id = clock.now(), _new_lead_id(settings)
    with session_scope(settings) as s:
        appends.defer(s)
        for n in range(2):
            appends.add(s, LeadEvent, {"lead_id": lead_id, "type": f"bare{n}"})
            nonce = {"nonce": f"bare-nonce-{lead_id}-{n}", "purpose": "test"}
            appends.add(s, LinkNonce, {**nonce, "expires_at": before + timedelta(days=1)})
    with session_scope(settings) as s:
        events = s.execute(
            select(LeadEvent.type, LeadEvent.at, LeadEvent.actor, LeadEvent.data)
            .where(LeadEvent.lead_id == lead_id, LeadEvent.type.like("bare%"))
            .order_by(LeadEvent.id)
        ).all()
        nonces = s.execute(
            select(LinkNonce.nonce, LinkNonce.created_at)
            .where(LinkNonce.nonce.like(f"bare-nonce-{lead_id}-%"))
            .order_by(LinkNonce.nonce)
        ).all()
    assert [(t, actor, data) for t, _, actor, data in events] == [
        ("bare0", Actor.SYSTEM, {}),
        ("bare1", Actor.SYSTEM, {}),
    ]
    assert all(clock.as_utc(at) >= before - timedelta(seconds=1) for _, at, _, _ in events)
    assert [n for n, _ in nonces] == [f"bare-nonce-{lead_id}-0", f"bare-nonce-{lead_id}-1"]
    assert all(created is not None for _, created in nonces)
