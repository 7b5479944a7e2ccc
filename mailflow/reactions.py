"""Start-up wiring: what follows a domain event, in one table (Mailman's event subscribers),
installed into the unit of work by :func:`install` (nothing registers itself at import).

A transition returns its own effects; what belongs to another feature follows from its events
here, in table order. Each reaction is ``(uow, event) -> Outcome``.
"""

from __future__ import annotations

from mailflow.app import uow
from mailflow.app.emails import EMAILS
from mailflow.domain.events import (
    LeadAccepted,
    LeadAssigned,
    LeadClaimed,
    LeadCreated,
    LeadNeedsInstaller,
    LeadPooled,
    StatusRecorded,
)
from mailflow.installers.webhooks import lead_to_webhook
from mailflow.leads.created import route_new_lead
from mailflow.lifecycle.service import start_reminders
from mailflow.ratings.service import schedule_survey
from mailflow.routing.exchange import start_claim_reservation
from mailflow.routing.offers import (
    acceptance_emails,
    alert_admins,
    offer_waiting,
    on_lead_needs_installer,
)

REACTIONS = {
    # A new lead (not a duplicate, not held): its rotation starts once it is committed.
    LeadCreated: (route_new_lead,),
    # Back in rotation (declined, expired, released, lapsed, put back): the next installer.
    # An installer's slot is free again: waiting leads are offered, oldest first.
    LeadNeedsInstaller: (on_lead_needs_installer, offer_waiting),
    # Nobody can take it: the admins hear of it.
    LeadPooled: (alert_admins,),
    # A lead has a holder: the progress reminders start, the holder gets the contact details
    # (and, if they set a webhook, the lead goes to their own tools through the outbox).
    LeadAccepted: (start_reminders, acceptance_emails, lead_to_webhook, offer_waiting),
    LeadAssigned: (start_reminders, acceptance_emails, lead_to_webhook),
    # Claimed from the open exchange: reserved for two business days, contact details sent.
    LeadClaimed: (start_claim_reservation, acceptance_emails, lead_to_webhook),
    # An installation scheduled or done: the customer's survey is scheduled.
    StatusRecorded: (schedule_survey,),
}


def install() -> None:
    """Called by every entry point (web app, broker set-up); idempotent and cheap."""
    uow.install(REACTIONS, EMAILS)
