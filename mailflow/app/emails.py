"""Composers: what a ``QueueEmail`` effect becomes. Each loads the rows by id, issues the signed
links the email carries (tokens are rows, written in the same transaction) and returns the
EmailSpec(s) that the unit of work puts in the outbox. One composer per email kind, in
:data:`EMAILS`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.domain import lead as states
from mailflow.domain.effects import QueueEmail
from mailflow.domain.returns import REASON_LABELS
from mailflow.i18n import gettext, pick_language
from mailflow.links import tokens
from mailflow.models import (
    AdminUser,
    Installer,
    Lead,
    LeadReturn,
    LeadStatus,
    Offer,
    SiteVisit,
    Survey,
    TierChange,
)
from mailflow.outbound import emails
from mailflow.outbound.emails import N_, EmailSpec
from mailflow.outbound.invitations import invitation, invitation_method, visit_zone

VISIT = "visit"
STEP_LABELS = {
    LeadStatus.CONTACT_ATTEMPTED: N_("Contact attempted"),
    LeadStatus.FIRST_CONTACT: N_("First contact made"),
    LeadStatus.QUOTE_SENT: N_("Quote sent"),
    LeadStatus.ORDER_PLACED: N_("Order placed"),
    LeadStatus.INSTALLATION_SCHEDULED: N_("Installation scheduled"),
    LeadStatus.INSTALLED: N_("Installed"),
    LeadStatus.FAILED: N_("Failed: the customer does not want to go on"),
    LeadStatus.FOLLOW_UP: N_("Remind me later"),
    states.RELEASE: N_("Give the lead back"),
    VISIT: N_("Book a site visit"),
}


def customer_language(lead: Lead) -> str:
    """The customer's language, or their country's when they gave none."""
    by_country = {"FR": "fr", "BE": "fr", "DE": "de", "AT": "de", "CH": "de", "PL": "pl"}
    return pick_language(lead.language, by_country.get((lead.country or "").upper()))


def step_label(step: str, language: str) -> str:
    return gettext(language, STEP_LABELS[step])


# ------------------------------------------------------------------ links ------------------
def status_links(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> list[dict]:
    """One signed link per sensible next step (status links work while the lead is theirs)."""
    language = emails.installer_language(installer)
    current = lead.status if lead.status in states.INSTALLER_TRANSITIONS else LeadStatus.ACCEPTED
    steps = list(states.next_steps(current))
    if lead.status in states.BOOKABLE:
        steps.insert(min(3, len(steps)), VISIT)
    signed = tokens.issue_set(
        session,
        settings,
        "status",
        [{"s": str(step)} for step in steps],
        now=now,
        subject_id=lead.id,
        installer_id=installer.id,
        lead_id=lead.id,
    )
    return [
        {
            "step": str(step),
            "label": step_label(step, language),
            "url": tokens.url(settings, "status", token),
        }
        for step, token in zip(steps, signed, strict=True)
    ]


def vacation_url(
    session: Session, installer: Installer, *, now: datetime, settings: Settings
) -> str:
    token = tokens.issue(
        session, settings, "vacation", now=now, subject_id=installer.id, installer_id=installer.id
    )
    return tokens.url(settings, "vacation", token)


def reply_address(session: Session, settings: Settings, offer: Offer, *, now: datetime) -> str:
    """``reply+<token>@domain``: answering the offer email by "accept"/"decline" works too.
    The token is the credential of such a reply, so it lives as long as the offer: it expires
    at the offer's deadline (and the reply handling refuses it once the offer is answered)."""
    token = tokens.issue(
        session,
        settings,
        "reply",
        now=now,
        subject_id=offer.id,
        installer_id=offer.installer_id,
        lead_id=offer.lead_id,
        lifetime=max(offer.deadline - now, timedelta(0)),
    )
    domain = settings.intake_address.rpartition("@")[2]
    return f"reply+{token}@{domain}"


# ------------------------------------------------------------------ composers --------------
def _rows(uow, effect: QueueEmail) -> tuple[Lead, Installer]:
    return uow.session.get(Lead, effect.lead_id), uow.session.get(Installer, effect.installer_id)


