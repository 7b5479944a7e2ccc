"""Domain events: facts a transition reports so that other features can follow up.

Who follows up is listed in one place, ``mailflow.reactions.REACTIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeadCreated:
    lead_id: int
    status: str


@dataclass(frozen=True)
class OfferMade:
    offer_id: int
    lead_id: int
    installer_id: int


@dataclass(frozen=True)
class LeadPooled:
    """No installer can take the lead now (first time it reaches the pool)."""

    lead_id: int


@dataclass(frozen=True)
class LeadNeedsInstaller:
    """The lead is back in rotation (declined, expired, released, lapsed, put back)."""

    lead_id: int
    cause: str


@dataclass(frozen=True)
class LeadAccepted:
    lead_id: int
    installer_id: int
    offer_id: int
    via: str


@dataclass(frozen=True)
class LeadAssigned:
    """An admin gave the lead to an installer, as if they had accepted it."""

    lead_id: int
    installer_id: int
    by: str


@dataclass(frozen=True)
class LeadClaimed:
    """An installer claimed a lead of the open exchange: theirs as if accepted, reserved for
    two business days."""

    lead_id: int
    installer_id: int


@dataclass(frozen=True)
class StatusRecorded:
    lead_id: int
    installer_id: int
    status: str
