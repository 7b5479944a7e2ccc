"""Outbound throughput: N messages from the outbox through one worker thread to a local
aiosmtpd sink, beside a bare smtplib loop to the same sink in the same run.

    python bench/outbound.py [N]

Prints messages/s for both and the ratio (aim: at least 0.8 with a single worker).
"""

from __future__ import annotations

import os
import smtplib
import socket
import sys
import tempfile
import time
from datetime import timedelta
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from aiosmtpd.controller import Controller
from dramatiq.brokers.stub import StubBroker

from mailflow import clock
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.jobs.actors import SEND_BATCH
from mailflow.jobs.broker import setup  # noqa: E402
from mailflow.migrate import upgrade
from mailflow.models import Installer, Lead, OutboxMessage
from mailflow.outbound.emails import offer_email
from mailflow.outbound.message import build_message
from mailflow.outbound.outbox import deliver, queue_email

setup(broker=StubBroker())


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=0)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        controller.port = s.getsockname()[1]
    controller.start()
    os.environ.update(
        {
            "MAILFLOW_DATA_DIR": str(tmp),
            "MAILFLOW_OUTBOUND_URL": f"smtp://127.0.0.1:{controller.port}",
        }
    )

    settings = get_settings()
    upgrade(settings)
    ids = []
    with session_scope(settings) as s:
        installer = Installer(
            email="bench@installer.example",
            name="Bench",
            country="FR",
            language="fr",
            timezone="Europe/Paris",
            postcodes="75",
        )
        lead = Lead(
            source="email",
            customer_name="C",
            email="c@example.fr",
            postcode="75010",
            country="FR",
            city="Paris",
            product="pv",
            details={"module_count": 12},
        )
        s.add_all([installer, lead])
        s.flush()
        for _ in range(n):
            spec = offer_email(
                lead,
                installer,
                deadline=clock.now() + timedelta(hours=24),
                accept_url="http://x/l/accept/t",
                decline_url="http://x/l/decline/t",
            )
            ids.append(queue_email(s, spec, now=clock.now(), settings=settings).id)
    with session_scope(settings) as s:
        sample = build_message(s.get(OutboxMessage, ids[0]), settings).as_bytes(policy=SMTP_POLICY)

    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", controller.port) as client:
        for _ in range(n):
            client.sendmail("bounces+1@localhost", ["bench@installer.example"], sample)
    bare = n / (time.perf_counter() - started)

    sink.count = 0
    started = time.perf_counter()

    for outbox_id in ids:  # what one worker thread does with the actor messages, in order
        deliver(outbox_id, settings=settings, now=clock.now(), batch=SEND_BATCH)
    ours = n / (time.perf_counter() - started)
    assert sink.count == n, (sink.count, n)
    controller.stop()
    print(f"messages: {n} ({len(sample)} bytes each), database: SQLite")
    print(f"bare smtplib loop:        {bare:8.1f} msg/s")
    print(f"mailflow outbox (1 thread): {ours:6.1f} msg/s")
    print(f"ratio: {ours / bare:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
