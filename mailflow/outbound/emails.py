"""One function per email: each builds the template context from domain objects and returns
an :class:`EmailSpec` for :func:`mailflow.outbound.outbox.queue_email`.

Strings shown to the reader are marked with ``N_`` and translated when rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailflow.i18n import format_duration, format_number, gettext, pick_language
from mailflow.models import Installer, Lead
from mailflow.outbound.facts import project_facts, why_you
from mailflow.outbound.names import (
    N_,
    STATUS_NAMES,
    TIER_NAMES,
)

# Optional mail: what an installer can turn off (the weekly summary, the exchange's daily
# email). It carries its unsubscribe link in the body (the base layout shows
# ``unsubscribe_url``) and in ``List-Unsubscribe`` with RFC 8058 one-click
# (``List-Unsubscribe-Post``). Every other email is transactional (offers, acceptance, contact
# details, sign-in links, visits, reminders, surveys…) and carries no List-Unsubscribe: there
# is nothing to unsubscribe from.
# The roles of the admin console, as its invitation email names them.
ROLE_NAMES = {"admin": N_("admin"), "viewer": N_("viewer (read-only)")}
OPTIONAL_EMAILS = frozenset({"digest", "exchange_daily"})
UNSUBSCRIBE_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


def unsubscribe_headers(template: str, context: dict[str, Any]) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers of an optional email (none for a transactional one). The
    URL carries the signed token, so the mail client's one-click POST needs nothing else."""
    if template not in OPTIONAL_EMAILS:
        return {}
    url = context.get("unsubscribe_url")
    if not url or not str(url).startswith(("https://", "http://")):
        raise ValueError(f"the optional email {template!r} needs an absolute unsubscribe_url")
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@dataclass
class EmailSpec:
    to: str
    template: str
    language: str
    context: dict[str, Any]
    lead_id: int | None = None
    installer_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[dict] | None = None
    # "customer": the network's brand, legal footer and privacy link; never the installers'
    # tagline. "installer" (and admins): the platform as the network's people know it.
    audience: str = "installer"


def installer_language(installer: Installer) -> str:
    return pick_language(installer.language)


def offer_email(
    lead: Lead,
    installer: Installer,
    *,
    deadline: datetime,
    accept_url: str,
    decline_url: str,
    vacation_url: str | None = None,
    now: datetime | None = None,
    why: str | None = None,
    tier: str | None = None,
) -> EmailSpec:
    """``why``: the routing decision's reason code (``mailflow.domain.routing_why``), said in one
    line ("Why you: ..."); ``tier``: the installer's tier when it was made."""
    language = installer_language(installer)
    return EmailSpec(
        to=installer.email,
        template="offer",
        language=language,
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "lead_ref": lead.id,
            "project": project_facts(lead, language),
            "deadline": deadline,
            # How long the installer has to answer, counted from when the email is written.
            "time_left": format_duration(deadline - now, language) if now else None,
            "timezone": installer.timezone,
            "accept_url": accept_url,
            "decline_url": decline_url,
            "vacation_url": vacation_url,
            "why_you": why_you(why, tier or installer.tier, lead.postcode, language),
        },
    )


def offer_accepted_email(
    lead: Lead,
    installer: Installer,
    *,
    status_links: list[dict],
    dashboard_url: str | None = None,
    vacation_url: str | None = None,
) -> EmailSpec:
    language = installer_language(installer)
    return EmailSpec(
        to=installer.email,
        template="offer_accepted",
        language=language,
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "lead_ref": lead.id,
            "customer": {"name": lead.customer_name},
            "project": project_facts(lead, language),
            "status_links": status_links,
            "dashboard_url": dashboard_url,
            "vacation_url": vacation_url,
        },
    )


def contact_details_email(
    lead: Lead, installer: Installer, *, reveal_url: str, vacation_url: str | None = None
) -> EmailSpec:
    return EmailSpec(
        to=installer.email,
        template="contact_details",
        language=installer_language(installer),
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "lead_ref": lead.id,
            "reveal_url": reveal_url,
            "vacation_url": vacation_url,
        },
    )


def reminder_email(
    lead: Lead,
    installer: Installer,
    *,
    reason: str,
    status_links: list[dict],
    vacation_url: str | None = None,
    lead_url: str | None = None,
) -> EmailSpec:
    # The lead as the installer knows it: the customer's name and place once it is theirs.
    held = lead.assigned_installer_id == installer.id
    return EmailSpec(
        to=installer.email,
        template="reminder",
        language=installer_language(installer),
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "lead_ref": lead.id,
            "customer_name": lead.customer_name if held else None,
            "place": " ".join(p for p in (lead.postcode, lead.city) if p) if held else None,
            "reason": reason,
            "status_links": status_links,
            "vacation_url": vacation_url,
            "lead_url": lead_url,
            "status_form_url": f"{lead_url}#record" if lead_url else None,
        },
    )


