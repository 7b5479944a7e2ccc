"""Outbound throughput: N messages from the outbox through one worker thread to a local
aiosmtpd sink, beside a bare smtplib loop to the same sink in the same run.

    python bench/outbound.py [N]

The sink is its own process, as a relay (Postfix) is: in the sender's process it shared the
GIL, so every instruction of the sender also slowed the sink's answers, which the bare loop
(doing less) was spared. Prints messages/s for both, the ratio (#21 aim: at least 0.9 with a
single worker), and the sending process's CPU per message for both.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from dramatiq.brokers.stub import StubBroker

from mailflow import clock
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.jobs.actors import SEND_BATCH
from mailflow.jobs.broker import setup  # noqa: E402
from mailflow.migrate import upgrade
from mailflow.models import Installer, Lead, OutboxMessage
from mailflow.outbound.emails import offer_email
from mailflow.outbound.message import wire_bytes
from mailflow.outbound.outbox import deliver, queue_email

sys.path.insert(0, str(Path(__file__).resolve().parent))
from topology import SINK  # noqa: E402

setup(broker=StubBroker())


def start_sink() -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None and "listening" in sink.stdout.readline()
    return sink, port


def stop_sink(sink: subprocess.Popen) -> int:
    sink.send_signal(signal.SIGTERM)
    out, _ = sink.communicate(timeout=30)
    return int(out.split("count")[-1].strip())


def main(n: int) -> None:
    sink, port = start_sink()
    try:
        run(n, sink, port)
    finally:
        if sink.poll() is None:  # a failed run must not leave the sink (and its pipe) behind
            sink.kill()


def run(n: int, sink: subprocess.Popen, port: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    os.environ.update(
        {
            "MAILFLOW_DATA_DIR": str(tmp),
            "MAILFLOW_OUTBOUND_URL": f"smtp://127.0.0.1:{port}",
        }
    )

    settings = get_settings()
    upgrade(settings)
    rows = []
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
            rows.append(queue_email(s, spec, now=clock.now(), settings=settings))
        s.flush()  # the rows' ids (queue_email leaves its INSERT to the flush)
        ids = [row.id for row in rows]
    with session_scope(settings) as s:
        # what the outbox puts on the wire for the first row: its stored bytes with the ids
        sample = wire_bytes(settings, ids[0], s.get(OutboxMessage, ids[0]).raw)

    def bare_loop(**options) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        with smtplib.SMTP("127.0.0.1", port, **options) as client:
            for _ in range(n):
                client.sendmail("bounces+1@localhost", ["bench@installer.example"], sample)
        return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n

    bare, bare_cpu = bare_loop()
    # The outbox's connections have a timeout (a stalled relay must not hang a worker): Python
    # then polls the socket before each read and write. The same loop with it, for scale.
    timed, timed_cpu = bare_loop(timeout=30.0)

    started, cpu = time.perf_counter(), time.process_time()
    for outbox_id in ids:  # what one worker thread does with the actor messages, in order
        deliver(outbox_id, settings=settings, now=clock.now(), batch=SEND_BATCH)
    ours = n / (time.perf_counter() - started)
    ours_cpu = (time.process_time() - cpu) * 1000 / n
    counted = stop_sink(sink)
    assert counted == 3 * n, (counted, 3 * n)
    print(f"messages: {n} ({len(sample)} bytes each), database: SQLite, sink: its own process")
    print(f"bare smtplib loop:          {bare:8.1f} msg/s, {bare_cpu:.2f} ms CPU per message")
    print(f"  the same, 30 s timeout:   {timed:8.1f} msg/s, {timed_cpu:.2f} ms CPU per message")
    print(f"mailflow outbox (1 thread): {ours:8.1f} msg/s, {ours_cpu:.2f} ms CPU per message")
    print(f"ratio: {ours / bare:.2f} (to the loop with the timeout: {ours / timed:.2f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
