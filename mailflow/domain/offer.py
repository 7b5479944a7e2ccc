"""The offer's state machine: an offer is open until it is answered, expires or is withdrawn,
and then never changes again."""

from __future__ import annotations

from typing import Protocol

from mailflow.domain.statuses import OfferStatus as S

TRANSITIONS: dict[S, frozenset] = {
    S.OFFERED: frozenset({S.ACCEPTED, S.DECLINED, S.EXPIRED, S.WITHDRAWN}),
}


class Refused(Exception):
    """An offer move the table does not allow (the offer was answered already)."""

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"an offer in {current!r} cannot go to {wanted!r}")
        self.current, self.wanted = current, wanted


class HasStatus(Protocol):
    status: S


def move(offer: HasStatus, wanted: S) -> None:
    if wanted not in TRANSITIONS.get(offer.status, frozenset()):
        raise Refused(str(offer.status), str(wanted))
    offer.status = wanted