def offer(uow, effect: QueueEmail) -> EmailSpec:
    session, settings, now = uow.session, uow.settings, uow.now
    lead, installer = _rows(uow, effect)
    offer_row = session.get(Offer, effect.subject_id)

    def link(purpose: str) -> str:
        token = tokens.issue(
            session,
            settings,
            purpose,
            now=now,
            subject_id=offer_row.id,
            installer_id=installer.id,
            lead_id=lead.id,
        )
        return tokens.url(settings, purpose, token)

    why, tier = routing_reason(uow, offer_row, installer)
    spec = emails.offer_email(
        lead,
        installer,
        deadline=offer_row.deadline,
        accept_url=link("accept"),
        decline_url=link("decline"),
        vacation_url=vacation_url(session, installer, now=now, settings=settings),
        now=now,
        why=why,
        tier=tier or None,
    )
    spec.headers["Reply-To"] = reply_address(session, settings, offer_row, now=now)
    return spec


def routing_reason(uow, offer_row: Offer, installer: Installer) -> tuple[str, str]:
    """The reason code and the installer's tier of the routing decision that made the offer,
    recorded in this unit of work (empty for an offer made by hand)."""
    decision = uow.decisions.get(offer_row.id)
    if decision is None:
        return "", ""
    mine = next((c for c in decision.candidates if c.get("installer_id") == installer.id), {})
    return decision.reason or "", (mine.get("facts") or {}).get("tier") or ""


def offer_accepted(uow, effect: QueueEmail) -> EmailSpec:
    session, settings, now = uow.session, uow.settings, uow.now
    lead, installer = _rows(uow, effect)
    spec = emails.offer_accepted_email(
        lead,
        installer,
        status_links=status_links(session, lead, installer, now=now, settings=settings),
        dashboard_url=f"{settings.base_url.rstrip('/')}/dashboard/",
        vacation_url=vacation_url(session, installer, now=now, settings=settings),
    )
    spec.context["return_url"] = return_url(session, lead, installer, now=now, settings=settings)
    spec.context["return_hours"] = f"{settings.return_window_hours:g}"
    return spec


def return_url(
    session: Session, lead: Lead, installer: Installer, *, now: datetime, settings: Settings
) -> str:
    """The one-time link to report the lead as a bad lead (#20); it lasts the report window."""
    token = tokens.issue(
        session,
        settings,
        "return",
        now=now,
        subject_id=lead.id,
        installer_id=installer.id,
        lead_id=lead.id,
        lifetime=timedelta(hours=settings.return_window_hours),
    )
    return tokens.url(settings, "return", token)


def return_decided(uow, effect: QueueEmail) -> EmailSpec:
    """A bad-lead report was approved or rejected (``subject_id``: the LeadReturn)."""
    lead, installer = _rows(uow, effect)
    row = uow.session.get(LeadReturn, effect.subject_id)
    return emails.return_decided_email(
        lead,
        installer,
        approved=row.state == "approved",
        reason=REASON_LABELS.get(row.reason, row.reason),
        outcome=row.outcome,
        dashboard_url=f"{uow.settings.base_url.rstrip('/')}/dashboard/leads/{lead.id}",
    )


def contact_details(uow, effect: QueueEmail) -> EmailSpec:
    session, settings, now = uow.session, uow.settings, uow.now
    lead, installer = _rows(uow, effect)
    token = tokens.issue(
        session,
        settings,
        "reveal",
        now=now,
        subject_id=lead.id,
        installer_id=installer.id,
        lead_id=lead.id,
    )
    return emails.contact_details_email(
        lead,
        installer,
        reveal_url=tokens.url(settings, "reveal", token),
        vacation_url=vacation_url(session, installer, now=now, settings=settings),
    )


def reminder(uow, effect: QueueEmail) -> EmailSpec:
    """``data``: ``reason`` (a msgid), ``ref`` filled in, and an optional ``note`` appended."""
    session, settings, now = uow.session, uow.settings, uow.now
    lead, installer = _rows(uow, effect)
    reason = gettext(emails.installer_language(installer), effect.data["reason"], ref=lead.id)
    if effect.data.get("note"):
        reason += f"\n\n{effect.data['note']}"
    return emails.reminder_email(
        lead,
        installer,
        reason=reason,
        status_links=status_links(session, lead, installer, now=now, settings=settings),
        vacation_url=vacation_url(session, installer, now=now, settings=settings),
        lead_url=f"{settings.base_url.rstrip('/')}/dashboard/leads/{lead.id}",
    )


