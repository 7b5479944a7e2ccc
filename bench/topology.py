"""Start mailflow's at-scale topology on loopback, for the soak and the benchmarks.

- :class:`PostgresCluster`: a throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a free
  port, which can be stopped and started again (the data stays) to make it refuse connections;
- :class:`RedisServer`: a ``redis-server`` with its own port and directory, which can be killed
  and started again with its data wiped;
- :class:`Service`: one mailflow process (``mailflow smtp``, ``worker``, ``scheduler``, ``web``,
  ``run``) with its own log file;
- :class:`Topology`: all of them together, sharing one environment (database, broker, secrets,
  outbound Maildir).

Nothing here listens on anything but 127.0.0.1. Every process started is stopped by ``stop()``
(by its pid, never by name).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

MAILFLOW = [sys.executable, "-m", "mailflow.cli"]
SECRETS = {
    "MAILFLOW_SECRET_KEYS": "soak-signing-key-1,soak-signing-key-0",
    "MAILFLOW_WEBHOOK_SECRET": "soak-webhook-secret",
    "MAILFLOW_API_TOKEN": "soak-api-token",
}
# The benches' lead platforms send every lead from one address: exempt from the intake limit
# (MAILFLOW_LEAD_LIMIT_PER_SENDER), as a deployment lists its own platforms.
LEAD_PLATFORMS = {"MAILFLOW_LEAD_LIMIT_TRUSTED_SENDERS": "@calculator.example,@sender.example"}


# A bare aiosmtpd sink in its own process (argv[1]: its port): counts messages, answers 250,
# prints "count N" on SIGTERM. The baseline of bench/intake.py and bench/outbound.py.
SINK = """
import signal, sys, threading
from aiosmtpd.controller import Controller

class Counting:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Counting.count += 1
        return "250 OK"

