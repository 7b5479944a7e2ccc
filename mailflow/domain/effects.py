"""What a transition causes, returned rather than performed (the unit of work applies them).

A transition changes the rows it was given and returns an :class:`Outcome`: its own effects
(a timeline line, its timers, its emails, a job to run after commit) and the domain events
that other features react to (``mailflow.reactions`` lists who reacts to what).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailflow.domain.statuses import Actor


@dataclass(frozen=True)
class Record:
    """A line on the lead's timeline."""

    lead_id: int
    type: str
    actor: Actor = Actor.SYSTEM
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetTimer:
    """A durable timer: the scheduler acts on it once it is due."""

    kind: str
    due_at: datetime
    lead_id: int | None = None
    installer_id: int | None = None
    subject_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelTimers:
    """Pending timers of these kinds on the lead are cancelled."""

    lead_id: int
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class QueueEmail:
    """An email of this kind goes to the outbox (its composer builds links and text)."""

    kind: str
    lead_id: int | None = None
    installer_id: int | None = None
    subject_id: int | None = None
    to: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertAdmins:
    """Something the admins must hear of: stored, and sent in the next admin digest (at most
    one email per admin per interval, listing every alert)."""

    kind: str
    title: str
    message: str = ""
    lead_id: int | None = None


@dataclass(frozen=True)
class QueueWebhook:
    """The lead goes to its holder's own tools: a signed POST to their webhook, through the
    outbox (``via``: accepted, assigned or claimed)."""

    lead_id: int
    installer_id: int
    via: str


@dataclass(frozen=True)
class Enqueue:
    """A job, by name, sent to the broker once the transaction has committed."""

    job: str
    args: tuple = ()


@dataclass(frozen=True)
class RecordDecision:
    """A routing decision: the offer made, and every candidate's verdict (bounded)."""

    lead_id: int
    offer_id: int | None
    installer_id: int | None
    kind: str
    reason: str | None
    candidates: tuple[Mapping[str, Any], ...] = ()
    rest: Mapping[str, int] = field(default_factory=dict)


Effect = (
    Record
    | SetTimer
    | CancelTimers
    | QueueEmail
    | QueueWebhook
    | AlertAdmins
    | Enqueue
    | RecordDecision
)


@dataclass(frozen=True)
class Outcome:
    effects: tuple[Effect, ...] = ()
    events: tuple[object, ...] = ()

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.effects + other.effects, self.events + other.events)


NOTHING = Outcome()


def outcome(*items: object) -> Outcome:
    """An Outcome from effects and events in any order (events are the non-effect items)."""
    effects = tuple(i for i in items if isinstance(i, Effect))
    events = tuple(i for i in items if not isinstance(i, Effect))
    return Outcome(effects, events)
