"""Enqueue only after commit.

``enqueue_on_commit(session, actor, *args)`` remembers the message on the session and sends it
to the broker once the transaction has committed; a rollback forgets it. Should the broker be
unreachable at that moment nothing is lost: every job also has a durable row that the
scheduler sweep picks up.
"""

from __future__ import annotations

import functools
import logging

import dramatiq
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_KEY = "mailflow_after_commit"


def enqueue_on_commit(session: Session, actor: dramatiq.Actor, *args, **kwargs) -> None:
    pending = session.info.setdefault(_KEY, [])
    pending.append((actor, args, kwargs))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    pending = session.info.pop(_KEY, [])
    for actor, args, kwargs in pending:
        try:
            actor.send(*args, **kwargs)
        except Exception as exc:  # the sweep will find the durable row
            log.warning(
                "could not enqueue %s%r (%s: %s); the sweep will pick it up",
                actor.actor_name,
                args,
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)


def retry_while_database_unavailable(fn):
    """For an actor's function: an outage of the database (see ``is_database_unavailable``)
    becomes ``dramatiq.Retry``, which the Retries middleware retries with its backoff and the
    worker does not log as a crash; this logs one line instead of a traceback. Any other error
    keeps its traceback."""
    from mailflow.db import describe_unavailable, is_database_unavailable

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            log.warning(
                "%s%r: database unavailable, retried later (%s)",
                fn.__name__,
                args,
                describe_unavailable(exc),
            )
            raise dramatiq.Retry(describe_unavailable(exc)) from exc

    return wrapper
