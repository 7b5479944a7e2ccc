"""Admin sign-in rate limit, counted in the database before the password is checked.

Every attempt takes a slot first: at most ``PER_ACCOUNT`` per (email, client address) and
``PER_IP`` per client address (against password spraying) in a ``WINDOW``. The slot is taken
by one conditional ``UPDATE … WHERE attempts < limit``, which SQLite (one writer) and
PostgreSQL (the row lock, the condition checked again after a concurrent update commits) both
apply atomically: parallel guesses cannot get more checks than the limit, and every web
process shares the count. A successful sign-in clears the account's count and gives its slot
back to the address.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import is_postgres, session_scope
from mailflow.models import LoginThrottle, UTCDateTime

PER_ACCOUNT = 5
PER_IP = 20
WINDOW = timedelta(minutes=15)


def _key(*parts: str) -> str:
    # Hashed: fixed length, and no addresses or emails kept in this table.
    return hashlib.sha256("\0".join(parts).encode("utf-8", "replace")).hexdigest()


def _keys(email: str, ip: str) -> list[tuple[str, int]]:
    return [(_key("account", email, ip), PER_ACCOUNT), (_key("ip", ip), PER_IP)]


class _Full(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


def _insert(session: Session):
    return postgresql_insert if is_postgres(session) else sqlite_insert


def _take_slot(session: Session, key: str, limit: int, at: datetime) -> None:
    """One more attempt under ``key``, or ``_Full`` with the seconds until the window ends."""
    cutoff = type_coerce(at - WINDOW, UTCDateTime())
    at_value = type_coerce(at, UTCDateTime())
    insert = _insert(session)
    for _ in range(3):  # the row may vanish between the insert and the update (cleanup)
        session.execute(
            insert(LoginThrottle)
            .values(key=key, window_start=at, attempts=0)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        expired = LoginThrottle.window_start <= cutoff
        counted = session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key, or_(expired, LoginThrottle.attempts < limit))
            .values(
                attempts=case((expired, 1), else_=LoginThrottle.attempts + 1),
                window_start=case((expired, at_value), else_=LoginThrottle.window_start),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if counted == 1:
            return
        started = session.scalar(select(LoginThrottle.window_start).where(LoginThrottle.key == key))
        if started is not None:
            raise _Full((started + WINDOW - at).total_seconds())
    raise _Full(1)


def reserve(email: str, ip: str, at: datetime, settings: Settings | None = None) -> int | None:
    """Count this attempt; the seconds to wait when it is over the limit (nothing counted)."""
    try:
        with session_scope(settings) as session:
            session.execute(
                delete(LoginThrottle)
                .where(LoginThrottle.window_start <= type_coerce(at - 2 * WINDOW, UTCDateTime()))
                .execution_options(synchronize_session=False)
            )
            for key, limit in _keys(email, ip):  # always in this order: no deadlock
                _take_slot(session, key, limit, at)
    except _Full as full:  # the transaction is rolled back: no slot was taken
        return max(1, int(full.wait) + 1)
    return None


def succeeded(session: Session, email: str, ip: str) -> None:
    """In the sign-in's transaction: the account starts afresh, the address gets its slot
    back (so only failures count against it)."""
    (account, _), (address, _) = _keys(email, ip)
    session.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.key == account)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == address, LoginThrottle.attempts > 0)
        .values(attempts=LoginThrottle.attempts - 1)
        .execution_options(synchronize_session=False)
    )
