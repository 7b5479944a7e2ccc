"""Lead-to-offer latency at a steady rate, at scale: PostgreSQL, a ``redis-server``, ``mailflow
smtp`` frontends, ``mailflow worker`` processes and a ``mailflow scheduler``.

    python bench/latency.py [--rate 50] [--seconds 40] [--workers 3] [--threads 4] [--smtp 2]

Leads (distinct Paris customers, plain ``Label: value`` emails) are sent over SMTP at a steady
``--rate`` per second by a pool of persistent client connections spread over the frontends.
For each lead the latency runs from the moment the client has the ``250`` to the moment its
offer email row is visible in the outbox (a separate connection polls PostgreSQL every 5 ms).
The database's own timestamps split it into stages. The inbound job stamps the lead with the
instant it started, so "stored → lead created" is the wait in the inbound queue. Since #21 the
inbound job routes the lead it creates in its own transaction: the offer carries the same
instant, and the rest of the way (the job's work, its commit, the watcher's poll) is the
latency less that wait. A lead routed by a later job (``route_lead_job`` when routing in the
inbound job failed, or the drain when its installers were busy) is counted apart, with its
"lead created → offer queued" time.

Before the measured window, ``--warmup`` leads (not counted) go through the whole path, so that
the CPU of starting the processes and of their first leads (templates, catalogs, first queries)
is reported apart. The CPU per lead covers the measured window only; the bench's own work (the
SMTP client threads, the watcher's polling and the PostgreSQL backend serving it) is reported
apart from the service processes'. The workers count their database round trips by job
(``MAILFLOW_COUNT_STATEMENTS``, read from their metrics): the round trips per lead from stored
message to queued offer are those of the ``process_inbound`` (or ``process_inbound_batch``,
several stored messages in one job) and ``route_lead_job`` jobs (the latter now runs only for
the leads the inbound job could not route).

Nobody answers the offers here, so the installers get no caps and no small capacity, and the
pending-offer limit is lifted (``MAILFLOW_MAX_PENDING_OFFERS``): with the defaults every
installer would hold 3 open offers and the later leads would wait for answers that never come.

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
import urllib.request
from pathlib import Path

import psycopg
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak import (  # noqa: E402
    NOBODY_ANSWERS,
    customer,
    lead_email,
    unanswered_network,
    write_installers_csv,
)
from topology import Service, Topology, cpu_seconds, machine, missing_binaries  # noqa: E402

# The jobs a lead goes through from its stored message to its queued offer email: since #21
# the inbound job alone, the routing job only when routing in the inbound job failed.
# The SMTP frontend sends a group commit's messages ten per process_inbound_batch job.
LEAD_JOBS = ("process_inbound", "process_inbound_batch", "route_lead_job")
# A lead whose chosen installer was being offered another lead by another worker at that moment
# waits, and this job offers the waiting leads (capacity, #17): part of the way too.
DRAIN_JOB = "offer_waiting_job"
SERVICE_GROUPS = ("web", "smtp", "worker", "scheduler", "redis", "postgres")


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
        self.ready = threading.Event()
        self.backend_pid = 0  # the PostgreSQL backend serving the polls
        self.cpu = 0.0  # this thread's CPU seconds so far (updated after each poll)

    def run(self) -> None:
        last = 0
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            self.backend_pid = conn.info.backend_pid
            self.ready.set()
            while not self.stop_event.is_set():
                self.cpu = time.thread_time()
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
    ports: list[int], rate: float, total: int, connections: int, run: str, first: int = 1
) -> tuple[dict[str, float], float]:
    """Send ``total`` leads at ``rate`` per second (customers ``first``, ``first + 1``...);
    returns the 250 instant of each (by customer email) and the achieved rate."""
    messages = []
    for i in range(first - 1, first - 1 + total):
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


def bench_cpu(watcher: Watcher) -> dict[str, float]:
    """CPU seconds of the bench's own polling: the watcher thread and its PostgreSQL backend."""
    return {"watcher": watcher.cpu, "watcher_backend": cpu_seconds(watcher.backend_pid)}


