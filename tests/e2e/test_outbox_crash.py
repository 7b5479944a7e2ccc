"""A worker killed mid-send and the broker emptied: the sweep finishes the job, no message is
lost, none is delivered twice — with real processes (``mailflow worker``, ``mailflow sweep``),
the embedded Redis they share, and a relay that holds the first message before answering."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.models import OutboxMessage, OutboxState
from mailflow.outbound.emails import admin_alert_email
from mailflow.outbound.outbox import SENDING_LEASE, queue_email
from support.servers.process import (
    MAILFLOW,
    MailflowProcess,
    embedded_redis,
    start_worker,
    stop_embedded_redis,
)
from support.servers.relay import Received, Relay, RelayHandler
from support.waiting import wait_for

STALL_LIMIT = 25.0  # seconds; below the sender's 30 s SMTP time-out


@dataclass
class StallingHandler(RelayHandler):
    """Holds the first message after its DATA terminator, before answering: the sender is
    mid-send. A message whose connection drops while held is not accepted (an MTA takes
    responsibility only with its 250); later messages are answered at once."""

    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held: list[Received] = field(default_factory=list)
    dropped: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            hold = not self.held
            if hold:
                item = Received(
                    envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                )
                self.held.append(item)
                self.attempts += 1
        if not hold:
            return await super().handle_DATA(server, session, envelope)
        self.stalled.set()
        deadline = time.monotonic() + STALL_LIMIT
        try:
            while not self.release.is_set() and time.monotonic() < deadline:
                if server.transport is None or server.transport.is_closing():
                    break
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client goes
            self.dropped.append(item)
            raise
        self.dropped.append(item)  # released, timed out, or closed: never accepted
        return "451 4.3.0 held by the test relay, not accepted"


class StallingRelay(Relay):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.handler = StallingHandler()
        self.controller.handler = self.handler  # the controller builds its server at start()


def queue_alerts(settings, count: int) -> list[int]:
    """Outbox rows with no lead behind them (so no other sweep job acts on them); their
    after-commit enqueue goes to the test process's StubBroker, not to the worker's Redis."""
    ids = []
    for i in range(count):
        with session_scope(settings) as s:
            spec = admin_alert_email(
                f"ops{i}@installer.example", title=f"Alert {i}", message=f"Crash test {i}"
            )
            row = queue_email(s, spec, now=clock.now(), settings=settings)
            s.flush()
            ids.append(row.id)
    return ids


def rows(settings) -> dict[int, OutboxMessage]:
    with session_scope(settings) as s:
        return {r.id: r for r in s.scalars(select(OutboxMessage))}


def sweep(worker: MailflowProcess, at) -> dict[str, int]:
    """``mailflow sweep --at`` as the operator (or cron) runs it, with the worker's settings."""
    done = subprocess.run(
        [*MAILFLOW, "sweep", "--at", at.isoformat()],
        env=worker.env,
        cwd=worker.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts = {}
    for line in done.stdout.splitlines():
        name, _, count = line.partition(": ")
        counts[name] = int(count)
    return counts


@pytest.mark.real_clock
def test_worker_killed_mid_send_and_broker_emptied(settings, database_url, broker, tmp_path):
    data_dir = settings.data_path
    relay = StallingRelay(tmp_path).start()
    env = {
        "MAILFLOW_OUTBOUND_URL": relay.url,
        "MAILFLOW_SECRET_KEYS": "test-key-new,test-key-old",
        "MAILFLOW_WEBHOOK_SECRET": "test-webhook-secret",
        "MAILFLOW_API_TOKEN": "test-api-token",
        # One thread takes the sweep's jobs in their order: the first claims the three rows as
        # one batch (a batch is its own row and the due rows after it).
        "MAILFLOW_WORKER_THREADS": "1",
    }
    first = second = None
    try:
        ids = queue_alerts(settings, 3)
        first = start_worker(data_dir, database_url, env)
        # The worker's Redis holds no job for these rows: the sweep finds them (due for longer
        # than LOST_JOB_GRACE) and enqueues them there.
        assert sweep(first, clock.now() + timedelta(minutes=2))["outbox"] == 3
        assert relay.handler.stalled.wait(20), first.output()
        (held,) = relay.handler.held
        stalled_id = int(held.message["X-Mailflow-Outbox-Id"])
        assert stalled_id in ids
        # The worker claimed the due rows as one batch and is waiting for the relay's answer.
        wait_for(lambda: all(r.state == OutboxState.SENDING for r in rows(settings).values()))

        first.kill()
        assert first.proc.returncode == -signal.SIGKILL
        wait_for(lambda: relay.handler.dropped, timeout=10)
        assert relay.received == []  # the held message was never accepted
        after_kill = rows(settings)
        assert {r.state for r in after_kill.values()} == {OutboxState.SENDING}
        assert {r.attempts for r in after_kill.values()} == {1}

        # The broker loses everything, including the killed worker's unacknowledged messages.
        found = embedded_redis(data_dir)
        assert found is not None, "the embedded Redis should outlive the killed worker"
        client, _ = found
        try:
            client.flushall()
            assert client.dbsize() == 0
        finally:
            client.close()

        # Within the lease the rows stay with their (dead) worker; after it, the sweep
        # releases them and enqueues their jobs again.
        assert sweep(first, clock.now())["outbox"] == 0
        assert {r.state for r in rows(settings).values()} == {OutboxState.SENDING}
        assert sweep(first, clock.now() + SENDING_LEASE + timedelta(minutes=1))["outbox"] == 3
        released = rows(settings)
        assert {r.state for r in released.values()} == {OutboxState.QUEUED}
        assert released[stalled_id].last_error == "interrupted while sending; retried"

        second = start_worker(data_dir, database_url, env)
        relay.handler.release.set()
        try:
            wait_for(
                lambda: all(r.state == OutboxState.SENT for r in rows(settings).values()),
                timeout=20,
            )
        except AssertionError:
            print(second.output())
            raise
        assert second.stop() == 0, second.output()
    finally:
        relay.handler.release.set()
        for process in (second, first):
            if process is not None:
                process.stop(timeout=15)
        relay.stop()
        # SIGKILL leaves the server behind by nature; a SIGTERM'd worker does too (see below).
        stop_embedded_redis(data_dir)

    accepted = sorted(int(r.message["X-Mailflow-Outbox-Id"]) for r in relay.received)
    assert accepted == sorted(ids)  # nothing lost, nothing twice
    assert [int(r.message["X-Mailflow-Outbox-Id"]) for r in relay.handler.dropped] == [stalled_id]
    assert relay.handler.attempts == 4  # the held DATA and one per message afterwards
    final = rows(settings)
    for received in relay.received:
        outbox_id = int(received.message["X-Mailflow-Outbox-Id"])
        assert received.message["Message-ID"] == final[outbox_id].message_id
    assert {r.state for r in final.values()} == {OutboxState.SENT}
    assert final[stalled_id].attempts == 2
    assert {r.attempts for r in final.values()} == {2}  # the whole batch was interrupted


def test_stopped_worker_takes_its_embedded_redis_down(settings, database_url):
    data_dir = settings.data_path
    worker = start_worker(data_dir, database_url, {})
    try:
        assert embedded_redis(data_dir) is not None
        assert worker.stop() == 0, worker.output()
        left_running = embedded_redis(data_dir) is not None
    finally:
        worker.stop()
        stop_embedded_redis(data_dir)
    assert not left_running, "SIGTERM'd `mailflow worker` left its embedded redis-server running"
