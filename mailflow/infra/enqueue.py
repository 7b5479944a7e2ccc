"""Jobs enqueued by name, after commit.

Code below ``mailflow.jobs`` names a job (``"send_email"``) instead of importing its actor, so
it never imports Dramatiq and the features do not depend on the job layer. ``JOBS`` lists every
job with its queue; ``mailflow.jobs.broker.setup()`` declares an actor for each and installs the
``Dispatcher`` that sends the messages. The names are the actors' names, so messages already
in Redis stay valid.

``enqueue_on_commit(session, job, *args)`` remembers the message on the session and sends it
once the transaction has committed; a rollback forgets it. Should the broker be unreachable at
that moment nothing is lost: every job also has a durable row that the scheduler sweep picks up.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_KEY = "mailflow_after_commit"

# job name -> queue name
JOBS: dict[str, str] = {
    "process_inbound": "inbound",
    "process_inbound_batch": "inbound",
    "route_lead_job": "routing",
    "offer_waiting_job": "routing",
    "send_email": "outbound",
    "send_signin_link": "outbound",
    "run_import": "data",
}


class Dispatcher(Protocol):
    """What the job layer provides: sending a message for a job, and the queue depths."""

    def send(self, job: str, args: tuple, delay_ms: int | None = None) -> None: ...

    def queue_stats(self) -> list[dict]: ...


class JobsNotSetUp(RuntimeError):
    """A job was enqueued in a process that never set up its broker (``jobs.broker.setup``)."""


_dispatcher: Dispatcher | None = None


def install(dispatcher: Dispatcher | None) -> None:
    """Called by ``mailflow.jobs.broker.setup()`` (``None`` uninstalls it)."""
    global _dispatcher
    _dispatcher = dispatcher


def _installed() -> Dispatcher:
    if _dispatcher is None:
        raise JobsNotSetUp("no broker in this process: call mailflow.jobs.broker.setup() first")
    return _dispatcher


def send_now(job: str, *args, delay_ms: int | None = None) -> None:
    """Send a message for ``job`` now (not tied to a transaction); raises when the broker is
    unreachable."""
    if job not in JOBS:
        raise KeyError(f"unknown job {job!r}")
    _installed().send(job, args, delay_ms)


class IdOf:
    """A job argument that is a row's id, read after the commit: the row need not be written
    (flushed) when its job is enqueued."""

    __slots__ = ("row",)

    def __init__(self, row) -> None:
        self.row = row

    def __repr__(self) -> str:
        return f"IdOf({type(self.row).__name__} {self.row.id})"


def enqueue_on_commit(session: Session, job: str, *args) -> None:
    """Send a message for ``job`` once this transaction has committed (``IdOf(row)`` among
    ``args``: that row's id)."""
    if job not in JOBS:  # a typo fails here, in the transaction, not after the commit
        raise KeyError(f"unknown job {job!r}")
    session.info.setdefault(_KEY, []).append((job, args))


def queue_stats() -> list[dict]:
    """Depth of every queue (ready, delayed, dead), for the admin pages."""
    return _installed().queue_stats()


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    pending = session.info.pop(_KEY, [])
    for job, args in pending:
        args = tuple(a.row.id if isinstance(a, IdOf) else a for a in args)
        try:
            send_now(job, *args)
        except Exception as exc:  # the sweep will find the durable row
            log.warning(
                "could not enqueue %s%r (%s: %s); the sweep will pick it up",
                job,
                args,
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