def round_trips(workers: list[Service]) -> dict[tuple[str, str], float]:
    """Summed over the workers' metrics: ``{(job, kind): round trips}`` and
    ``{(job, "messages"): jobs processed}``."""
    totals: dict[tuple[str, str], float] = {}
    for service in workers:
        if not service.metrics_port:
            continue
        url = f"http://127.0.0.1:{service.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "mailflow_db_round_trips_total":
                    key = (sample.labels["job"], sample.labels["kind"])
                elif sample.name == "mailflow_dramatiq_messages_total":
                    key = (sample.labels["actor"], "messages")
                else:
                    continue
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def wait_offered(emails, watcher: Watcher, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not set(emails) <= set(watcher.seen):
        time.sleep(0.1)


def per_lead(cpu: dict[str, float], n: int) -> str:
    return ", ".join(f"{k} {1000 * v / max(n, 1):.1f}" for k, v in cpu.items())


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
        "--warmup", type=int, default=20, help="leads sent and offered before the measured window"
    )
    parser.add_argument(
        "--no-count-statements",
        action="store_true",
        help="do not count the workers' database round trips (MAILFLOW_COUNT_STATEMENTS)",
    )
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
    extra_env = dict(NOBODY_ANSWERS)
    if args.idle_poll_ms:
        extra_env["MAILFLOW_WORKER_IDLE_POLL_MS"] = str(args.idle_poll_ms)
    if not args.no_count_statements:
        extra_env["MAILFLOW_COUNT_STATEMENTS"] = "1"
    topo = Topology(
        smtp=args.smtp,
        workers=args.workers,
        schedulers=1,
        worker_threads=args.threads,
        sweep_interval=args.sweep_interval,
        extra_env=extra_env,
    )
    try:
        topo.start_backends()
        csv = topo.root / "installers.csv"
        write_installers_csv(csv, unanswered_network(args.installers))
        topo.cli("installers", "import", str(csv))
        topo.start_services()
        watcher = Watcher(topo.database_dsn)
        watcher.start()
        watcher.ready.wait(30)
        run = f"{random.randrange(1 << 30):x}"
        cpu_started = cpu_by_group(topo)
        bench_started = bench_cpu(watcher)
        warm_emails: set[str] = set()
        if args.warmup:
            warm, _ = send_steady(topo.smtp_ports, args.rate, args.warmup, args.connections, run)
            warm_emails = set(warm)
            wait_offered(warm, watcher)
        time.sleep(1)  # let the warm-up's last jobs (the offer emails' sending) finish
        cpu_before = cpu_by_group(topo)
        bench_before = bench_cpu(watcher)
        trips_before = round_trips(topo.workers)
        answered, achieved = send_steady(
            topo.smtp_ports,
            args.rate,
            int(args.rate * args.seconds),
            args.connections,
            run,
            first=args.warmup + 1,
        )
        wait_offered(answered, watcher)
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_by_group(topo).items()}
        bench = {k: v - bench_before[k] for k, v in bench_cpu(watcher).items()}
        trips_after = round_trips(topo.workers)
        trips = {k: v - trips_before.get(k, 0.0) for k, v in trips_after.items()}
        watcher.stop_event.set()
        watcher.join(5)
        latencies = [watcher.seen[e] - t for e, t in answered.items() if e in watcher.seen]
        missing_offers = len(answered) - len(latencies)
        with psycopg.connect(topo.database_dsn) as conn:
            stages = conn.execute(
                "SELECT l.email, extract(epoch FROM l.created_at - i.received_at),"
                " extract(epoch FROM o.created_at - l.created_at)"
                " FROM leads l JOIN inbound_messages i ON i.id = l.inbound_id"
                " JOIN outbox o ON o.lead_id = l.id AND o.template = 'offer'"
            ).fetchall()
        stages = [(email, a, b) for email, a, b in stages if email not in warm_emails]
    finally:
        topo.stop()
    by_email = {email: (float(a), float(b)) for email, a, b in stages}
    processing = [a for a, _ in by_email.values()]
    # The offer stamped with the lead's own instant: made by the job that created the lead.
    # A drain job that took its instant before the lead was committed stamps the offer
    # earlier than the lead: counted as 0.
    later = [max(b, 0.0) for _, b in by_email.values() if b != 0]
    inline_rest = [
        watcher.seen[e] - t - by_email[e][0]
        for e, t in answered.items()
        if e in watcher.seen and e in by_email and by_email[e][1] == 0
    ]
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

    def stage(name: str, values: list[float]) -> None:
        if not values:
            print(f"  {name}: none")
            return
        v = [1000 * x for x in values]
        print(
            f"  {name}: p50 {percentile(v, 50):.0f} ms, p99 {percentile(v, 99):.0f} ms, "
            f"max {max(v):.0f} ms"
        )

    stage("stored -> lead created (the wait for the inbound job)", processing)
    stage(
        f"{len(inline_rest)} leads routed by the inbound job itself: job start -> offer row "
        f"visible (its work, its commit, the 5 ms poll; SMTP 250 -> visible less the wait)",
        inline_rest,
    )
    stage(
        f"{len(later)} leads routed by a later job (route_lead_job after a failure, or the "
        f"drain of leads whose installers were busy): lead created -> offer queued",
        later,
    )
    print(
        "CPU per lead (ms): "
        + ", ".join(f"{k} {1000 * v / len(answered):.1f}" for k, v in cpu.items())
        + f" (all on {os.cpu_count()} CPUs: {1000 * sum(cpu.values()) / len(answered):.1f})"
    )
    n = len(answered)
    service = {k: cpu.get(k, 0.0) for k in SERVICE_GROUPS}
    service["postgres"] = max(0.0, service["postgres"] - bench["watcher_backend"])
    print(
        f"  of which the bench's own: SMTP client threads "
        f"{1000 * (cpu['client'] - bench['watcher']) / n:.1f}, watcher polling "
        f"{1000 * bench['watcher'] / n:.1f} + its PostgreSQL backend "
        f"{1000 * bench['watcher_backend'] / n:.1f}"
    )
    print(
        f"service CPU per lead, measured window only (ms): {per_lead(service, n)} "
        f"(services together: {1000 * sum(service.values()) / n:.1f})"
    )
    warm_cpu = {k: cpu_before.get(k, 0.0) - cpu_started.get(k, 0.0) for k in SERVICE_GROUPS}
    warm_cpu["postgres"] -= bench_before["watcher_backend"] - bench_started["watcher_backend"]
    print(
        "before the window (ms, not counted above): start-up until ready "
        + ", ".join(f"{k} {1000 * cpu_started.get(k, 0.0):.0f}" for k in SERVICE_GROUPS)
        + f"; {args.warmup} warm-up leads "
        + ", ".join(f"{k} {1000 * v:.0f}" for k, v in warm_cpu.items())
        + (
            f" ({1000 * sum(warm_cpu.values()) / args.warmup:.1f} per warm-up lead)"
            if args.warmup
            else ""
        )
    )
    if args.no_count_statements:
        print("database round trips: not counted (--no-count-statements)")
    else:
        parts, total = [], 0.0
        for job in (*LEAD_JOBS, DRAIN_JOB):
            kinds = {k: v for (j, k), v in trips.items() if j == job and k != "messages"}
            count = sum(kinds.values())
            if job != DRAIN_JOB:
                total += count
            by_kind = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(kinds.items()))
            parts.append(
                f"{job} {count / n:.1f} ("
                + (f"{by_kind}; " if by_kind else "")
                + f"{trips.get((job, 'messages'), 0):.0f} jobs)"
            )
        drain = sum(v for (j, k), v in trips.items() if j == DRAIN_JOB and k != "messages")
        print(
            f"PostgreSQL round trips per lead, stored message -> offer queued: {total / n:.1f}"
            f" ({(total + drain) / n:.1f} with the drain of leads that waited for a busy"
            f" installer) = " + " + ".join(parts)
        )
        others = {}
        for (job, kind), v in trips.items():
            if job not in (*LEAD_JOBS, DRAIN_JOB) and kind != "messages":
                others[job] = others.get(job, 0.0) + v
        print(
            "  other work in the workers (round trips per lead): "
            + (", ".join(f"{j} {v / n:.1f}" for j, v in sorted(others.items())) or "none")
        )
    print(f"p99 under 1 s: {'yes' if percentile(ms, 99) < 1000 else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