controller = Controller(Counting(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("sink listening", flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
controller.stop()
print("count", Counting.count, flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    return versions[-1] if versions else None


def missing_binaries(*, postgres: bool = True, redis: bool = True, smtp_source: bool = False):
    """Names of what is not installed (empty when everything needed is there)."""
    missing = []
    if postgres and (postgres_bindir() is None or not (postgres_bindir() / "initdb").exists()):
        missing.append("PostgreSQL (apt-get install postgresql)")
    if redis and shutil.which("redis-server") is None:
        missing.append("redis-server (apt-get install redis-server)")
    if smtp_source and smtp_source_path() is None:
        missing.append("smtp-source (apt-get install postfix)")
    return missing


def smtp_source_path() -> str | None:
    return shutil.which("smtp-source") or (
        "/usr/sbin/smtp-source" if os.path.exists("/usr/sbin/smtp-source") else None
    )


def machine() -> str:
    """The machine a figure was measured on: CPUs, memory, Python, PostgreSQL, Redis."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [
        f"nproc {os.cpu_count()}",
        f"{cpu}" if cpu else platform.machine(),
        f"memory {mem_kb / 1024 / 1024:.1f} GiB",
        f"Python {platform.python_version()}",
        f"{platform.system()} {platform.release()}",
    ]
    bindir = postgres_bindir()
    if bindir and (bindir / "postgres").exists():
        out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True)
        parts.append(out.stdout.decode().strip())
    if shutil.which("redis-server"):
        out = subprocess.run(["redis-server", "--version"], capture_output=True)
        parts.append(" ".join(out.stdout.decode().split()[:3]))
    return ", ".join(parts)


def rss_kb(pid: int, *, children: bool = True) -> int:
    """VmRSS of a process (and, recursively, of its children), in kB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
        if children:
            pids.extend(_children(current))
    return total


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids.extend(int(k) for k in (task / "children").read_text().split())
    except OSError:
        pass
    return kids


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, of its children that exited (reaped) and of its
    live children, recursively."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime stime cutime cstime are fields 14-17 (1-based); fields[0] is field 3
        total += sum(int(x) for x in fields[11:15]) / ticks
        pids.extend(_children(current))
    return total


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------------- PostgreSQL ------
class PostgresCluster:
    """A throw-away PostgreSQL cluster on a free loopback port. ``stop()`` + ``start()`` keeps
    the data (a real outage: connections are refused meanwhile); ``destroy()`` removes it."""

    def __init__(self, *, max_connections: int = 400) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bindir = bindir
        # Its own directory under /tmp: the postgres user must be able to reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="mailflow-pg-"))
        self.port = free_port()
        self.max_connections = max_connections
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.initialised = False

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as_user, *args], check=check, capture_output=True)

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def start(self) -> None:
        if not self.initialised:
            self._run(
                str(self.bindir / "initdb"),
                *("-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
                "--no-sync",
            )
            self.initialised = True
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={self.max_connections} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            *("-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w"),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every session is disconnected, new ones are refused until ``start()``."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if self.initialised:
            self._run(
                str(self.bindir / "pg_ctl"),
                *("-D", str(self.data), "-m", "immediate", "stop"),
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return postmaster_pid(self.data)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


# ------------------------------------------------------------------------- Redis -----------
class RedisServer:
    """``redis-server`` on its own port and directory, with an append-only file, so that
    wiping its data means something."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = root / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)),
                *("--appendonly", "yes", "--save", "60 1", "--protected-mode", "yes"),
                *("--daemonize", "no", "--loglevel", "warning"),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    def wipe(self) -> list[str]:
        """Delete the dump and append-only files; returns what was there."""
        removed = []
        for path in sorted(self.dir.rglob("*")):
            if path.is_file():
                removed.append(path.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        return removed

    def restart_wiped(self) -> list[str]:
        """Crash (SIGKILL), delete its data, start again on the same port."""
        self.kill()
        removed = self.wipe()
        self.start()
        return removed

    def stop(self) -> None:
        self.kill()


# ------------------------------------------------------------------------- mailflow --------
class Service:
    """One mailflow process (``mailflow <args>``) with its own log file."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], root: Path, metrics: bool = False
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.root = root
        # Its own /metrics (MAILFLOW_METRICS_LISTEN), for the processes other than web.
        self.metrics_port = free_port() if metrics else None
        if self.metrics_port:
            self.env = {**env, "MAILFLOW_METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}"}
        self.log_path = root / "logs" / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh log: readiness is detected by what the process prints.
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*MAILFLOW, *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.output()[-3000:]}")

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.output()[-3000:]}")

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def base_env(root: Path, **settings: str) -> dict[str, str]:
    """The parent's environment without its MAILFLOW_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "MAILFLOW_DATA_DIR": str(root / "data"),
            **SECRETS,
            **LEAD_PLATFORMS,
        }
    )
    env.update(settings)
    return env


def cli(env: dict[str, str], root: Path, *args: str, check: bool = True, timeout: float = 300):
    done = subprocess.run(
        [*MAILFLOW, *args], env=env, cwd=root, capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"mailflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


class Topology:
    """PostgreSQL, a Redis server and mailflow's processes, each on its own loopback port."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        smtp: int = 2,
        workers: int = 3,
        schedulers: int = 2,
        worker_threads: int = 4,
        sweep_interval: float = 0.5,
        extra_env: dict[str, str] | None = None,
        keep: bool = False,
    ) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="mailflow-topology-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.n_smtp, self.n_workers, self.n_schedulers = smtp, workers, schedulers
        self.worker_threads = worker_threads
        self.pg = PostgresCluster()
        self.redis = RedisServer(self.root)
        self.http_port = free_port()
        self.smtp_ports = [free_port() for _ in range(smtp)]
        self.maildir = self.root / "maildir"
        self.env = base_env(
            self.root,
            MAILFLOW_REDIS_URL=self.redis.url,
            MAILFLOW_HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
            MAILFLOW_BASE_URL=f"http://127.0.0.1:{self.http_port}",
            MAILFLOW_OUTBOUND_URL=f"maildir:{self.maildir}",
            MAILFLOW_SWEEP_INTERVAL=str(sweep_interval),
            MAILFLOW_WORKER_THREADS=str(worker_threads),
            **(extra_env or {}),
        )
        self.web: Service | None = None
        self.smtp: list[Service] = []
        self.workers: list[Service] = []
        self.schedulers: list[Service] = []
        self.retired: list[Service] = []
        self._worker_seq = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def database_dsn(self) -> str:
        return self.pg.dsn("mailflow")

    def start_backends(self) -> None:
        self.pg.start()
        self.env["MAILFLOW_DATABASE_URL"] = self.pg.create_database("mailflow")
        self.redis.start()
        self.cli("db", "upgrade")

    def start_services(self) -> None:
        self.web = Service("web", ["web"], self.env, self.root).start()
        for i, port in enumerate(self.smtp_ports):
            env = {**self.env, "MAILFLOW_SMTP_LISTEN": f"127.0.0.1:{port}"}
            self.smtp.append(
                Service(f"smtp{i + 1}", ["smtp"], env, self.root, metrics=True).start()
            )
        for _ in range(self.n_workers):
            self.start_worker()
        for i in range(self.n_schedulers):
            self.schedulers.append(
                Service(
                    f"scheduler{i + 1}", ["scheduler"], self.env, self.root, metrics=True
                ).start()
            )
        self.web.wait_http(self.base_url + "/healthz")
        for service in self.smtp:
            service.wait_for_output("SMTP intake listening")
        for service in self.workers:
            service.wait_for_output("worker running")
        for service in self.schedulers:
            if not service.alive():
                raise RuntimeError(f"{service.name} exited:\n{service.output()}")

    def start_worker(self) -> Service:
        self._worker_seq += 1
        service = Service(
            f"worker{self._worker_seq}",
            ["worker", "--threads", str(self.worker_threads)],
            self.env,
            self.root,
            metrics=True,
        ).start()
        self.workers.append(service)
        return service

    def kill_worker(self, index: int = 0) -> Service:
        """SIGKILL a worker (no clean-up of any kind) and start a replacement."""
        victim = self.workers.pop(index)
        victim.signal(signal.SIGKILL)
        victim.proc.wait(10)
        self.retired.append(victim)
        replacement = self.start_worker()
        replacement.wait_for_output("worker running")
        return victim

    def cli(self, *args: str, check: bool = True, timeout: float = 300):
        return cli(self.env, self.root, *args, check=check, timeout=timeout)

    def cli_async(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*MAILFLOW, *args],
            env=self.env,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def services(self) -> list[Service]:
        return [s for s in [self.web, *self.smtp, *self.workers, *self.schedulers] if s]

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for service in reversed(self.services()):
            codes[service.name] = service.stop()
        for service in self.retired:
            service.stop()
        self.redis.stop()
        self.pg.destroy()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        return codes

    def logs_tail(self, chars: int = 4000) -> str:
        out = []
        for service in [*self.services(), *self.retired]:
            text = service.output()
            out.append(f"--- {service.name} ---\n{text[-chars:]}")
        return "\n".join(out)
