"""The SMTP frontend sends the messages of one group commit to the broker a few per job
(``process_inbound_batch``), not one job per email (#21): fewer broker round trips, and nothing
lost or held up when one message of a batch fails."""

from __future__ import annotations

import dramatiq
import psycopg
import pytest
from dramatiq import Message
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from mailflow.db import session_scope
from mailflow.infra.intake_store import (
    INBOUND_JOB_BATCH,
    Incoming,
    enqueue_processing,
    store_many,
)
from mailflow.intake import process
from mailflow.jobs import actors
from mailflow.models import Channel, InboundMessage, InboundOutcome, Lead
from support.mail import simple_lead


def _leads(count: int, first: int = 0) -> list[Incoming]:
    return [
        Incoming(
            simple_lead(
                message_id=f"<batch-{n}@site.example>",
                name=f"Anna Weber {n}",
                email=f"anna.weber.{n}@example.de",
            ).replace(b"030 1234567", f"030 {5550000 + n}".encode()),  # not a duplicate
            Channel.SMTP,
            envelope_from="form@site.example",
            envelope_to=["leads@localhost"],
        )
        for n in range(first, first + count)
    ]


def _queued(broker) -> list[tuple[str, tuple]]:
    found = []
    pending = broker.queues["inbound"]
    while not pending.empty():
        message = Message.decode(pending.get_nowait())
        found.append((message.actor_name, tuple(message.args)))
    return found


def _outcomes(settings) -> dict[int, InboundOutcome]:
    with session_scope(settings) as s:
        return dict(s.execute(select(InboundMessage.id, InboundMessage.outcome)).all())


def test_a_group_commit_is_enqueued_a_few_messages_per_job(settings, broker):
    stored = store_many(_leads(2 * INBOUND_JOB_BATCH + 3), settings, enqueue=False)
    # The same message again (an MTA retrying): known, not processed twice.
    again = store_many(_leads(1), settings, enqueue=False)
    assert not again[0].created
    enqueue_processing(stored + again)
    ids = [s.id for s in stored]
    assert _queued(broker) == [
        ("process_inbound_batch", (ids[:INBOUND_JOB_BATCH],)),
        ("process_inbound_batch", (ids[INBOUND_JOB_BATCH : 2 * INBOUND_JOB_BATCH],)),
        ("process_inbound_batch", (ids[2 * INBOUND_JOB_BATCH :],)),
    ]
    # A lone message keeps its own job.
    (single,) = store_many(_leads(1, first=100), settings, enqueue=False)
    enqueue_processing([single])
    assert _queued(broker) == [("process_inbound", (single.id,))]


def test_a_batch_job_processes_every_message(settings, broker):
    stored = store_many(_leads(4), settings, enqueue=False)
    actors.process_inbound_batch([s.id for s in stored])
    assert set(_outcomes(settings).values()) == {InboundOutcome.LEAD}
    with session_scope(settings) as s:
        assert s.scalar(select(Lead.id).where(Lead.email == "anna.weber.3@example.de"))
    # At least once: the same job again changes nothing.
    actors.process_inbound_batch([s.id for s in stored])
    with session_scope(settings) as s:
        assert len(s.scalars(select(Lead.id)).all()) == 4


def test_one_failing_message_goes_back_alone_and_the_others_are_processed(
    settings, broker, monkeypatch
):
    stored = store_many(_leads(3), settings, enqueue=False)
    failing = stored[1].id
    real = process.process_one

    def process_one(inbound_id, **kwargs):
        if inbound_id == failing:
            raise ValueError("a bug met by this one message")
        return real(inbound_id, **kwargs)

    monkeypatch.setattr(actors, "process_one", process_one)
    actors.process_inbound_batch([s.id for s in stored])
    outcomes = _outcomes(settings)
    assert outcomes[stored[0].id] == outcomes[stored[2].id] == InboundOutcome.LEAD
    assert outcomes[failing] == InboundOutcome.PENDING
    assert ("process_inbound", (failing,)) in _queued(broker)


def test_a_database_outage_retries_the_whole_batch(settings, broker, monkeypatch):
    stored = store_many(_leads(2), settings, enqueue=False)

    def unavailable(inbound_id, **kwargs):
        raise OperationalError(
            "SELECT 1", {}, psycopg.OperationalError("connection failed: Connection refused")
        )

    monkeypatch.setattr(actors, "process_one", unavailable)
    with pytest.raises(dramatiq.Retry):
        actors.process_inbound_batch([s.id for s in stored])
    assert _queued(broker) == []
    assert set(_outcomes(settings).values()) == {InboundOutcome.PENDING}