def admin_alert_email(
    to: str, *, title: str, message: str, url: str | None = None, lead_id: int | None = None
) -> EmailSpec:
    return EmailSpec(
        to=to,
        template="admin_alert",
        language="en",
        lead_id=lead_id,
        context={"title": title, "message": message, "url": url},
    )


def admin_digest_email(to: str, *, alerts: list[dict], pool_url: str) -> EmailSpec:
    """The admins' digest: every alert since the last one (``title``, ``message``, ``url``)."""
    return EmailSpec(
        to=to,
        template="admin_digest",
        language="en",
        context={"alerts": alerts, "count": len(alerts), "pool_url": pool_url},
    )


def reservation_lapsed_email(lead: Lead, installer: Installer) -> EmailSpec:
    return EmailSpec(
        to=installer.email,
        template="reservation_lapsed",
        language=installer_language(installer),
        lead_id=lead.id,
        installer_id=installer.id,
        context={"installer_name": installer.name, "lead_ref": lead.id},
    )


def exchange_claim_lapsed_email(lead: Lead, installer: Installer) -> EmailSpec:
    return EmailSpec(
        to=installer.email,
        template="exchange_claim_lapsed",
        language=installer_language(installer),
        lead_id=lead.id,
        installer_id=installer.id,
        context={"installer_name": installer.name, "lead_ref": lead.id},
    )


def exchange_daily_email(
    installer: Installer, *, leads: list[Lead], total: int, dashboard_url: str, unsubscribe_url: str
) -> EmailSpec:
    """What the open exchange has in the installer's area: area, product and key figures of
    each lead, never who the customer is."""
    language = installer_language(installer)
    return EmailSpec(
        to=installer.email,
        template="exchange_daily",
        language=language,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "leads": [{"ref": lead.id, "project": project_facts(lead, language)} for lead in leads],
            "total": total,
            "more": max(total - len(leads), 0),
            "dashboard_url": dashboard_url,
            "unsubscribe_url": unsubscribe_url,
        },
    )


def reply_refused_email(lead_id: int, installer: Installer) -> EmailSpec:
    """An email reply to an offer in the installer's name failed sender authentication."""
    return EmailSpec(
        to=installer.email,
        template="reply_refused",
        language=installer_language(installer),
        lead_id=lead_id,
        installer_id=installer.id,
        context={"installer_name": installer.name, "lead_ref": lead_id},
    )


def deactivated_email(installer: Installer, *, signin_url: str) -> EmailSpec:
    return EmailSpec(
        to=installer.email,
        template="account_deactivated",
        language=installer_language(installer),
        installer_id=installer.id,
        context={"installer_name": installer.name, "signin_url": signin_url},
    )


def digest_email(
    installer: Installer, *, leads: list[Lead], open_offers: int, unsubscribe_url: str
) -> EmailSpec:
    language = installer_language(installer)
    return EmailSpec(
        to=installer.email,
        template="digest",
        language=language,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "leads": [
                {
                    "ref": lead.id,
                    "status": gettext(
                        language, STATUS_NAMES.get(lead.status.value, N_("In progress"))
                    ),
                    "place": " ".join(p for p in (lead.postcode, lead.city) if p),
                }
                for lead in leads
            ],
            "open_offers": open_offers,
            "unsubscribe_url": unsubscribe_url,
        },
    )


def offers_withdrawn_email(
    installer: Installer, *, leads: list[Lead], reason: str, dashboard_url: str
) -> EmailSpec:
    """The installer went on vacation or was deactivated: their open offers went to others."""
    return EmailSpec(
        to=installer.email,
        template="offers_withdrawn",
        language=installer_language(installer),
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "reason": reason,
            "count": len(leads),
            "leads": [
                {"ref": lead.id, "place": " ".join(p for p in (lead.postcode, lead.city) if p)}
                for lead in leads
            ],
            "dashboard_url": dashboard_url,
        },
    )


def signin_email(installer: Installer, *, signin_url: str) -> EmailSpec:
    return EmailSpec(
        to=installer.email,
        template="signin",
        language=installer_language(installer),
        installer_id=installer.id,
        context={"installer_name": installer.name, "signin_url": signin_url},
    )


def site_visit_email(
    lead: Lead,
    installer: Installer,
    visit,
    *,
    change: str,
    language: str,
    ics: str,
    method: str,
    for_installer: bool = False,
) -> EmailSpec:
    """The visit booked, moved or cancelled, with its invitation: to the customer (replies go
    to the installer), or the installer's own copy (``for_installer``: the customer's name and
    phone, in the installer's language)."""
    return EmailSpec(
        to=installer.email if for_installer else lead.email,
        template="site_visit",
        language=language,
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "for_installer": for_installer,
            "name": installer.name if for_installer else lead.customer_name,
            "customer_name": lead.customer_name or f"#{lead.id}",
            "customer_phone": lead.phone,
            "change": change,
            "company": installer.company or installer.name,
            "installer_name": installer.name,
            "installer_phone": installer.phone,
            "installer_email": installer.email,
            "starts_at": visit.starts_at,
            "timezone": installer.timezone,
            "address": visit.address,
            "note": visit.note,
        },
        headers={} if for_installer else {"Reply-To": installer.email},
        audience="installer" if for_installer else "customer",
        attachments=[
            {
                "content_type": "text/calendar",
                "filename": "invitation.ics",
                "content": ics,
                # RFC 5545 3.1.4 / RFC 6047 2.4: the charset and the iTIP method of the part.
                "params": {"charset": "utf-8", "method": method},
            }
        ],
    )