def reservation_lapsed(uow, effect: QueueEmail) -> EmailSpec:
    lead, installer = _rows(uow, effect)
    return emails.reservation_lapsed_email(lead, installer)


def admin_recipients(session: Session, settings: Settings) -> list[str]:
    """Every active admin, and ``MAILFLOW_ADMIN_EMAIL``."""
    recipients = list(
        session.scalars(
            select(AdminUser.email).where(AdminUser.active.is_(True), AdminUser.role == "admin")
        )
    )
    if settings.admin_email and settings.admin_email not in recipients:
        recipients.append(settings.admin_email)
    return recipients


def admin_alert(uow, effect: QueueEmail) -> list[EmailSpec]:
    """Every active admin (and ``MAILFLOW_ADMIN_EMAIL``) is told that a lead waits in the pool
    (at once; pool leads normally go into the admin digest, mailflow/routing/alerts.py)."""
    session, settings = uow.session, uow.settings
    lead = session.get(Lead, effect.lead_id)
    recipients = admin_recipients(session, settings)
    return [
        emails.admin_alert_email(
            to,
            title=f"Lead #{lead.id} is in the pool",
            message=(
                f"No installer can take lead #{lead.id} ({lead.product or 'unknown product'},"
                f" {lead.postcode} {lead.city or ''}, {lead.country}) right now. It will be "
                "offered again as soon as one becomes eligible, or assign it by hand."
            ),
            url=f"{settings.base_url.rstrip('/')}/admin/leads/{lead.id}",
            lead_id=lead.id,
        )
        for to in recipients
    ]


def site_visit(uow, effect: QueueEmail) -> EmailSpec:
    """``data["change"]``: booked, moved or cancelled; ``data["for"]``: ``installer`` for the
    installer's copy (their language, the customer's name and phone), else the customer's
    (the invitation says REQUEST or CANCEL; the installer's copy is a PUBLISH)."""
    lead, installer = _rows(uow, effect)
    visit = uow.session.get(SiteVisit, effect.subject_id)
    change = effect.data["change"]
    for_installer = effect.data.get("for") == "installer"
    language = emails.installer_language(installer) if for_installer else customer_language(lead)
    cancelled = change == "cancelled"
    ics = invitation(
        visit,
        lead,
        installer,
        language=language,
        now=uow.now,
        cancelled=cancelled,
        for_installer=for_installer,
    )
    return emails.site_visit_email(
        lead,
        installer,
        visit,
        change=change,
        language=language,
        ics=ics,
        method=invitation_method(cancelled=cancelled, for_installer=for_installer),
        for_installer=for_installer,
    )


def site_visit_reminder(uow, effect: QueueEmail) -> EmailSpec:
    """``data["for"]``: ``customer`` (to ``effect.to``) or ``installer``."""
    lead, installer = _rows(uow, effect)
    visit = uow.session.get(SiteVisit, effect.subject_id)
    for_installer = effect.data["for"] == "installer"
    zone = visit_zone(installer)
    return emails.visit_reminder_email(
        lead,
        installer,
        visit,
        to=installer.email if for_installer else effect.to,
        language=emails.installer_language(installer) if for_installer else customer_language(lead),
        for_installer=for_installer,
        # A reminder that fires late, on the day itself, must not say "tomorrow".
        tomorrow=visit.starts_at.astimezone(zone).date()
        == uow.now.astimezone(zone).date() + timedelta(days=1),
    )


def survey(uow, effect: QueueEmail) -> EmailSpec:
    """``data["reminder"]``: the second asking. The link opens the survey ``subject_id``."""
    session, settings = uow.session, uow.settings
    lead, installer = _rows(uow, effect)
    token = tokens.issue(
        session,
        settings,
        "survey",
        now=uow.now,
        subject_id=effect.subject_id,
        lead_id=lead.id,
        installer_id=installer.id,
    )
    return emails.survey_email(
        lead,
        installer,
        url=tokens.url(settings, "survey", token),
        language=customer_language(lead),
        reminder=effect.data["reminder"],
    )


