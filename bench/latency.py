"""Lead-to-offer latency at a steady rate, at scale: PostgreSQL, a ``redis-server``, ``mailflow
smtp`` frontends, ``mailflow worker`` processes and a ``mailflow scheduler``.

    python bench/latency.py [--rate 50] [--seconds 40] [--workers 3] [--threads 4] [--smtp 2]

Leads (distinct Paris customers, plain ``Label: value`` emails) are sent over SMTP at a steady
``--rate`` per second by a pool of persistent client connections spread over the frontends.
For each lead the latency runs from the moment the client has the ``250`` to the moment its
offer email row is visible in the outbox (a separate connection polls PostgreSQL every 5 ms).
The database's own timestamps split it into stages: stored → lead created (the processing
job: queue wait and parsing) → offer queued (the routing job).

Prints the machine, the rate achieved, p50/p90/p99/max and the stages; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import smtplib
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak import customer, lead_email, make_network, write_installers_csv  # noqa: E402
from topology import Topology, cpu_seconds, machine, missing_binaries  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class Watcher(threading.Thread):
    """Notes when each lead's offer email row first becomes visible."""

    def __init__(self, dsn: str) -> None:
        super().__init__(name="watcher", daemon=True)
        self.dsn = dsn
        self.seen: dict[str, float] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        last = 0
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop_event.is_set():
                # Ids are taken before commit: a row may appear below the highest id seen.
                rows = conn.execute(
                    "SELECT o.id, l.email FROM outbox o JOIN leads l ON l.id = o.lead_id"
                    " WHERE o.template = 'offer' AND o.id > %s ORDER BY o.id",
                    (last - 2000,),
                ).fetchall()
                at = time.monotonic()
                for outbox_id, email in rows:
                    last = max(last, outbox_id)
                    self.seen.setdefault(email, at)
                self.stop_event.wait(0.005)


def send_steady(
    ports: list[int], rate: float, seconds: float, connections: int, run: str
) -> tuple[dict[str, float], float]:
    """Send ``rate * seconds`` leads on schedule; returns the 250 instant of each (by customer
    email) and the achieved rate."""
    total = int(rate * seconds)
    messages = []
    for i in range(total):
        c = customer(run, i + 1)
        messages.append((c.email, lead_email(c, f"<latency-{run}-{i}@calculator.example>")))
    work: queue.Queue = queue.Queue()
    answered: dict[str, float] = {}
    lock = threading.Lock()

    def client(k: int) -> None:
        smtp = smtplib.SMTP("127.0.0.1", ports[k % len(ports)], timeout=60)
        try:
            while True:
                item = work.get()
                if item is None:
                    return
                email, raw = item
                smtp.sendmail("noreply@calculator.example", ["leads@localhost"], raw)
                with lock:
                    answered[email] = time.monotonic()
        finally:
            smtp.quit()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    started = time.monotonic()
    for i, item in enumerate(messages):
        wait = started + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        work.put(item)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    return answered, total / (time.monotonic() - started)


def cpu_by_group(topo: Topology) -> dict[str, float]:
    """CPU seconds used so far by each kind of process."""
    groups: dict[str, float] = {}
    for service in topo.services():
        kind = service.name.rstrip("0123456789")
        groups[kind] = groups.get(kind, 0.0) + cpu_seconds(service.pid)
    if topo.pg.pid:
        groups["postgres"] = cpu_seconds(topo.pg.pid)
    if topo.redis.proc:
        groups["redis"] = cpu_seconds(topo.redis.proc.pid)
    t = os.times()
    groups["client"] = t.user + t.system
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="leads per second")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--smtp", type=int, default=2, help="SMTP frontends")
    parser.add_argument("--connections", type=int, default=8, help="client connections")
    parser.add_argument("--installers", type=int, default=30)
    parser.add_argument("--sweep-interval", type=float, default=5.0)
    parser.add_argument(
        "--idle-poll-ms",
        type=int,
        default=None,
        help="MAILFLOW_WORKER_IDLE_POLL_MS for the workers (default: mailflow's)",
    )
    args = parser.parse_args()
    missing = missing_binaries()
    if missing:
        print("missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    print(
        f"topology: PostgreSQL + redis-server, {args.smtp} mailflow smtp, {args.workers} "
        f"mailflow worker x {args.threads} threads, 1 mailflow scheduler (sweep every "
        f"{args.sweep_interval:g} s), 1 mailflow web; outbound to a Maildir"
    )
    topo = Topology(
        smtp=args.smtp,
        workers=args.workers,
        schedulers=1,
        worker_threads=args.threads,
        sweep_interval=args.sweep_interval,
        extra_env=(
            {"MAILFLOW_WORKER_IDLE_POLL_MS": str(args.idle_poll_ms)} if args.idle_poll_ms else None
        ),
    )
    try:
        topo.start_backends()
        csv = topo.root / "installers.csv"
        write_installers_csv(csv, make_network(args.installers, random.Random(1)))
        topo.cli("installers", "import", str(csv))
        topo.start_services()
        watcher = Watcher(topo.database_dsn)
        watcher.start()
        run = f"{random.randrange(1 << 30):x}"
        cpu_before = cpu_by_group(topo)
        answered, achieved = send_steady(
            topo.smtp_ports, args.rate, args.seconds, args.connections, run
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not set(answered) <= set(watcher.seen):
            time.sleep(0.1)
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_by_group(topo).items()}
        watcher.stop_event.set()
        watcher.join(5)
        latencies = [watcher.seen[e] - t for e, t in answered.items() if e in watcher.seen]
        missing_offers = len(answered) - len(latencies)
        with psycopg.connect(topo.database_dsn) as conn:
            stages = conn.execute(
                "SELECT extract(epoch FROM l.created_at - i.received_at),"
                " extract(epoch FROM o.created_at - l.created_at)"
                " FROM leads l JOIN inbound_messages i ON i.id = l.inbound_id"
                " JOIN outbox o ON o.lead_id = l.id AND o.template = 'offer'"
            ).fetchall()
    finally:
        topo.stop()
    processing = [float(a) for a, _ in stages]
    routing = [float(b) for _, b in stages]
    print(
        f"leads: {len(answered)} over SMTP at {achieved:.1f}/s (asked {args.rate:.0f}/s for "
        f"{args.seconds:.0f} s, {args.connections} connections over {args.smtp} frontends)"
    )
    if not latencies:
        print("no offer seen")
        return 1
    ms = [1000 * x for x in latencies]
    print(
        f"SMTP 250 -> offer row visible: p50 {percentile(ms, 50):.0f} ms, "
        f"p90 {percentile(ms, 90):.0f} ms, p99 {percentile(ms, 99):.0f} ms, "
        f"max {max(ms):.0f} ms, mean {statistics.mean(ms):.0f} ms "
        f"({missing_offers} leads without an offer within 300 s)"
    )
    for name, values in (
        ("stored -> lead created (process_inbound job)", processing),
        ("lead created -> offer queued (route_lead_job)", routing),
    ):
        v = [1000 * x for x in values]
        print(
            f"  {name}: p50 {percentile(v, 50):.0f} ms, p99 {percentile(v, 99):.0f} ms, "
            f"max {max(v):.0f} ms"
        )
    print(
        "CPU per lead (ms): "
        + ", ".join(f"{k} {1000 * v / len(answered):.1f}" for k, v in cpu.items())
        + f" (all on {os.cpu_count()} CPUs: {1000 * sum(cpu.values()) / len(answered):.1f})"
    )
    print(f"p99 under 1 s: {'yes' if percentile(ms, 99) < 1000 else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
