"""Database engine and sessions. SQLite (embedded default) and PostgreSQL are both first-class."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from mailflow.config import Settings, get_settings
from mailflow.private_files import private_dir, private_file

_lock = threading.Lock()
_engines: dict[str, Engine] = {}

# Round trips to the database by what caused them (MAILFLOW_COUNT_STATEMENTS, for the benches):
# the job layer sets ``statement_label`` to the actor running in this thread.
statement_label: ContextVar[str] = ContextVar("statement_label", default="other")
_counts_lock = threading.Lock()
_statement_counts: dict[tuple[str, str], int] = {}


def statement_counts() -> dict[tuple[str, str], int]:
    """``{(label, kind): count}`` so far in this process; kind is ``statement`` (a cursor
    execution), ``begin``, ``commit``, ``rollback`` or ``checkout`` (a connection taken from
    the pool: PostgreSQL's pre-ping is one more round trip)."""
    with _counts_lock:
        return dict(_statement_counts)


def _counter(kind: str):
    def count(*_args, **_kwargs) -> None:
        key = (statement_label.get(), kind)
        with _counts_lock:
            _statement_counts[key] = _statement_counts.get(key, 0) + 1

    return count


def _count_statements(engine: Engine) -> None:
    for kind, name in (
        ("statement", "before_cursor_execute"),
        ("begin", "begin"),
        ("commit", "commit"),
        ("rollback", "rollback"),
    ):
        event.listen(engine, name, _counter(kind))
    event.listen(engine.pool, "checkout", _counter("checkout"))


def _sqlite_pragmas(dbapi_connection, _record, lock_timeout_ms: int = 15000) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web and SMTP threads read while a worker writes; busy_timeout makes
    # concurrent writers wait instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={lock_timeout_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # What is deleted or overwritten (an erased customer) is zeroed in the file, not left in
    # free space for anyone reading the file to find.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str, lock_timeout: float = 15.0) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": lock_timeout},
        )
        # SQLite has one writer at a time. Threads of this process queue for it on a Python
        # lock, handed over at once on commit; left to SQLite's busy handler they would poll
        # with growing sleeps and the write lock would sit idle in between (other processes
        # still wait through busy_timeout). A plain Lock: a request's session may be committed
        # by another thread than the one that began it (FastAPI dependencies).
        writer = threading.Lock()
        event.listen(
            engine,
            "connect",
            lambda conn, rec: _sqlite_pragmas(conn, rec, int(lock_timeout * 1000)),
        )

        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that a
        # read-then-write transaction takes the write lock up front (no upgrade deadlocks).
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        # Times each DBAPI connection took the writer lock, released once its COMMIT or
        # ROLLBACK is done (SQLAlchemy's commit event fires before the COMMIT).
        held: dict[int, int] = {}

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            if not writer.acquire(timeout=lock_timeout):
                raise sqlite3.OperationalError("database is locked (waited for this process)")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writer.release()
                raise
            key = id(conn.connection.dbapi_connection)
            held[key] = held.get(key, 0) + 1

        def _released_after(end):
            def wrapper(connection):  # the pool's proxy or the DBAPI connection itself
                try:
                    end(connection)
                finally:
                    raw = getattr(connection, "dbapi_connection", connection)
                    for _ in range(held.pop(id(raw), 0)):
                        writer.release()

            return wrapper

        engine.dialect.do_commit = _released_after(engine.dialect.do_commit)
        engine.dialect.do_rollback = _released_after(engine.dialect.do_rollback)

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"connect_timeout": 5},
    )


def _private_sqlite_file(url: str, settings: Settings) -> None:
    """The database holds the customers' personal data: 0600 in a 0700 directory, created so
    before SQLite creates it with the process umask's mode."""
    private_dir(settings.data_path)
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        if Path(database).parent.is_dir():
            private_file(Path(database))


def get_engine(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    url = settings.sqlalchemy_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                _private_sqlite_file(url, settings)
            engine = make_engine(url, settings.db_lock_timeout)
            if settings.count_statements:
                _count_statements(engine)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def session_factory(settings: Settings | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(settings), expire_on_commit=False)


@contextmanager
def session_scope(
    settings: Settings | None = None, *, connection: Connection | None = None
) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on error, always closes. With
    ``connection``, on a connection the caller holds (several transactions, one pool
    checkout)."""
    if connection is not None:
        session = Session(bind=connection, expire_on_commit=False)
    else:
        session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres(session_or_engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot serve us *right now*: refused or dropped
    connections (a restart, a failover), a full pool, SQLite's lock timeout, a deadlock or a
    serialization failure. Such errors are retried and logged in one line; anything else is a
    bug and keeps its traceback."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.TimeoutError):  # no connection free in the pool
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        # psycopg is loaded only by a PostgreSQL engine (the embedded default never needs its
        # ~10 MB): while it is not loaded, no error can be one of its own.
        psycopg = sys.modules.get("psycopg")
        if psycopg is not None and isinstance(current, psycopg.OperationalError):
            return True
        if isinstance(current, sqlite3.OperationalError):
            message = str(current).lower()
            return "locked" in message or "busy" in message or "unable to open" in message
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def describe_unavailable(exc: BaseException) -> str:
    """One line for the log: the exception's class and the first line of its message."""
    first_line = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line[:200]}"


def log_failure(logger, message: str, *args) -> None:
    """In an ``except`` block: one warning line when the database is unavailable (it is
    retried; a traceback per attempt during an outage only buries real bugs), the full
    traceback otherwise."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_unavailable(exc):
        logger.warning(message + ": database unavailable (%s)", *args, describe_unavailable(exc))
    else:
        logger.exception(message, *args)
