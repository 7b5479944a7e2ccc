"""The scheduler sweep on PostgreSQL as history grows: 10,000 due timers and 500 due offers over
10,000 past offers, then the same due work over 1,000,000 past offers.

    python bench/sweep_scale.py [--small 10000] [--large 1000000] [--timers 10000] [--offers 500]

For each history size a fresh database (``mailflow db upgrade``) gets, by ``COPY``:

- 100 installers (``mailflow installers import``), all serving Paris and its suburbs;
- the history: one lead per 4 past offers (closed: ``expired`` or ``failed``), the offers
  (declined, expired, accepted) spread over 31 to 400 days ago;
- the due work: ``--timers`` leads in ``follow_up`` held by an installer, each with a
  ``follow_up_reminder`` timer due a minute ago (the sweep sends each installer a reminder), and
  ``--offers`` leads in ``offered`` whose offer's deadline passed a minute ago (the sweep expires
  the offer and offers the lead to the next installer).

Then, in a fresh process (as a scheduler would be), every sweep job is timed:

1. a first sweep an hour before the due instant: it also runs the once-a-day tier recompute
   and the weekly digests, timed on their own;
2. a steady sweep with nothing due (what every scheduler does every few seconds);
3. the sweep at the due instant: the timers job (10,000 reminders) and the offers job;
4. a steady sweep again.

Prints each figure for both histories and the ratio large/small (aim: flat, ratio near 1), and
the query plans of the two due-work queries on the large history. ``BENCH_PROFILE=timers`` (or
``offers``) prints a profile of that due job (CPU time, not wall), ``BENCH_PROFILE_DUMP=file`` also writes that profile to a file
(``pstats``), ``BENCH_STATEMENTS=timers`` (or ``offers``) its statements by count; ``BENCH_JOBS=offers,timers`` runs only those jobs
(``bench/routing_scale.py`` runs the offers job alone, with 100 and 10,000 installers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shutil

import psycopg
from soak import make_network, write_installers_csv  # noqa: E402
from topology import PostgresCluster, base_env, cli, machine, missing_binaries  # noqa: E402

MEASURE = r"""
import collections, cProfile, io, json, os, pstats, sys, time
from datetime import datetime, timedelta
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import event
from sqlalchemy.engine import Engine
from mailflow.jobs.broker import setup
setup(broker=StubBroker())  # the emails' send jobs are not run here
from mailflow.config import get_settings
from mailflow.schedule import SWEEPS

statements = [0]
listed: collections.Counter | None = None  # BENCH_STATEMENTS: the due job's statements
first: list[str] = []  # ... and its first 40, in order


@event.listens_for(Engine, "before_cursor_execute")
def _count(_conn, _cursor, statement, *_rest):
    statements[0] += 1  # each is a round trip to PostgreSQL
    if listed is not None:
        listed[" ".join(statement.split())[:110]] += 1
        if len(first) < 40:
            first.append(" ".join(statement.split())[:110])


settings = get_settings()
due = datetime.fromisoformat(sys.argv[1])
profiled = os.environ.get("BENCH_PROFILE", "")
statements_of = os.environ.get("BENCH_STATEMENTS", "")
only = set(filter(None, os.environ.get("BENCH_JOBS", "").split(",")))
phases = [
    ("first", due - timedelta(hours=1)),
    ("idle", due - timedelta(minutes=59)),
    ("due", due),
    ("after", due + timedelta(seconds=1)),
]
out = {}
for phase, at in phases:
    timings = {}
    for name, job in SWEEPS:
        if only and name not in only:
            continue
        profile = cProfile.Profile(time.process_time) if phase == "due" and name == profiled else None
        if phase == "due" and name == statements_of:
            listed = collections.Counter()
        started, cpu, before = time.perf_counter(), time.process_time(), statements[0]
        if profile:
            profile.enable()
        count = job(settings, at)
        if listed is not None:
            print(f"statements of the due {name} job, by count:", file=sys.stderr)
            for text, n in listed.most_common():
                print(f"{n:7} {text}", file=sys.stderr)
            print("its first statements, in order:", file=sys.stderr)
            for n, text in enumerate(first, 1):
                print(f"{n:7}. {text}", file=sys.stderr)
            listed = None
        if profile:
            profile.disable()
            if os.environ.get("BENCH_PROFILE_DUMP"):
                profile.dump_stats(os.environ["BENCH_PROFILE_DUMP"])
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(40)
            print(text.getvalue(), file=sys.stderr)
        timings[name] = [
            round(time.perf_counter() - started, 4),
            count,
            round(time.process_time() - cpu, 4),
            statements[0] - before,
        ]
    out[phase] = timings
