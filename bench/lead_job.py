"""The inbound job alone, per lead, on PostgreSQL (#21): stored message -> lead -> offer queued,
in one process and one thread, without the processes and queues around it.

    python bench/lead_job.py [--leads 400] [--installers 30] [--profile]

A fresh PostgreSQL cluster and database, ``bench/latency.py``'s network of installers (no caps,
no pending limit: nobody answers), and ``--leads`` distinct leads stored as the SMTP intake
stores them (``store_many``). Then, warm-up leads first, ``process_one`` (the inbound job's
work) runs for each; the jobs it queues go to a stub broker that is never worked. Prints the
process's CPU per lead, the wall time, and the round trips per lead by kind, beside a bare
baseline measured in the same run: one ``psycopg`` transaction per lead that inserts a row and
runs 11 more trivial statements (the 12 round trips #21 aims at), with no ORM. The ratio
job/bare says how far the job is from the floor of its database traffic; the CPU of the
quietest and the median chunk of 25 leads is printed too (a shared VM steals cycles in
bursts). ``--profile`` prints a cProfile of the measured leads (cumulative time, top 40;
``BENCH_PROFILE_SORT``, ``BENCH_PROFILE_CALLERS``/``CALLEES``, ``BENCH_PROFILE_DUMP=file``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import event, text

from mailflow import clock, db
from mailflow.config import get_settings
from mailflow.infra.intake_store import Incoming, store_many
from mailflow.intake.process import process_one
from mailflow.jobs.broker import setup
from mailflow.models import Channel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak import (  # noqa: E402
    NOBODY_ANSWERS,
    customer,
    lead_email,
    unanswered_network,
    write_installers_csv,
)
from topology import PostgresCluster, base_env, cli, machine, missing_binaries  # noqa: E402

WARMUP = 20
CHUNK = 25  # leads per chunk of the CPU figures' spread


def bare_baseline(dsn: str, n: int) -> tuple[float, float]:
    """CPU and wall seconds of ``n`` plain psycopg transactions of 12 round trips each."""
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE bare (id serial PRIMARY KEY, body text, at timestamptz)")
        conn.commit()
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            with conn.transaction():
                conn.execute(
                    "INSERT INTO bare (body, at) VALUES (%s, now()) RETURNING id", (f"lead {i}",)
                ).fetchone()
                for _ in range(11):
                    conn.execute("SELECT id FROM bare WHERE id = %s", (i,)).fetchall()
        return time.process_time() - cpu, time.perf_counter() - wall


def print_statements_of(inbound_id: int, settings) -> None:
    """The statements of one job, in order (the last warm-up lead's)."""
    engine = db.get_engine(settings)
    sent: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split())[:160])

    event.listen(engine, "before_cursor_execute", remember)
    try:
        process_one(inbound_id, now=clock.now(), settings=settings)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    print(f"statements of one job ({len(sent)}):")
    for n, statement in enumerate(sent, 1):
        print(f"  {n:2}. {statement}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=400)
    parser.add_argument("--installers", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--statements", action="store_true", help="print the SQL of one lead's job first"
    )
    args = parser.parse_args()
    missing = missing_binaries(redis=False)
    if missing:
        print("missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    root = Path(tempfile.mkdtemp(prefix="mailflow-bench-leadjob-"))
    pg = PostgresCluster()
    try:
        pg.start()
        url = pg.create_database("mailflow")
        env = base_env(root, MAILFLOW_DATABASE_URL=url, **NOBODY_ANSWERS)
        cli(env, root, "db", "upgrade")
        csv = root / "installers.csv"
        write_installers_csv(csv, unanswered_network(args.installers))
        cli(env, root, "installers", "import", str(csv))
        os.environ.update(env, MAILFLOW_COUNT_STATEMENTS="1")
        return measure(args, pg.dsn("mailflow"))
    finally:
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)


def measure(args, dsn: str) -> int:
    setup(broker=StubBroker())
    settings = get_settings()
    run = f"{random.randrange(1 << 30):x}"
    total = WARMUP + args.leads
    raws = [lead_email(customer(run, n), f"<job-{run}-{n}@bench>") for n in range(total)]
    rows = store_many(
        [Incoming(raw, Channel.SMTP, envelope_to=["leads@localhost"]) for raw in raws],
        settings=settings,
        enqueue=False,
    )
    ids = [row.id for row in rows]
    db.statement_label.set("process_inbound")
    for inbound_id in ids[: WARMUP - 1]:
        process_one(inbound_id, now=clock.now(), settings=settings)
    if args.statements:
        print_statements_of(ids[WARMUP - 1], settings)
    else:
        process_one(ids[WARMUP - 1], now=clock.now(), settings=settings)
    before = db.statement_counts()
    profiler = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    outcomes, chunks, chunk_started = [], [], time.process_time()
    for n, inbound_id in enumerate(ids[WARMUP:], 1):
        outcomes.append(process_one(inbound_id, now=clock.now(), settings=settings))
        if n % CHUNK == 0:
            chunks.append((time.process_time() - chunk_started) / CHUNK)
            chunk_started = time.process_time()
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    counts = {
        kind: n - before.get((label, kind), 0)
        for (label, kind), n in db.statement_counts().items()
        if label == "process_inbound"
    }
    n = args.leads
    with db.session_scope(settings) as session:
        offered = session.execute(
            text("SELECT count(*) FROM outbox WHERE template = 'offer'")
        ).scalar()
    bare_cpu, bare_wall = bare_baseline(dsn, n)
    trips = sum(counts.values()) / n
    print(f"leads: {n} measured after {WARMUP} warm-up, one thread, PostgreSQL")
    print(f"outcomes: {sorted({str(o) for o in outcomes})}; offer emails queued: {offered}")
    print(
        f"inbound job: CPU {cpu / n * 1000:.2f} ms per lead, wall {wall / n * 1000:.2f} ms, "
        f"round trips {trips:.1f} per lead ("
        + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(counts.items()))
        + ")"
    )
    if len(chunks) > 1:
        # A shared VM's neighbours steal cycles in bursts: the quietest chunk of leads says
        # what the code costs, the median what a run sees.
        chunks.sort()
        print(
            f"  per chunk of {CHUNK} leads: best {chunks[0] * 1000:.2f} ms, "
            f"median {chunks[len(chunks) // 2] * 1000:.2f} ms CPU per lead"
        )
    print(
        f"bare psycopg, 12 round trips in one transaction: CPU {bare_cpu / n * 1000:.2f} ms, "
        f"wall {bare_wall / n * 1000:.2f} ms per lead"
    )
    print(
        f"ratio job/bare: CPU {cpu / bare_cpu:.1f}, wall {wall / bare_wall:.1f}"
        if bare_cpu and bare_wall
        else ""
    )
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(40)
        if os.environ.get("BENCH_PROFILE_CALLEES"):
            stats.print_callees(os.environ["BENCH_PROFILE_CALLEES"])
        if os.environ.get("BENCH_PROFILE_CALLERS"):
            stats.print_callers(os.environ["BENCH_PROFILE_CALLERS"])
        print(out.getvalue())
        if os.environ.get("BENCH_PROFILE_DUMP"):
            stats.dump_stats(os.environ["BENCH_PROFILE_DUMP"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
