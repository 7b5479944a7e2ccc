"""What happens once a lead exists. Routing (offers) plugs in here; until then a new lead
waits in ``new``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from mailflow.models import Lead

_listeners: list[Callable[[Session, Lead], None]] = []


def on_lead_created(listener: Callable[[Session, Lead], None]) -> Callable[[Session, Lead], None]:
    _listeners.append(listener)
    return listener


def lead_created(session: Session, lead: Lead) -> None:
    """Called in the creating transaction; listeners enqueue their work on commit."""
    for listener in _listeners:
        listener(session, lead)