print(json.dumps(out))
"""


def populate(
    dsn: str,
    history: int,
    timers: int,
    offers: int,
    due: datetime,
    seed: int,
    installers: int = 100,
) -> None:
    rng = random.Random(seed)
    installers = list(range(1, installers + 1))
    postcodes = ["75001", "75010", "75015", "92100", "93200", "94300"]
    with psycopg.connect(dsn) as conn:
        first_id = 1
        n_hist = max(1, history // 4)
        lead_cols = (
            "id, status, source, customer_name, email, phone, postcode, city, country, details,"
            " progress, created_at, updated_at, spam, assigned_installer_id, search_version,"
            " accepted_at, status_changed_at"
        )
        with conn.cursor().copy(f"COPY leads ({lead_cols}) FROM STDIN") as copy:
            for i in range(n_hist):
                created = due - timedelta(days=31 + rng.random() * 369)
                copy.write_row(
                    (
                        first_id + i,
                        rng.choice(["expired", "failed"]),
                        "email",
                        f"History {i}",
                        f"h{i}@example.fr",
                        None,
                        rng.choice(postcodes),
                        "Paris",
                        "FR",
                        "{}",
                        "{}",
                        created,
                        created,
                        False,
                        None,
                        1,
                        None,
                        None,
                    )
                )
            base = first_id + n_hist
            for j in range(timers):  # held, with a follow-up date reached
                created = due - timedelta(days=10)
                copy.write_row(
                    (
                        base + j,
                        "follow_up",
                        "email",
                        f"Follow {j}",
                        f"f{j}@example.fr",
                        None,
                        rng.choice(postcodes),
                        "Paris",
                        "FR",
                        "{}",
                        "{}",
                        created,
                        created,
                        False,
                        installers[j % len(installers)],
                        1,
                        created,
                        created,
                    )
                )
            base2 = base + timers
            for k in range(offers):  # offered, deadline passed
                created = due - timedelta(days=2)
                copy.write_row(
                    (
                        base2 + k,
                        "offered",
                        "email",
                        f"Open {k}",
                        f"o{k}@example.fr",
                        None,
                        rng.choice(postcodes),
                        "Paris",
                        "FR",
                        "{}",
                        "{}",
                        created,
                        created,
                        False,
                        None,
                        1,
                        None,
                        None,
                    )
                )
        offer_cols = "lead_id, installer_id, status, offered_at, deadline, answered_at"
        with conn.cursor().copy(f"COPY offers ({offer_cols}) FROM STDIN") as copy:
            for n in range(history):
                lead = first_id + n % n_hist
                offered = due - timedelta(days=31 + rng.random() * 369)
                status = rng.choice(["declined", "expired", "declined", "accepted"])
                answered = None if status == "expired" else offered + timedelta(hours=3)
                copy.write_row(
                    (
                        lead,
                        rng.choice(installers),
                        status,
                        offered,
                        offered + timedelta(days=1),
                        answered,
                    )
                )
            for k in range(offers):
                copy.write_row(
                    (
                        base2 + k,
                        rng.choice(installers),
                        "offered",
                        due - timedelta(days=1, minutes=1),
                        due - timedelta(minutes=1),
                        None,
                    )
                )
        timer_cols = "kind, lead_id, installer_id, due_at, status, created_at, data"
        with conn.cursor().copy(f"COPY timers ({timer_cols}) FROM STDIN") as copy:
            for j in range(timers):
                copy.write_row(
                    (
                        "follow_up_reminder",
                        base + j,
                        installers[j % len(installers)],
                        due - timedelta(minutes=1),
                        "pending",
                        due - timedelta(days=3),
                        "{}",
                    )
                )
        conn.execute(f"SELECT setval('leads_id_seq', {base2 + offers})")
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def plans(dsn: str, due: datetime) -> list[str]:
    queries = {
        # as the sweep lists them (each is then claimed with its own lock)
        "due offers": "SELECT id FROM offers WHERE status = 'offered' AND deadline <= %s"
        " ORDER BY deadline, id LIMIT 200",
        "due timers": "SELECT id FROM timers WHERE status = 'pending' AND due_at <= %s"
        " AND kind IN ('follow_up_reminder', 'status_reminder') ORDER BY due_at, id LIMIT 200",
    }
    out = []
    with psycopg.connect(dsn) as conn:
        for name, sql in queries.items():
            rows = conn.execute("EXPLAIN ANALYZE " + sql, (due,)).fetchall()
            out.append(f"  {name}:")
            out += [f"    {r[0]}" for r in rows]
            conn.rollback()
    return out


def run_size(
    pg: PostgresCluster,
    root: Path,
    history: int,
    timers: int,
    offers: int,
    due: datetime,
    installers: int = 100,
) -> dict:
    name = f"sweep_{history}_{installers}"
    env = base_env(root, MAILFLOW_DATABASE_URL=pg.create_database(name))
    cli(env, root, "db", "upgrade")
    csv = root / "installers.csv"
    network = make_network(installers, random.Random(1))
    for installer in network:
        installer.prefixes = ["75", "92", "93", "94"]
        installer.capacity = 1_000_000
    write_installers_csv(csv, network)
    cli(env, root, "installers", "import", str(csv))
    started = time.perf_counter()
    populate(pg.dsn(name), history, timers, offers, due, seed=history, installers=installers)
    loaded = time.perf_counter() - started
    print(
        f"history {history:>9,} past offers: loaded in {loaded:.0f}s "
        f"(+ {timers:,} due timers, {offers:,} due offers)",
        flush=True,
    )
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, due.isoformat()],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    if os.environ.get("BENCH_PROFILE") or os.environ.get("BENCH_STATEMENTS"):
        print(done.stderr, flush=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["plans"] = plans(pg.dsn(name), due) if history >= 100_000 else []
    with __import__("psycopg").connect(pg.dsn(name)) as conn:
        result["left"] = conn.execute(
            "SELECT (SELECT count(*) FROM timers WHERE status = 'pending' AND due_at <= %s),"
            " (SELECT count(*) FROM offers WHERE status = 'offered' AND deadline <= %s)",
            (due, due),
        ).fetchone()
    return result


def total(phase: dict, skip: tuple[str, ...] = ()) -> float:
    return sum(v[0] for k, v in phase.items() if k not in skip)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="past offers, small history")
    parser.add_argument("--large", type=int, default=1_000_000, help="past offers, large history")
    parser.add_argument("--timers", type=int, default=10_000, help="due follow-up timers")
    parser.add_argument("--offers", type=int, default=500, help="due open offers")
    args = parser.parse_args()
    missing = missing_binaries(redis=False)
    if missing:
        print("missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    root = Path(tempfile.mkdtemp(prefix="mailflow-bench-sweep-"))
    due = datetime.now(UTC).replace(microsecond=0)
    pg = PostgresCluster()
    results = {}
    try:
        pg.start()
        for history in (args.small, args.large):
            results[history] = run_size(pg, root, history, args.timers, args.offers, due)
    finally:
        pg.destroy()

        shutil.rmtree(root, ignore_errors=True)

    small, large = results[args.small], results[args.large]
    for r in (small, large):  # jobs left out by BENCH_JOBS count as nothing done
        for job in ("timers", "offers"):
            r["due"].setdefault(job, (0.0, 0, 0.0, 0))
    rows = [
        ("first sweep: nightly tier recompute", lambda r: r["first"]["tiers"][0]),
        ("first sweep: weekly digests", lambda r: r["first"]["digests"][0]),
        ("steady sweep, nothing due (all jobs)", lambda r: total(r["idle"])),
        (f"due sweep: timers job ({args.timers:,} reminders)", lambda r: r["due"]["timers"][0]),
        (f"due sweep: offers job ({args.offers:,} expiries)", lambda r: r["due"]["offers"][0]),
        ("due sweep: all jobs", lambda r: total(r["due"])),
        ("steady sweep after, nothing due", lambda r: total(r["after"])),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    print(f"{'':{width}}  {args.small:>9,}  {args.large:>9,}  ratio")
    print(f"{'':{width}}  {'past':>9}  {'past':>9}")
    for label, value in rows:
        try:
            a, b = value(small), value(large)
        except KeyError:  # a job left out by BENCH_JOBS
            continue
        print(f"{label:{width}}  {a:8.2f}s  {b:8.2f}s  {b / a if a else float('nan'):5.2f}")
    per_timer = [
        r["due"]["timers"][0] / max(r["due"]["timers"][1], 1) * 1000 for r in (small, large)
    ]
    per_offer = [
        r["due"]["offers"][0] / max(r["due"]["offers"][1], 1) * 1000 for r in (small, large)
    ]
    print(
        f"per due timer: {per_timer[0]:.1f} ms vs {per_timer[1]:.1f} ms; per due offer: "
        f"{per_offer[0]:.1f} ms vs {per_offer[1]:.1f} ms (wall, PostgreSQL's time included)"
    )
    for job, what in (("timers", "reminder"), ("offers", "expired offer")):
        each = [
            (
                r["due"][job][2] / max(r["due"][job][1], 1) * 1000,
                r["due"][job][3] / max(r["due"][job][1], 1),
            )
            for r in (small, large)
        ]
        print(
            f"per {what}, sweep process only: {each[0][0]:.1f} / {each[1][0]:.1f} ms of CPU, "
            f"{each[0][1]:.1f} / {each[1][1]:.1f} statements (round trips)"
        )
    print(
        f"acted on: timers {small['due']['timers'][1]} / {large['due']['timers'][1]}, offers "
        f"{small['due']['offers'][1]} / {large['due']['offers'][1]}; left due afterwards: "
        f"{tuple(small['left'])} / {tuple(large['left'])}"
    )
    slowest = sorted(large["idle"].items(), key=lambda kv: -kv[1][0])[:4]
    print(
        "steady sweep on the large history, slowest jobs: "
        + ", ".join(f"{k} {v[0] * 1000:.0f} ms" for k, v in slowest)
    )
    if large["plans"]:
        print("query plans on the large history:")
        print("\n".join(large["plans"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
