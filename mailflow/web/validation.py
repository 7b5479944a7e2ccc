"""The words of form validation on installer and customer pages: the features name what is
wrong with a field by a stable code (``"must be a positive number"``), the pages show it in the
reader's language, with examples written the way that language writes numbers."""

from __future__ import annotations

from babel.numbers import format_decimal

from mailflow.i18n import gettext, pick_language
from mailflow.outbound.emails import N_

FORM_ERRORS = {
    "choose": N_("Choose what happened."),
    "required": N_("Required."),
    "must be a positive number": N_("Enter a positive amount, e.g. %(example)s."),
    "must be a 3-letter currency code": N_("Enter a 3-letter currency code, e.g. EUR."),
    "must be in the future": N_("Choose a day after today."),
    "must be later than now": N_("Choose a day and time in the future."),
    "must be a date (YYYY-MM-DD)": N_("Enter a date."),
    "must be a time (HH:MM)": N_("Enter a time, e.g. 14:30."),
    "must be between 15 and 600 minutes": N_("Enter a duration between 15 and 600 minutes."),
    "choose 1 to 5 stars": N_("Choose from 1 to 5 stars."),
    "not possible now": N_("This lead can no longer be changed."),
    "must not be in the future": N_("The contact date cannot be in the future."),
    "must be a contact type": N_("Choose phone, email, visit or other."),
    "confirm": N_("Tick the box to confirm: this step cannot be undone."),
}
FIELD_NAMES = {
    "amount": N_("Amount"),
    "currency": N_("Currency"),
    "date": N_("Date"),
    "time": N_("Time"),
    "duration": N_("Duration (minutes)"),
    "address": N_("Address"),
    "note": N_("Note"),
    "reason": N_("Reason"),
}
# Shown when a feature names a problem this table does not know yet (never the English code).
UNKNOWN = N_("Please check this field.")


def error_text(code: str, language: str) -> str:
    """The message for a validation code, in ``language``."""
    language = pick_language(language)
    example = format_decimal(12500.5, format="#,##0.00", locale=language)
    return gettext(language, FORM_ERRORS.get(code, UNKNOWN), example=example)


def error_texts(errors: dict[str, str], language: str) -> dict[str, str]:
    return {name: error_text(code, language) for name, code in errors.items()}


def error_summary(errors: dict[str, str], language: str) -> str:
    """One line naming each bad field and what is wrong with it (``Date : Saisissez une
    date.``)."""
    language = pick_language(language)
    return "; ".join(
        gettext(
            language,
            N_("%(field)s: %(problem)s"),
            field=gettext(language, FIELD_NAMES[name]) if name in FIELD_NAMES else "",
            problem=error_text(code, language),
        ).lstrip(" :\u00a0\u202f")
        for name, code in errors.items()
    )
