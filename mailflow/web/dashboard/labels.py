"""Words of the dashboard: tabs, statuses, events, step forms, notices."""

from __future__ import annotations

import logging
from datetime import timedelta

from mailflow.domain import lead as states
from mailflow.models import (
    Actor,
    LeadStatus,
)
from mailflow.outbound.emails import N_

log = logging.getLogger(__name__)


PREFIX = "/dashboard"
SESSION_COOKIE = "mf_installer"
SESSION_SALT = "mailflow.installer-session"
SESSION_LIFETIME = timedelta(days=30)
# Using the dashboard counts as activity (8 weeks without any → deactivated, §7); recorded at
# most this often.
ACTIVITY_EVERY = timedelta(hours=1)
LIST_LIMIT = 200
MAX_VACATION = timedelta(days=366)

LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "pl": "Polski"}
CURRENCY_OF_COUNTRY = {
    "PL": "PLN",
    "GB": "GBP",
    "CH": "CHF",
    "CZ": "CZK",
    "SE": "SEK",
    "DK": "DKK",
    "NO": "NOK",
    "HU": "HUF",
}

TABS = ("new", "progress", "follow_up", "finished", "available")
TAB_LABELS = {
    "new": N_("New"),
    "progress": N_("In progress"),
    "follow_up": N_("Follow-up"),
    "finished": N_("Finished"),
    # The open lead exchange: leads nobody took, for any installer of the area to claim.
    "available": N_("Available leads"),
}
STATUS_LABELS = {
    LeadStatus.NEW: N_("New"),
    LeadStatus.OFFERED: N_("Offered"),
    LeadStatus.POOL: N_("Waiting for an installer"),
    LeadStatus.ACCEPTED: N_("Accepted, no progress recorded yet"),
    LeadStatus.CONTACT_ATTEMPTED: N_("Contact attempted"),
    LeadStatus.FIRST_CONTACT: N_("First contact made"),
    LeadStatus.QUOTE_SENT: N_("Quote sent"),
    LeadStatus.ORDER_PLACED: N_("Order placed"),
    LeadStatus.INSTALLATION_SCHEDULED: N_("Installation scheduled"),
    LeadStatus.INSTALLED: N_("Installed"),
    LeadStatus.FAILED: N_("Failed"),
    LeadStatus.FOLLOW_UP: N_("Follow-up"),
    LeadStatus.EXPIRED: N_("Expired"),
    LeadStatus.DUPLICATE: N_("Duplicate"),
    LeadStatus.QUARANTINED: N_("Quarantined"),
    LeadStatus.HELD: N_("Held for review"),
}
EVENT_LABELS = {
    "intake": N_("Request received"),
    "duplicate": N_("Marked as a duplicate"),
    "offered": N_("Offered to you"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "offer_expired": N_("Offer expired"),
    "return_reported": N_("Reported as a bad lead"),
    "return_approved": N_("Bad-lead report approved"),
    "return_rejected": N_("Bad-lead report not approved"),
    "return_closed": N_("Closed as invalid"),
    "offer_withdrawn": N_("Offer withdrawn"),
    "contact_details_revealed": N_("Contact details shown"),
    "reminder": N_("Reminder sent"),
    "released": N_("Given back"),
    "expired": N_("Expired"),
    "email_bounced": N_("Email bounced"),
    "status": N_("Status recorded"),
    "exchange_claimed": N_("Claimed from the exchange"),
    "exchange_claim_lapsed": N_("Reservation lapsed: back in the exchange"),
    "reminder_skipped": N_("Reminder not sent: the visit had passed"),
    "site_visit_booked": N_("Site visit booked"),
    "site_visit_moved": N_("Site visit moved"),
    "site_visit_cancelled": N_("Site visit cancelled"),
    "site_visit_not_sent": N_("Visit invitation not sent: the customer has no email address"),
    "survey_sent": N_("Rating request sent to the customer"),
    "survey_reminder": N_("Rating request reminder sent"),
    "rated": N_("Rated by the customer"),
    "requeued": N_("Put back in line"),
    "pool": N_("Waiting for an installer"),
    "waiting": N_("Waiting for an installer"),
    "held": N_("Held for review"),
    "exchange_listed": N_("Listed in the lead exchange"),
    "exchange_opened": N_("Opened to the lead exchange"),
    "auto_reply": N_("Automatic reply received"),
    "email_reply": N_("Email reply received"),
    "erased": N_("Personal data erased"),
}
# An event kind this table does not know yet: a neutral word, never the raw kind.
OTHER_EVENT = N_("Update")
# Reasons the service writes itself (released, declined): shown in the reader's language; what
# an installer typed is shown as typed.
REASON_LABELS = {
    "given back by the installer": N_("given back by the installer"),
    "reservation lapsed: no progress recorded within two business days of the reminder": N_(
        "reservation lapsed: no progress recorded within two business days of the reminder"
    ),
    "no_capacity": N_("No capacity at the moment"),
    "out_of_area": N_("Outside my area"),
    "not_interested": N_("Not interested in this project"),
    "spam": N_("Looks like spam or a fake request"),
    "other": N_("Another reason"),
}
# Why the Available tab cannot offer a claim now (routing.exchange.claim_limit's reasons).
CLAIM_LIMITS = {
    "at capacity": N_(
        "You are at your capacity: record what happened with your leads to claim more."
    ),
    "daily cap reached": N_("You have reached your daily number of leads: claim again tomorrow."),
    "weekly cap reached": N_(
        "You have reached your weekly number of leads: claim again next week."
    ),
    "monthly cap reached": N_(
        "You have reached your number of leads for this month (or what pacing allows so far): "
        "claim again later."
    ),
}
ACTOR_LABELS = {
    Actor.INSTALLER: N_("You"),
    Actor.CUSTOMER: N_("Customer"),
    Actor.ADMIN: N_("Administrator"),
    Actor.SYSTEM: N_("mailflow"),
}
# The fields each step asks for in the status form (name, input type).
STEP_FIELDS: dict[str, list[tuple[str, str]]] = {
    LeadStatus.QUOTE_SENT: [
        ("amount", "amount"),
        ("currency", "currency"),
        ("approved", "checkbox"),
        ("products", "text"),
    ],
    LeadStatus.INSTALLATION_SCHEDULED: [("date", "date")],
    LeadStatus.INSTALLED: [("date", "date")],
    LeadStatus.FOLLOW_UP: [("date", "date"), ("note", "textarea")],
    LeadStatus.FAILED: [("reason", "textarea"), ("confirm", "checkbox")],
    states.RELEASE: [("reason", "textarea"), ("confirm", "checkbox")],
}
FIELD_LABELS = {
    (LeadStatus.QUOTE_SENT, "amount"): N_("Quote amount"),
    (LeadStatus.QUOTE_SENT, "currency"): N_("Currency"),
    (LeadStatus.QUOTE_SENT, "approved"): N_("The customer has accepted the quote"),
    (LeadStatus.QUOTE_SENT, "products"): N_("Products (modules, inverter, storage…)"),
    (LeadStatus.INSTALLATION_SCHEDULED, "date"): N_("Installation date"),
    (LeadStatus.INSTALLED, "date"): N_("Installation date (optional)"),
    (LeadStatus.FOLLOW_UP, "date"): N_("Remind me on"),
    (LeadStatus.FOLLOW_UP, "note"): N_("Note (optional)"),
    (LeadStatus.FAILED, "reason"): N_("Reason (optional)"),
    (states.RELEASE, "reason"): N_("Why are you giving it back? (optional)"),
    (LeadStatus.FAILED, "confirm"): N_(
        "Yes, the customer does not want to go on: close this lead for good."
    ),
    (states.RELEASE, "confirm"): N_(
        "Yes, give this lead back: it goes to another installer and leaves my dashboard."
    ),
}
# Steps that cannot be undone: shown in a danger style, confirmed by a required checkbox
# (checked by the server, so it works without JavaScript).
DESTRUCTIVE_STEPS = (LeadStatus.FAILED, states.RELEASE)
CONTACT_TYPE_LABELS = {
    "phone": N_("Phone"),
    "email": N_("Email"),
    "visit": N_("Visit"),
    "other": N_("Other"),
}
NOTICE_WEBHOOK_SECRET = N_(
    "Your webhook is saved. Copy its signing secret now: it is shown only this once."
)
NOTICES = {
    "saved": N_("Saved."),
    "released": N_("The lead has been given back and goes to another installer."),
    "reactivated": N_("Your account is active again: you will receive offers."),
    "vacation": N_("Your vacation is saved: no offers during that time."),
    "vacation_cleared": N_("Vacation cleared: you receive offers again."),
    "preferences": N_("Your preferences are saved."),
    "webhook": N_("Your webhook is saved: the leads you get are sent to it."),
    "webhook_removed": N_("Your webhook is removed: leads are no longer sent to it."),
    "reported": N_(
        "Your report is sent: an administrator will decide, and you will hear by email."
    ),
    "returned": N_(
        "Your report was approved at once: the lead no longer counts against your limits or "
        "your score."
    ),
    "claimed": N_(
        "The lead is yours: it is reserved for you for two business days. Record what happened "
        "by then, or it goes back to the exchange."
    ),
}
DEACTIVATED_BY_ADMIN = N_(
    "An administrator deactivated your account: you receive no offers, and only an "
    "administrator can reactivate it. Write to %(contact)s to ask why or to have it reactivated."
)
MESSAGES = {
    "signed_out": (
        403,
        N_("You are not signed in"),
        N_("Your session has ended. Sign in again to continue."),
    ),
    "csrf": (
        403,
        N_("Please try again"),
        N_("The form was not sent from this page, or the page was open for too long."),
    ),
    "claim_taken": (
        409,
        N_("Too late: this lead is no longer available"),
        N_("Another installer claimed it first, or it was given to someone meanwhile."),
    ),
    "claim_not_eligible": (
        403,
        N_("You cannot claim this lead"),
        N_("It is outside your service area, or your account does not receive leads right now."),
    ),
    "claim_at_capacity": (
        409,
        N_("You are at your capacity"),
        N_(
            "You hold as many leads and open offers as your capacity allows. Record what "
            "happened with your leads, then claim again."
        ),
    ),
    "claim_cap_reached": (
        409,
        N_("You have reached your limit of leads for now"),
        N_(
            "Your daily, weekly or monthly number of leads is reached (see Your limits on your "
            "dashboard). You can claim again when the period ends."
        ),
    ),
    "not_found": (
        404,
        N_("Lead not found"),
        N_("There is no lead with this number among your leads."),
    ),
}
