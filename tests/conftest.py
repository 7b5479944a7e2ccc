"""Shared fixtures.

Every test gets its own data directory and a freshly migrated database: SQLite by default, a
real PostgreSQL when ``MAILFLOW_TEST_POSTGRES=1`` (a throw-away cluster is started with
initdb/pg_ctl) or ``MAILFLOW_TEST_DATABASE_URL`` points at a server.

Actors run on Dramatiq's StubBroker inside the test process (``worker`` fixture runs a real
Dramatiq worker on it); end-to-end tests that start ``mailflow run`` use its embedded Redis.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
import time_machine
import uvicorn
from sqlalchemy import create_engine, text

from mailflow import config as mf_config
from mailflow import db as mf_db
from mailflow.migrate import upgrade
from mailflow.web.app import create_app
from mailflow.web.server import uvicorn_config
from support.broker import stub_broker
from support.database import use_postgres
from support.waiting import free_port, wait_for
from support.web import API_TOKEN, WEBHOOK_SECRET

# Fixtures shared by several test modules (``installer``, ``dovecot``, ``service_db``).
pytest_plugins = [
    "support.factories",
    "support.servers.dovecot",
    "support.servers.process",
]

# A test must not depend on today's date. MAILFLOW_TEST_CLOCK_OFFSET_DAYS=365 runs every test
# with the wall clock that far ahead (time-machine, ticking; a test's own travels nest inside),
# so a date written into a test that will pass shows up as a failure today rather than in a year.
# scripts/test runs the SQLite pass that way. Tests marked ``real_clock`` talk to a service in
# another process, which runs on the real clock, and are left alone.
CLOCK_OFFSET_DAYS = int(os.environ.get("MAILFLOW_TEST_CLOCK_OFFSET_DAYS", "0"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_clock: talks to a process on the real clock (no clock offset)"
    )


@pytest.fixture(autouse=True)
def clock_offset(request):
    if not CLOCK_OFFSET_DAYS or request.node.get_closest_marker("real_clock"):
        yield
        return
    with time_machine.travel(datetime.now(UTC) + timedelta(days=CLOCK_OFFSET_DAYS), tick=True):
        yield


# ---------------------------------------------------------------- PostgreSQL ---------------
class PostgresCluster:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) on a free loopback port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mailflow-pg-"))
        self.port = free_port()
        self.bindir = self._bindir()
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]

    @staticmethod
    def _bindir() -> Path:
        found = shutil.which("pg_ctl")
        if found:
            return Path(os.path.realpath(found)).parent
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not versions:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        return versions[-1]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True)

    def start(self) -> None:
        data = self.dir / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c max_connections=300 -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def postgres_server():
    """Base URL of a PostgreSQL server (started for the session when needed)."""
    given = os.environ.get("MAILFLOW_TEST_DATABASE_URL")
    if given:
        yield given
        return
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster.url()
    finally:
        cluster.stop()


_db_counter = itertools.count()


def _fresh_postgres_database(server_url: str) -> str:
    name = f"mf_test_{os.getpid()}_{next(_db_counter)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def database_url(request, tmp_path) -> str:
    if use_postgres():
        server = request.getfixturevalue("postgres_server")
        return _fresh_postgres_database(server)
    return f"sqlite:///{tmp_path / 'data' / 'mailflow.db'}"


# ---------------------------------------------------------------- settings -----------------
@pytest.fixture
def settings(tmp_path, monkeypatch, database_url):
    """Settings for a test: own data dir, own migrated database, fixed secrets."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for key in list(os.environ):
        if key.startswith("MAILFLOW_") and not key.startswith("MAILFLOW_TEST_"):
            monkeypatch.delenv(key)
    env = {
        "MAILFLOW_DATA_DIR": str(data_dir),
        "MAILFLOW_DATABASE_URL": database_url,
        "MAILFLOW_SECRET_KEYS": "test-key-new,test-key-old",
        "MAILFLOW_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MAILFLOW_API_TOKEN": API_TOKEN,
        "MAILFLOW_DEFAULT_COUNTRY": "FR",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    mf_config.reset_settings()
    mf_db.dispose_engines()
    settings = mf_config.get_settings()
    upgrade(settings)
    yield settings
    mf_db.dispose_engines()
    mf_config.reset_settings()


@pytest.fixture
def broker():
    stub_broker.flush_all()
    yield stub_broker
    stub_broker.flush_all()


@pytest.fixture
def worker(broker, settings):
    """A real Dramatiq worker on the stub broker, so actors run as they do in production."""
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def live_server(settings):
    """The web app served by a real uvicorn on a free loopback port (in a thread)."""

    port = free_port()
    server = uvicorn.Server(
        uvicorn_config(create_app(), settings, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
