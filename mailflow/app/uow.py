"""The unit of work: applies what a transition returned, in the caller's transaction.

``apply(outcome)`` writes the effects in order (timeline lines, timers, emails and webhook
deliveries into the outbox, jobs to enqueue after commit), then runs the reactions listed for each domain event
(``mailflow.reactions``) and applies what they return in turn. The reactions are installed
once at start-up by ``mailflow.reactions.install`` (nothing registers itself at import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.clock import now as clock_now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain.effects import (
    AlertAdmins,
    CancelTimers,
    Enqueue,
    Outcome,
    QueueEmail,
    QueueWebhook,
    Record,
    RecordDecision,
    SetTimer,
)
from mailflow.infra import timers
from mailflow.infra.enqueue import enqueue_on_commit
from mailflow.models import (
    AdminAlert,
    Installer,
    Lead,
    LeadEvent,
    OutboxMessage,
    RoutingDecision,
    appends,
)
from mailflow.outbound.emails import EmailSpec
from mailflow.outbound.outbox import queue_email
from mailflow.outbound.webhooks import queue_webhook

MAX_DEPTH = 4

Reaction = Callable[["UnitOfWork", object], Outcome]
Composer = Callable[["UnitOfWork", QueueEmail], "EmailSpec | list[EmailSpec] | None"]


class NotWired(RuntimeError):
    """A unit of work ran before ``mailflow.reactions.install()``: reactions would be lost."""


@dataclass
class _Wiring:
    reactions: Mapping[type, tuple[Reaction, ...]]
    composers: Mapping[str, Composer]


_wiring: _Wiring | None = None


def install(reactions: Mapping[type, tuple[Reaction, ...]], composers: Mapping[str, Composer]):
    global _wiring
    _wiring = _Wiring(dict(reactions), dict(composers))


def installed() -> bool:
    return _wiring is not None


class UnitOfWork:
    """One transaction's session, settings and instant; applies outcomes to them."""

    def __init__(
        self, session: Session, settings: Settings, now: datetime, *, route_new_leads: bool = False
    ) -> None:
        if _wiring is None:
            raise NotWired(
                "mailflow.reactions.install() was not called: domain events would have no reactions"
            )
        self.session, self.settings, self.now = session, settings, now
        # A lead created in this transaction is routed in it (the inbound job, a background
        # worker), not by the routing job after commit (``mailflow.leads.created``).
        self.route_new_leads = route_new_leads
        # Rows made here that a later effect reads by id (the offer its email names): held, as
        # the session holds clean objects weakly and would read a dropped one again.
        self.kept: list[object] = []
        self.emails: list[OutboxMessage] = []
        # The routing decisions recorded here, by offer: the offer email says why from them.
        self.decisions: dict[int, RecordDecision] = {}

    def apply(self, outcome: Outcome, *, _depth: int = 0) -> None:
        if _depth > MAX_DEPTH:
            raise RuntimeError(f"reactions nested deeper than {MAX_DEPTH}: a loop? {outcome}")
        for effect in outcome.effects:
            self._apply_effect(effect)
        for event in outcome.events:
            for reaction in _wiring.reactions.get(type(event), ()):
                self.apply(reaction(self, event), _depth=_depth + 1)

    def _apply_effect(self, effect) -> None:
        match effect:
            case Record(lead_id, type_, actor, data):
                values = {"lead_id": lead_id, "type": type_, "at": self.now, "actor": actor}
                appends.add(self.session, LeadEvent, {**values, "data": dict(data)})
            case SetTimer():
                timers.schedule(
                    self.session,
                    effect.kind,
                    effect.due_at,
                    lead_id=effect.lead_id,
                    installer_id=effect.installer_id,
                    subject_id=effect.subject_id,
                    data=dict(effect.data),
                    now=self.now,
                )
            case CancelTimers(lead_id, kinds):
                timers.cancel(self.session, lead_id=lead_id, kinds=kinds, now=self.now)
            case QueueEmail():
                specs = _wiring.composers[effect.kind](self, effect)
                for spec in [] if specs is None else specs if isinstance(specs, list) else [specs]:
                    self.queue(spec)
            case QueueWebhook(lead_id, installer_id, via):
                lead = self.session.get(Lead, lead_id)
                installer = self.session.get(Installer, installer_id)
                if lead is not None and installer is not None:
                    queue_webhook(
                        self.session, lead, installer, via=via, now=self.now, settings=self.settings
                    )
            case AlertAdmins(kind, title, message, lead_id):
                self.session.add(
                    AdminAlert(
                        kind=kind,
                        title=title,
                        message=message,
                        lead_id=lead_id,
                        created_at=self.now,
                    )
                )
            case RecordDecision():
                if effect.offer_id is not None:
                    self.decisions[effect.offer_id] = effect
                values = {
                    "lead_id": effect.lead_id,
                    "offer_id": effect.offer_id,
                    "installer_id": effect.installer_id,
                    "at": self.now,
                    "kind": effect.kind,
                    "reason": effect.reason,
                    "candidates": [dict(c) for c in effect.candidates],
                    "rest": dict(effect.rest),
                }
                appends.add(self.session, RoutingDecision, values)
            case Enqueue(job, args):
                enqueue_on_commit(self.session, job, *args)
            case _:
                raise TypeError(f"not an effect: {effect!r}")

    def queue(self, spec: EmailSpec) -> OutboxMessage:
        row = queue_email(self.session, spec, now=self.now, settings=self.settings)
        self.emails.append(row)
        return row


@contextmanager
def unit_of_work(
    settings: Settings | None = None, now: datetime | None = None
) -> Iterator[UnitOfWork]:
    """A transaction (committed on success) with its unit of work."""
    settings = settings or get_settings()
    with session_scope(settings) as session:
        yield UnitOfWork(session, settings, now or clock_now())
