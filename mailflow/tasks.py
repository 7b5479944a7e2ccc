"""Enqueue only after commit.

``enqueue_on_commit(session, actor, *args)`` remembers the message on the session and sends it
to the broker once the transaction has committed; a rollback forgets it. Should the broker be
unreachable at that moment nothing is lost: every job also has a durable row that the
scheduler sweep picks up.
"""

from __future__ import annotations

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
        except Exception:  # the sweep will find the durable row
            log.warning(
                "could not enqueue %s%r; the sweep will pick it up",
                actor.actor_name,
                args,
                exc_info=True,
            )


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