def visit_reminder_email(
    lead: Lead,
    installer: Installer,
    visit,
    *,
    to: str,
    language: str,
    for_installer: bool,
    tomorrow: bool = True,
) -> EmailSpec:
    return EmailSpec(
        to=to,
        template="site_visit_reminder",
        language=language,
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "name": installer.name if for_installer else lead.customer_name,
            "for_installer": for_installer,
            "tomorrow": tomorrow,
            "company": installer.company or installer.name,
            "installer_phone": installer.phone,
            "customer_name": lead.customer_name,
            "customer_phone": lead.phone,
            "starts_at": visit.starts_at,
            "timezone": installer.timezone,
            "address": visit.address,
        },
        audience="installer" if for_installer else "customer",
    )


def survey_email(
    lead: Lead, installer: Installer, *, url: str, language: str, reminder: bool
) -> EmailSpec:
    return EmailSpec(
        to=lead.email,
        template="survey",
        language=language,
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "customer_name": lead.customer_name,
            "company": installer.company or installer.name,
            "url": url,
            "reminder": reminder,
        },
        audience="customer",
    )


def rating_received_email(lead: Lead, installer: Installer, survey) -> EmailSpec:
    language = installer_language(installer)
    return EmailSpec(
        to=installer.email,
        template="rating_received",
        language=language,
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "lead_ref": lead.id,
            "service": survey.service,
            "installation": survey.installation,
            "communication": survey.communication,
            "comment": survey.comment,
            "stars": "★" * round(survey.average or 0) + "☆" * (5 - round(survey.average or 0)),
            "rating": format_number(installer.rating, language) if installer.rating else None,
        },
    )


ADVICE = {
    "rating": N_("happier customers: they rate service, installation and communication"),
    "acceptance": N_("accepting more of the leads you are offered"),
    "responsiveness": N_("answering offers faster (within two hours is best)"),
    "diligence": N_("recording your progress on every lead you accept"),
    "lapsed": N_("never letting a reservation lapse: record a status after accepting"),
}


def tier_changed_email(installer: Installer, change, advice: list[str]) -> EmailSpec:
    language = installer_language(installer)
    return EmailSpec(
        to=installer.email,
        template="tier_changed",
        language=language,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "old_tier": gettext(language, TIER_NAMES.get(change.old_tier, change.old_tier)),
            "new_tier": gettext(language, TIER_NAMES.get(change.new_tier, change.new_tier)),
            "score": format_number(change.score, language, digits=1),
            "advice": [gettext(language, ADVICE[a]) for a in advice if a in ADVICE],
            "higher": ["bronze", "silver", "gold"].index(change.new_tier)
            > ["bronze", "silver", "gold"].index(change.old_tier),
        },
    )


def admin_invitation_email(
    to: str, *, language: str, role: str, invited_by: str, url: str, hours: int
) -> EmailSpec:
    """An invitation to the admin console: a one-time link to choose a password."""
    return EmailSpec(
        to=to,
        template="admin_invitation",
        language=pick_language(language),
        context={
            "role": gettext(pick_language(language), ROLE_NAMES.get(role, role)),
            "invited_by": invited_by,
            "url": url,
            "hours": hours,
        },
    )


def admin_password_reset_email(to: str, *, language: str, url: str, hours: int) -> EmailSpec:
    """An admin's password reset: a one-time link to choose a new password."""
    return EmailSpec(
        to=to,
        template="admin_password_reset",
        language=pick_language(language),
        context={"url": url, "hours": hours},
    )


def return_decided_email(
    lead: Lead,
    installer: Installer,
    *,
    approved: bool,
    reason: str,
    outcome: str | None,
    dashboard_url: str | None = None,
) -> EmailSpec:
    """A bad-lead report was approved or rejected (#20); ``reason`` is a msgid of
    ``domain.returns.REASON_LABELS``, ``outcome`` where an approved report sent the lead
    ("rotation", "closed" or None when it had moved on already)."""
    language = installer_language(installer)
    return EmailSpec(
        to=installer.email,
        template="return_decided",
        language=language,
        lead_id=lead.id,
        installer_id=installer.id,
        context={
            "installer_name": installer.name,
            "lead_ref": lead.id,
            "approved": approved,
            "reason": gettext(language, reason),
            "outcome": outcome,
            "dashboard_url": dashboard_url,
        },
    )
