"""The lead's state machine as explicit transition tables (pure; Warehouse's EmailStatus).

Every change of a lead's status goes through :func:`move`, checked against the table of whoever
moves it: installers record progress (Q CELLS step 3, LG steps 5–7); the system moves leads
through intake, rotation and expiry; admins assign, put back into rotation and close.
``release`` is an installer step rather than a status: the lead goes back to rotation
(``new`` → ``offered``/``pool``), a system move.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mailflow.domain.effects import CancelTimers, Outcome, Record, outcome
from mailflow.domain.events import LeadAssigned, LeadNeedsInstaller, LeadPooled
from mailflow.domain.statuses import Actor
from mailflow.domain.statuses import LeadStatus as S

# Statuses an installer records, and from where.
INSTALLER_STEPS = (
    S.CONTACT_ATTEMPTED,
    S.FIRST_CONTACT,
    S.QUOTE_SENT,
    S.ORDER_PLACED,
    S.INSTALLATION_SCHEDULED,
    S.INSTALLED,
    S.FAILED,
    S.FOLLOW_UP,
)
RELEASE = "released"
STEP_NAMES = frozenset({*INSTALLER_STEPS, RELEASE})

_EARLY = {S.CONTACT_ATTEMPTED, S.FIRST_CONTACT, S.QUOTE_SENT, S.FAILED, S.FOLLOW_UP, RELEASE}
INSTALLER_TRANSITIONS: dict[S, frozenset] = {
    S.ACCEPTED: frozenset(_EARLY | {S.ORDER_PLACED}),
    S.CONTACT_ATTEMPTED: frozenset(_EARLY | {S.ORDER_PLACED}),
    S.FIRST_CONTACT: frozenset(_EARLY - {S.CONTACT_ATTEMPTED} | {S.ORDER_PLACED}),
    S.QUOTE_SENT: frozenset({S.QUOTE_SENT, S.ORDER_PLACED, S.FAILED, S.FOLLOW_UP, RELEASE}),
    S.ORDER_PLACED: frozenset({S.INSTALLATION_SCHEDULED, S.INSTALLED, S.FAILED}),
    S.INSTALLATION_SCHEDULED: frozenset({S.INSTALLATION_SCHEDULED, S.INSTALLED, S.FAILED}),
    S.FOLLOW_UP: frozenset(
        {
            S.CONTACT_ATTEMPTED,
            S.FIRST_CONTACT,
            S.QUOTE_SENT,
            S.ORDER_PLACED,
            S.FAILED,
            S.FOLLOW_UP,
            RELEASE,
        }
    ),
    S.INSTALLED: frozenset(),
    S.FAILED: frozenset(),
}
# The system's own moves (intake, rotation, timers).
SYSTEM_TRANSITIONS: dict[S, frozenset] = {
    S.NEW: frozenset({S.OFFERED, S.POOL, S.DUPLICATE, S.QUARANTINED, S.HELD}),
    # Held for review (intake limit): an admin releases it (back to new: rotation) or rejects
    # it as spam (failed).
    S.HELD: frozenset({S.NEW, S.FAILED}),
    S.POOL: frozenset({S.OFFERED, S.NEW, S.POOL}),  # still nobody: stays in the pool
    S.OFFERED: frozenset({S.ACCEPTED, S.NEW, S.POOL, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.NEW, S.EXPIRED}),
    S.CONTACT_ATTEMPTED: frozenset({S.NEW, S.EXPIRED}),
    S.FIRST_CONTACT: frozenset({S.NEW, S.EXPIRED}),
    S.QUOTE_SENT: frozenset({S.NEW}),
    S.FOLLOW_UP: frozenset({S.NEW}),
}
# An admin may assign or put back into rotation any lead not installed, and close (fail) any
# lead neither installed nor failed already.
ADMIN_TRANSITIONS: dict[S, frozenset] = {
    status: frozenset({S.ACCEPTED, S.NEW} | ({S.FAILED} if status != S.FAILED else set()))
    for status in S
    if status != S.INSTALLED
}
_TABLES = {
    Actor.SYSTEM: SYSTEM_TRANSITIONS,
    Actor.INSTALLER: INSTALLER_TRANSITIONS,
    Actor.ADMIN: ADMIN_TRANSITIONS,
}
# Leads still here 8 weeks after creation expire (the dealer CRM's rule).
EXPIRING = frozenset({S.OFFERED, S.ACCEPTED, S.CONTACT_ATTEMPTED, S.FIRST_CONTACT})
# What the installer still works on (tabs of the dashboard).
IN_PROGRESS = frozenset(
    {S.CONTACT_ATTEMPTED, S.FIRST_CONTACT, S.QUOTE_SENT, S.ORDER_PLACED, S.INSTALLATION_SCHEDULED}
)
FINISHED = frozenset({S.INSTALLED, S.FAILED, S.EXPIRED})
# Where a site visit can be booked: while the installer holds the lead and works on it.
BOOKABLE = frozenset({*INSTALLER_TRANSITIONS} - FINISHED)

# What each step needs from the installer.
REQUIRED_FIELDS = {
    S.QUOTE_SENT: ("amount",),
    S.INSTALLATION_SCHEDULED: ("date",),
    S.FOLLOW_UP: ("date",),
}
OPTIONAL_FIELDS = {
    S.QUOTE_SENT: ("currency", "approved", "products"),
    S.FOLLOW_UP: ("note",),
    S.FAILED: ("reason",),
    S.INSTALLED: ("date",),
    RELEASE: ("reason",),
}


class Refused(Exception):
    """A step the transition table does not allow from the current status."""

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"a lead in {current!r} cannot go to {wanted!r}")
        self.current, self.wanted = current, wanted


def next_steps(current: S) -> list[str]:
    """The installer's possible next steps, in the order they are usually taken."""
    allowed = INSTALLER_TRANSITIONS.get(current, frozenset())
    order = [*INSTALLER_STEPS, RELEASE]
    return [step for step in order if step in allowed]