def rating_received(uow, effect: QueueEmail) -> EmailSpec:
    lead, installer = _rows(uow, effect)
    return emails.rating_received_email(lead, installer, uow.session.get(Survey, effect.subject_id))


def tier_changed(uow, effect: QueueEmail) -> EmailSpec:
    """``subject_id``: the TierChange; ``data["advice"]``: what would raise the score."""
    installer = uow.session.get(Installer, effect.installer_id)
    change = uow.session.get(TierChange, effect.subject_id)
    return emails.tier_changed_email(installer, change, list(effect.data["advice"]))


def account_deactivated(uow, effect: QueueEmail) -> EmailSpec:
    """The installer was deactivated for silence: a sign-in link (30 days) reactivates them."""
    session, settings = uow.session, uow.settings
    installer = session.get(Installer, effect.installer_id)
    token = tokens.issue(
        session,
        settings,
        "signin",
        now=uow.now,
        subject_id=installer.id,
        installer_id=installer.id,
        lifetime=timedelta(days=30),
    )
    return emails.deactivated_email(installer, signin_url=tokens.url(settings, "signin", token))


def digest(uow, effect: QueueEmail) -> EmailSpec:
    """``data``: ``lead_ids`` waiting on the installer (in order) and the ``open_offers`` count;
    the link turns the digest off."""
    session, settings = uow.session, uow.settings
    installer = session.get(Installer, effect.installer_id)
    token = tokens.issue(
        session,
        settings,
        "vacation",
        now=uow.now,
        subject_id=installer.id,
        installer_id=installer.id,
        extra={"digest": "off"},
    )
    return emails.digest_email(
        installer,
        leads=[session.get(Lead, lead_id) for lead_id in effect.data["lead_ids"]],
        open_offers=effect.data["open_offers"],
        unsubscribe_url=tokens.url(settings, "vacation", token),
    )


def exchange_claim_lapsed(uow, effect: QueueEmail) -> EmailSpec:
    lead, installer = _rows(uow, effect)
    return emails.exchange_claim_lapsed_email(lead, installer)


def exchange_daily(uow, effect: QueueEmail) -> EmailSpec:
    """``data``: ``lead_ids`` listed (at most the daily limit) and the ``total`` available; the
    unsubscribe link turns this email off (a vacation-purpose token with ``exchange=off``)."""
    session, settings = uow.session, uow.settings
    installer = session.get(Installer, effect.installer_id)
    token = tokens.issue(
        session,
        settings,
        "vacation",
        now=uow.now,
        subject_id=installer.id,
        installer_id=installer.id,
        extra={"exchange": "off"},
    )
    return emails.exchange_daily_email(
        installer,
        leads=[session.get(Lead, lead_id) for lead_id in effect.data["lead_ids"]],
        total=effect.data["total"],
        dashboard_url=f"{settings.base_url.rstrip('/')}/dashboard/?tab=available",
        unsubscribe_url=tokens.url(settings, "vacation", token),
    )


def offers_withdrawn(uow, effect: QueueEmail) -> EmailSpec:
    session = uow.session
    return emails.offers_withdrawn_email(
        session.get(Installer, effect.installer_id),
        leads=[session.get(Lead, lead_id) for lead_id in effect.data["lead_ids"]],
        reason=effect.data["reason"],
        dashboard_url=f"{uow.settings.base_url.rstrip('/')}/dashboard/",
    )


EMAILS = {
    "offer": offer,
    "offer_accepted": offer_accepted,
    "contact_details": contact_details,
    "reminder": reminder,
    "reservation_lapsed": reservation_lapsed,
    "offers_withdrawn": offers_withdrawn,
    "admin_alert": admin_alert,
    "site_visit": site_visit,
    "site_visit_reminder": site_visit_reminder,
    "survey": survey,
    "rating_received": rating_received,
    "tier_changed": tier_changed,
    "account_deactivated": account_deactivated,
    "digest": digest,
    "exchange_daily": exchange_daily,
    "exchange_claim_lapsed": exchange_claim_lapsed,
    "return_decided": return_decided,
}
