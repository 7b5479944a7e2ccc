"""Problem pages: a link or form that cannot act gets a clear page in the reader's language,
with a 4xx (or 503) status, and nothing changes."""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from mailflow.i18n import gettext, negotiate
from mailflow.outbound.emails import N_
from mailflow.web.pages import render_page

PROBLEMS = {
    "invalid": (
        400,
        N_("This link is not valid"),
        N_("The link is incomplete or has been changed."),
        N_("Open the link from the email again, or sign in to your dashboard."),
    ),
    "expired": (
        410,
        N_("This link has expired"),
        N_("Links in our emails only work for a limited time."),
        N_("Sign in to your dashboard to see your leads."),
    ),
    "used": (
        409,
        N_("This link has already been used"),
        N_("Each of these links works only once."),
        N_("Sign in to your dashboard to see your leads."),
    ),
    "already_accepted": (
        409,
        N_("You have already accepted this lead"),
        N_("The lead is yours."),
        N_("Sign in to your dashboard to see the customer's contact details."),
    ),
    "already_declined": (
        409,
        N_("You have already declined this lead"),
        N_("It has gone to the next installer."),
        None,
    ),
    "taken": (
        409,
        N_("This lead is no longer available"),
        N_("Another installer has taken it, or it was withdrawn."),
        None,
    ),
    "taken_by_other": (
        409,
        N_("Another installer was quicker this time"),
        N_(
            "Nobody had answered for a while, so this lead was offered to several installers "
            "at once, and another installer accepted it first. Thank you for your quick "
            "interest: the next one may be yours."
        ),
        None,
    ),
    "offer_expired": (
        410,
        N_("Too late: the offer has expired"),
        N_("The deadline passed and the lead went to the next installer."),
        None,
    ),
    "revealed": (
        409,
        N_("Contact details already shown"),
        N_("For the customer's privacy they are shown only once by this link."),
        N_("Sign in to your dashboard to see them again."),
    ),
    "not_yours": (
        409,
        N_("This lead is no longer yours"),
        N_("It was given back, lapsed or reassigned, so this link no longer works."),
        N_("Sign in to your dashboard to see your leads."),
    ),
    "csrf": (
        403,
        N_("Please try again"),
        N_("The form was not sent from this page, or the page was open for too long."),
        N_("Open the link from the email again."),
    ),
    "too_large": (
        413,
        N_("Too much sent"),
        N_("What was sent is larger than this page accepts. Nothing was changed."),
        N_("Go back and send less, or a smaller file."),
    ),
    "too_slow": (
        408,
        N_("Sending took too long"),
        N_("The form did not arrive in time, so it was not read. Nothing was changed."),
        N_("Go back and send it again."),
    ),
    "unavailable": (
        503,
        N_("Temporarily unavailable"),
        N_("This service cannot answer right now. Nothing was changed."),
        N_("Please try again in a minute: the link stays valid."),
    ),
}


def problem(code: str, language: str | None) -> HTMLResponse:
    status, title, message, advice = PROBLEMS[code]
    lang = negotiate(None, language)
    return render_page(
        "links/problem.html",
        lang,
        status_code=status,
        title=gettext(lang, title),
        message=gettext(lang, message),
        advice=gettext(lang, advice) if advice else None,
    )