def check_installer_step(current: S, wanted: str) -> None:
    if wanted not in INSTALLER_TRANSITIONS.get(current, frozenset()):
        raise Refused(str(current), str(wanted))


def check_system_move(current: S, wanted: S) -> None:
    if wanted not in SYSTEM_TRANSITIONS.get(current, frozenset()):
        raise Refused(str(current), str(wanted))


class HasStatus(Protocol):
    status: S


def move(lead: HasStatus, wanted: S, *, by: Actor) -> None:
    """Change the lead's status if ``by``'s table allows it, else raise :class:`Refused` (and
    change nothing)."""
    if wanted not in _TABLES[by].get(lead.status, frozenset()):
        raise Refused(str(lead.status), str(wanted))
    lead.status = wanted


# ------------------------------------------------------------------ transitions -------------
PROGRESS_TIMERS = ("status_reminder", "reservation_lapse", "follow_up_reminder")


def pool(lead, *, at: datetime, offered_before: bool) -> Outcome:
    """Nobody can take the lead now: it waits in the pool (admins are told the first time)."""
    was_pool = lead.status == S.POOL
    move(lead, S.POOL, by=Actor.SYSTEM)
    lead.updated_at = at
    if was_pool:
        return Outcome()
    reason = "no eligible installer left" if offered_before else "no eligible installer"
    return outcome(Record(lead.id, "pool", data={"reason": reason}), LeadPooled(lead.id))


def wait(lead, *, at: datetime) -> Outcome:
    """Every installer who could take the lead is busy (open offers, capacity, caps): it stays
    new and waits its turn, offered oldest first as answers come in (no admin alert)."""
    if lead.waiting_since is not None:
        return Outcome()
    lead.waiting_since = at
    lead.updated_at = at
    return outcome(Record(lead.id, "waiting", data={"reason": "eligible installers are busy"}))


def release(lead, *, at: datetime, actor: Actor, reason: str) -> Outcome:
    """A held lead goes back to rotation (given back, lapsed reservation, admin)."""
    previous = lead.assigned_installer_id
    lead.assigned_installer_id = None
    move(lead, S.NEW, by=Actor.ADMIN if actor == Actor.ADMIN else Actor.SYSTEM)
    return outcome(
        Record(lead.id, "released", actor, {"reason": reason, "installer_id": previous}),
        LeadNeedsInstaller(lead.id, "released"),
    )


def assign(lead, installer, *, at: datetime, by: str) -> Outcome:
    """An admin gives the lead to an installer as if they had accepted it (the caller has
    withdrawn open offers and records the admin's timeline line)."""
    lead.assigned_installer_id = installer.id
    move(lead, S.ACCEPTED, by=Actor.ADMIN)
    lead.updated_at = lead.accepted_at = lead.status_changed_at = at
    return outcome(CancelTimers(lead.id, PROGRESS_TIMERS), LeadAssigned(lead.id, installer.id, by))
