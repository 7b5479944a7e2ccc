"""Answering an offer by email: the installer replies "accept" or "decline" (in English,
French, German or Polish) as the first word. The reply address ``reply+<token>@domain`` carries
a signed token naming the offer: it is the credential, valid while the offer is pending and
until its deadline. A reply sent to the plain intake address whose In-Reply-To/References names
our offer email is answered the same way (``handle_thread_reply``). The From must be the
installer, and the receiving MTA must not have found it forged (``reply_auth``: DMARC or SPF
failures refuse the reply); auto-replies never count."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain.intake import mime
from mailflow.domain.intake.replies import ACCEPT_WORDS, DECLINE_WORDS, ReplyOutcome, first_word
from mailflow.links import tokens
from mailflow.models import Installer, Offer, OfferStatus, OutboxMessage
from mailflow.outbound.emails import reply_refused_email
from mailflow.outbound.outbox import queue_email
from mailflow.routing import offers, reply_auth

log = logging.getLogger(__name__)


def handle_reply(
    session: Session,
    raw: bytes,
    token: str,
    *,
    is_auto_reply: bool,
    now: datetime,
    settings: Settings,
) -> ReplyOutcome:
    try:
        link = tokens.verify(session, settings, "reply", token, now=now)
    except tokens.LinkError as exc:
        return ReplyOutcome(False, f"reply address not valid: {exc}")
    offer = session.get(Offer, link.subject_id)
    if offer is None or offer.status != OfferStatus.OFFERED or now >= offer.deadline:
        state = "gone" if offer is None else offer.status.value
        if offer is not None and offer.status == OfferStatus.OFFERED:
            state = "past its deadline"
        return ReplyOutcome(False, f"reply address not valid: offer {link.subject_id} is {state}")
    if is_auto_reply:
        return ReplyOutcome(False, "auto-reply to an offer: not an answer")
    return answer_offer(session, raw, offer, link.installer_id, now=now, settings=settings)


def handle_thread_reply(
    session: Session, raw: bytes, answered: OutboxMessage, *, now: datetime, settings: Settings
) -> ReplyOutcome:
    """A reply whose In-Reply-To/References names a message we sent, arriving without the
    reply token (sent to the plain intake address). The Message-ID it names is only evidence
    (anyone who saw our mail can quote it): an offer is answered only as a token reply is,
    when the From is the installer the offer went to, the receiving MTA did not find it
    forged, and the offer is still open; anything else is only recorded."""
    if answered.template != "offer" or answered.lead_id is None or answered.installer_id is None:
        return ReplyOutcome(False, f"reply to our {answered.template} email #{answered.id}")
    offer = session.scalar(
        select(Offer)
        .where(Offer.lead_id == answered.lead_id, Offer.installer_id == answered.installer_id)
        .order_by(Offer.id.desc())
        .limit(1)
    )
    if offer is None or offer.status != OfferStatus.OFFERED or now >= offer.deadline:
        state = "gone" if offer is None else offer.status.value
        if offer is not None and offer.status == OfferStatus.OFFERED:
            state = "past its deadline"
        return ReplyOutcome(
            False, f"reply to our offer email #{answered.id}: the offer is {state}, not answered"
        )
    return answer_offer(session, raw, offer, answered.installer_id, now=now, settings=settings)


def answer_offer(
    session: Session,
    raw: bytes,
    offer: Offer,
    installer_id: int,
    *,
    now: datetime,
    settings: Settings,
) -> ReplyOutcome:
    """Accept or decline ``offer`` by the first word of a reply, if the reply is the
    installer's (From, and the receiving MTA's verdict)."""
    message, _ = mime.parse_bytes(raw)
    senders = [a.lower() for a in mime.addresses(message, "From")]
    installer = session.get(Installer, installer_id)
    if installer is None or installer.email.lower() not in senders:
        return ReplyOutcome(
            False,
            f"reply from {', '.join(senders) or 'nobody'}, "
            "not from the installer the offer went to: ignored",
        )
    verdict = reply_auth.check_sender(message, settings.authserv_id)
    if verdict.refused:
        log.warning(
            "reply to offer %s from %s refused: %s", offer.id, installer.email, verdict.reason
        )
        tell_installer_once(session, offer, installer, now=now, settings=settings)
        return ReplyOutcome(
            False,
            f"reply refused: the receiving server says the sender is forged: {verdict.reason}",
        )
    word = first_word(raw)
    try:
        if word in ACCEPT_WORDS:
            offers.accept(
                session, offer.id, installer.id, now=now, settings=settings, channel="email"
            )
            return ReplyOutcome(True, f"offer {offer.id} accepted by email")
        if word in DECLINE_WORDS:
            offers.decline(
                session,
                offer.id,
                installer.id,
                reason="other",
                note="declined by email reply",
                now=now,
                settings=settings,
                channel="email",
            )
            return ReplyOutcome(True, f"offer {offer.id} declined by email")
    except offers.OfferClosed as closed:
        return ReplyOutcome(False, f"offer {offer.id} can no longer be answered ({closed.code})")
    return ReplyOutcome(
        False, f"reply does not start with accept or decline (first word: {word!r})"
    )


def tell_installer_once(
    session: Session, offer: Offer, installer: Installer, *, now: datetime, settings: Settings
) -> None:
    """The installer learns (at their own address, once per offer) that a reply in their name
    was refused: their mail setup may be broken, or someone is forging their address."""
    told = session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.template == "reply_refused",
            OutboxMessage.lead_id == offer.lead_id,
            OutboxMessage.installer_id == installer.id,
        )
    )
    if told is None:
        queue_email(
            session, reply_refused_email(offer.lead_id, installer), now=now, settings=settings
        )
