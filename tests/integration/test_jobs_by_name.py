"""Jobs are enqueued by name (``mailflow.infra.enqueue``): after commit, never after a rollback,
as Dramatiq messages of the same actor name and queue as before, so messages already in Redis
stay valid."""

from __future__ import annotations

import logging

import pytest
from dramatiq import Message

from mailflow.db import session_scope
from mailflow.infra import enqueue
from mailflow.infra.enqueue import JOBS, enqueue_on_commit, queue_stats, send_now
from mailflow.jobs.actors import ACTORS

# The names in Redis today: renaming one strands the messages queued under the old name.
NAMES_IN_REDIS = {
    "process_inbound": "inbound",
    # new: the SMTP frontend's messages of one group commit, a few per job (#21)
    "process_inbound_batch": "inbound",
    "route_lead_job": "routing",
    "offer_waiting_job": "routing",  # new: waiting leads are offered when a slot frees (#17)
    "send_email": "outbound",
    "send_signin_link": "outbound",
    "run_import": "data",  # new: an admin's import as a background job (#19)
}


def _messages(broker, queue: str) -> list[Message]:
    found = []
    pending = broker.queues[queue]
    while not pending.empty():
        found.append(Message.decode(pending.get_nowait()))
    return found


def test_every_job_keeps_its_name_queue_and_actor(broker):
    assert JOBS == NAMES_IN_REDIS
    assert ACTORS.keys() == JOBS.keys()
    for name, queue in JOBS.items():
        actor = broker.get_actor(name)
        assert (actor.actor_name, actor.queue_name) == (name, queue)
    assert broker.get_actor("send_email").options["max_retries"] == 3
    assert broker.get_actor("send_email").options["time_limit"] == 120_000
    assert broker.get_actor("process_inbound").options["max_backoff"] == 60_000


def test_a_job_is_sent_after_commit_by_name(settings, broker):
    with session_scope(settings) as session:
        for name in JOBS:
            enqueue_on_commit(session, name, 7)
        assert all(broker.queues[queue].empty() for queue in set(JOBS.values()))
    sent = {
        (m.actor_name, m.queue_name, tuple(m.args))
        for queue in set(JOBS.values())
        for m in _messages(broker, queue)
    }
    assert sent == {(name, queue, (7,)) for name, queue in JOBS.items()}


def test_a_rollback_forgets_the_job(settings, broker):
    with pytest.raises(RuntimeError), session_scope(settings) as session:
        enqueue_on_commit(session, "route_lead_job", 7)
        raise RuntimeError("the transaction fails")
    with session_scope(settings):
        pass  # a later commit on a fresh session sends nothing left over
    assert broker.queues["routing"].empty()


def test_an_unknown_job_fails_in_the_transaction(settings, broker):
    with pytest.raises(KeyError, match="send_mail"), session_scope(settings) as session:
        enqueue_on_commit(session, "send_mail", 7)
    with pytest.raises(KeyError):
        send_now("send_mail", 7)


def test_send_now_with_a_delay_goes_to_the_delay_queue(broker):
    send_now("send_email", 3, delay_ms=60_000)
    assert broker.queues["outbound"].empty()
    (message,) = _messages(broker, "outbound.DQ")
    assert (message.actor_name, tuple(message.args)) == ("send_email", (3,))
    assert message.options["eta"] > 0


def test_without_a_broker_the_commit_stands_and_the_sweep_is_left_to_act(
    settings, broker, monkeypatch, caplog
):
    monkeypatch.setattr(enqueue, "_dispatcher", None)
    caplog.set_level(logging.WARNING)
    with session_scope(settings) as session:
        enqueue_on_commit(session, "send_email", 9)
    assert any("the sweep will pick it up" in r.getMessage() for r in caplog.records)
    with pytest.raises(enqueue.JobsNotSetUp):
        send_now("send_email", 9)


def test_queue_stats_name_every_queue_before_its_first_job(broker):
    assert {row["queue"] for row in queue_stats()} == set(JOBS.values())
    send_now("process_inbound", 1)
    by_queue = {row["queue"]: row for row in queue_stats()}
    assert by_queue["inbound"]["ready"] == 1
