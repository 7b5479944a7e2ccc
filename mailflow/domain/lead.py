"""The lead's state machine as explicit transition tables (pure; Warehouse's EmailStatus).

Every change of a lead's status goes through :func:`move`, checked against the table of whoever
moves it: installers record progress (Q CELLS step 3, LG steps 5–7); the system moves leads
through intake, rotation and expiry; admins assign, put back into rotation and close.
``release`` is an installer step rather than a status: the lead goes back to rotation
(``new`` → ``offered``/``pool``), a system move.

The open lead exchange (Q CELLS "bourse aux leads") is not a status of its own: a lead in the
``pool`` is *in the exchange* while its ``exchange_since`` is set (PRODUCT.md's status names
stay as they are). It gets there when nobody took it within its rotation (:func:`pool`), when
an admin opens it (:func:`open_to_exchange`) or when a claim lapses (:func:`claim_lapsed`);
any move out of the pool takes it out of the exchange. An installer's claim is ``pool`` →
``accepted`` (:func:`claim`), reserved for two business days: without a status recorded by
then it goes back (``accepted`` → ``pool``, :func:`claim_lapsed`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mailflow.domain.effects import CancelTimers, Outcome, Record, outcome
from mailflow.domain.events import LeadAssigned, LeadClaimed, LeadNeedsInstaller, LeadPooled
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
    # Still nobody: stays in the pool; claimed from the exchange: accepted.
    S.POOL: frozenset({S.OFFERED, S.NEW, S.POOL, S.ACCEPTED}),
    S.OFFERED: frozenset({S.ACCEPTED, S.NEW, S.POOL, S.EXPIRED}),
    # A claim from the exchange that lapsed goes back to the exchange (pool).
    # An approved bad-lead report (#20, automatic rules) puts a held lead back into rotation
    # (new) or closes it as invalid (failed) when its data was fake: see :func:`returned`.
    S.ACCEPTED: frozenset({S.NEW, S.EXPIRED, S.POOL, S.FAILED}),
    S.CONTACT_ATTEMPTED: frozenset({S.NEW, S.EXPIRED, S.FAILED}),
    S.FIRST_CONTACT: frozenset({S.NEW, S.EXPIRED, S.FAILED}),
    S.QUOTE_SENT: frozenset({S.NEW, S.FAILED}),
    S.FOLLOW_UP: frozenset({S.NEW, S.FAILED}),
}
# An admin may assign or put back into rotation any lead not installed, and close (fail) any
# lead neither installed nor failed already; a lead nobody holds yet may be opened to the
# exchange (pool).
OPENABLE = frozenset({S.NEW, S.OFFERED, S.POOL})
ADMIN_TRANSITIONS: dict[S, frozenset] = {
    status: frozenset(
        {S.ACCEPTED, S.NEW}
        | ({S.FAILED} if status != S.FAILED else set())
        | ({S.POOL} if status in OPENABLE else set())
    )
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
    if wanted != S.POOL and getattr(lead, "exchange_since", None) is not None:
        # Out of the pool, out of the exchange.
        lead.exchange_since = lead.exchange_reason = lead.exchange_lapsed_installer_id = None


# ------------------------------------------------------------------ transitions -------------
PROGRESS_TIMERS = ("status_reminder", "reservation_lapse", "follow_up_reminder", "claim_lapse")


def in_exchange(lead) -> bool:
    return lead.status == S.POOL and getattr(lead, "exchange_since", None) is not None


def _enter_exchange(lead, at: datetime, reason: str) -> Record:
    lead.exchange_since, lead.exchange_reason = at, reason
    return Record(lead.id, "exchange_listed", data={"reason": reason})


def pool(lead, *, at: datetime, offered_before: bool) -> Outcome:
    """Nobody can take the lead now: it waits in the pool, listed in the exchange (admins are
    told the first time)."""
    was_pool = lead.status == S.POOL
    move(lead, S.POOL, by=Actor.SYSTEM)
    lead.updated_at = at
    if was_pool:
        if getattr(lead, "exchange_since", None) is None:
            return outcome(_enter_exchange(lead, at, "rotation"))
        return Outcome()
    reason = "no eligible installer left" if offered_before else "no eligible installer"
    lead.exchange_since, lead.exchange_reason = at, "rotation"
    # One timeline line: in the pool, and so listed in the exchange.
    return outcome(
        Record(lead.id, "pool", data={"reason": reason, "exchange": "listed"}), LeadPooled(lead.id)
    )


class NotInExchange(Exception):
    """The lead is no longer in the exchange (claimed by someone else, re-offered, closed)."""


def open_to_exchange(lead, *, at: datetime, by: str) -> Outcome:
    """An admin opens a lead nobody holds to the exchange (the caller withdrew open offers)."""
    if lead.status not in OPENABLE:
        raise Refused(str(lead.status), "exchange")
    move(lead, S.POOL, by=Actor.ADMIN)
    lead.updated_at = at
    listed = _enter_exchange(lead, at, "admin")
    return outcome(Record(lead.id, "exchange_opened", Actor.ADMIN, {"by": by}), listed)


def claim(lead, installer, *, at: datetime) -> Outcome:
    """An installer claims a lead of the exchange: it is theirs as if accepted, reserved until
    the claim lapses (the ``claim_lapse`` timer its reaction sets)."""
    if not in_exchange(lead):
        raise NotInExchange(lead.id)
    listed_since = lead.exchange_since
    move(lead, S.ACCEPTED, by=Actor.SYSTEM)
    lead.assigned_installer_id = installer.id
    lead.updated_at = lead.accepted_at = lead.status_changed_at = at
    installer.last_action_at = at
    return outcome(
        CancelTimers(lead.id, PROGRESS_TIMERS),
        Record(
            lead.id,
            "exchange_claimed",
            Actor.INSTALLER,
            {"installer": installer.email, "listed_since": listed_since.isoformat()},
        ),
        LeadClaimed(lead.id, installer.id),
    )


def claim_lapsed(lead, installer_email: str, *, at: datetime) -> Outcome:
    """No status recorded within the claim's reservation: the lead goes back to the exchange."""
    lapsed_installer = lead.assigned_installer_id
    lead.assigned_installer_id = None
    move(lead, S.POOL, by=Actor.SYSTEM)
    lead.updated_at = lead.status_changed_at = at
    lead.exchange_lapsed_installer_id = lapsed_installer
    return outcome(
        CancelTimers(lead.id, PROGRESS_TIMERS),
        Record(
            lead.id,
            "exchange_claim_lapsed",
            data={
                "installer": installer_email,
                "reason": "no status recorded within 2 business days",
            },
        ),
        _enter_exchange(lead, at, "claim_lapsed"),
    )


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


def returned(lead, *, at: datetime, actor: Actor, close: bool, reason: str) -> Outcome:
    """An approved bad-lead report (#20): the lead leaves its holder and goes back to rotation
    (``LeadNeedsInstaller``: the next installer; the reporter was offered it already, so never
    again), or is closed as invalid (fake data). ``actor`` is the admin who approved it or the
    system (an automatic rule)."""
    previous = lead.assigned_installer_id
    by = Actor.ADMIN if actor == Actor.ADMIN else Actor.SYSTEM
    data = {"reason": reason, "installer_id": previous}
    if close:
        move(lead, S.FAILED, by=by)
        lead.updated_at = lead.status_changed_at = at
        lead.progress = {**(lead.progress or {}), "failed_reason": reason}
        return outcome(
            CancelTimers(lead.id, PROGRESS_TIMERS),
            Record(lead.id, "return_closed", actor, data),
        )
    lead.assigned_installer_id = None
    move(lead, S.NEW, by=by)
    lead.updated_at = lead.status_changed_at = at
    return outcome(
        CancelTimers(lead.id, PROGRESS_TIMERS),
        Record(lead.id, "released", actor, data),
        LeadNeedsInstaller(lead.id, "released"),
    )
