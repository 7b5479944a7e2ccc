"""The admin's lead page as a story: the timeline in sentences, the progress and the details
as labelled fields, in the admin's language and time zone.

Pure functions over the events' data (no database, no request): the page loads the events and
the installers they name, and these turn them into text. Words come from the tables the
installers' pages and the emails already use (``outbound.names``, ``web.dashboard.labels``);
an event kind no sentence knows yet reads as its label and its values in words, never as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, get_currency_symbol

from mailflow.clock import as_utc
from mailflow.domain.returns import REASON_LABELS as RETURN_REASONS
from mailflow.i18n import format_duration, translations
from mailflow.outbound.facts import detail_fact
from mailflow.outbound.names import (
    BUILDING_NAMES,
    GRID_NAMES,
    N_,
    PRODUCT_NAMES,
    STATUS_NAMES,
    TIER_NAMES,
)
from mailflow.web.dashboard.labels import (
    CONTACT_TYPE_LABELS,
    EVENT_LABELS,
    REASON_LABELS,
)

TEXT_LIMIT = 500  # a value typed by someone (a reason, a note) is cut to this on the page
# "gold, 0 offers in 30 days, serves 75; 2 other eligible" (domain/routing.choose)
LABEL_ONLY = ("reminder_skipped", "site_visit_not_sent", "survey_sent", "survey_reminder")
_ROUTING_REASON = re.compile(r"^(bronze|silver|gold), (\d+) offers? in 30 days")


@dataclass(frozen=True)
class Installer:
    """What a sentence says of an installer the events name (by email or by id)."""

    name: str
    email: str = ""
    tier: str = ""


@dataclass(frozen=True)
class Sentence:
    at: datetime
    actor: str  # system, installer, customer, admin
    by: str  # who, when an admin did it (their email); "" otherwise
    kind: str  # the event's type
    text: str


class Words:
    """Translations and formats of one language and time zone."""

    def __init__(self, language: str, zone: ZoneInfo) -> None:
        self.language, self.zone = language, zone
        self._tr = translations(language)

    def _(self, message: str, **params: Any) -> str:
        text = self._tr.gettext(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        return self._tr.ngettext(singular, plural, n) % {"n": n, **params}

    def when(self, value: Any, *, near: datetime | None = None) -> str:
        """``Wed 12:15`` (a day and month too when it is not within a week of ``near``)."""
        instant = _instant(value)
        if instant is None:
            return str(value or "")
        local = instant.astimezone(self.zone)
        close = near is not None and abs(instant - as_utc(near)) < timedelta(days=6)
        pattern = "EEE HH:mm" if close else "EEE d MMM yyyy HH:mm"
        return format_datetime(local, pattern, locale=self.language)

    def day(self, value: Any) -> str:
        try:
            return format_date(date.fromisoformat(str(value)[:10]), "medium", locale=self.language)
        except ValueError:
            return _clip(value)

    def money(self, amount: Any, currency: Any) -> str:
        """``12,500 €`` (cents only when there are some)."""
        code = str(currency or "EUR").upper()[:3]
        try:
            number = float(amount)
            pattern = "#,##0" if number == int(number) else "#,##0.00"
            text = format_decimal(number, pattern, locale=self.language)
            return f"{text} {get_currency_symbol(code, locale=self.language)}"
        except (TypeError, ValueError, OverflowError):
            return f"{_clip(amount)} {code}".strip()

    def yes_no(self, value: Any) -> str:
        return self._("yes") if value else self._("no")

    def reason(self, value: Any) -> str:
        """A reason the service wrote itself in the reader's language; one typed, as typed."""
        text = _clip(value)
        label = REASON_LABELS.get(text)
        return self._(label) if label else text.replace("_", " ")

    def status(self, value: Any) -> str:
        label = STATUS_NAMES.get(str(value))
        return self._(label) if label else str(value or "").replace("_", " ")

    def values(self, data: Mapping[str, Any], skip: Iterable[str] = ()) -> str:
        """``annual consumption kwh: 4200, storage: yes`` — values in words, never JSON."""
        skipped = {"by", *skip}
        parts = []
        for key, value in sorted(data.items()):
            if key in skipped or value in (None, "", [], {}):
                continue
            parts.append(
                self._("%(name)s: %(value)s", name=key.replace("_", " "), value=self.value(value))
            )
        return ", ".join(parts)

    def value(self, value: Any) -> str:
        if isinstance(value, bool):
            return self.yes_no(value)
        if isinstance(value, Mapping):
            return "; ".join(
                f"{str(k).replace('_', ' ')} {self.value(v)}" for k, v in value.items() if v
            )[:TEXT_LIMIT]
        if isinstance(value, list | tuple):
            return ", ".join(self.value(v) for v in value)[:TEXT_LIMIT]
        return _clip(value)


def _clip(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split())[:TEXT_LIMIT]


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ timeline ----------------
def timeline(
    events: Iterable[Any],
    *,
    installers: Mapping[Any, Installer],
    language: str,
    zone: ZoneInfo,
) -> list[Sentence]:
    """The events (objects with ``type``, ``at``, ``actor`` and ``data``) as sentences, in
    their order. ``installers`` maps lower-case emails and ids to the installers named."""
    words = Words(language, zone)
    offered_at: dict[Any, datetime] = {}
    sentences = []
    for event in events:
        data = event.data if isinstance(event.data, Mapping) else {}
        if event.type == "offered" and data.get("offer_id") is not None:
            offered_at[data["offer_id"]] = event.at
        try:
            text = _sentence(words, event, data, installers, offered_at)
        except Exception:  # odd data recorded long ago: the generic sentence, never a 500
            text = _generic(words, event.type, data)
        actor = getattr(event.actor, "value", str(event.actor))
        by = _clip(data.get("by")) if data.get("by") else ""  # an admin's email
        sentences.append(Sentence(event.at, actor, by, str(event.type), text))
    return sentences


def _who(installers: Mapping[Any, Installer], data: Mapping[str, Any]) -> Installer | None:
    email = data.get("installer")
    if isinstance(email, str) and email:
        return installers.get(email.strip().lower()) or Installer(name=email, email=email)
    ident = data.get("installer_id")
    if ident is not None:
        return installers.get(ident)
    return None


def _name(words: Words, installers: Mapping[Any, Installer], data: Mapping[str, Any]) -> str:
    who = _who(installers, data)
    return who.name if who else words._("an installer")


def _with_reason(words: Words, sentence: str, reason: Any) -> str:
    if reason in (None, ""):
        return sentence
    return words._("%(sentence)s: %(reason)s", sentence=sentence, reason=words.reason(reason))


def _sentence(words, event, data, installers, offered_at) -> str:
    kind = event.type
    w, name = words, (lambda: _name(words, installers, data))
    if kind == "intake":
        return w._(
            "Request received from %(source)s (%(channel)s)",
            source=_clip(data.get("source") or "?").replace("_", " "),
            channel=_clip(data.get("channel") or "?"),
        )
    if kind == "duplicate":
        return _with_reason(
            w,
            w._("Marked as a duplicate of lead #%(id)s", id=_clip(data.get("duplicate_of"))),
            data.get("reason"),
        )
    if kind == "offered":
        return _offered(w, event, data, installers)
    if kind == "accepted":
        started = offered_at.get(data.get("offer_id"))
        if started is not None and as_utc(event.at) >= as_utc(started):
            return w._(
                "Accepted by %(name)s after %(duration)s",
                name=name(),
                duration=format_duration(as_utc(event.at) - as_utc(started), w.language),
            )
        return w._("Accepted by %(name)s", name=name())
    if kind == "declined":
        sentence = _with_reason(w, w._("Declined by %(name)s", name=name()), data.get("reason"))
        return f"{sentence} — {_clip(data['note'])}" if data.get("note") else sentence
    if kind == "offer_expired":
        return w._("Offer to %(name)s timed out", name=name())
    if kind == "offer_withdrawn":
        return _with_reason(w, w._("Offer to %(name)s withdrawn", name=name()), data.get("reason"))
    if kind == "offers_withdrawn":
        return w._("%(name)s was quicker: the other open offers are withdrawn", name=name())
    if kind.startswith("return_"):
        return _bad_lead_report(w, kind, data, name)
    if kind == "requeued":
        return w._("Put back in line at the request of %(name)s", name=name())
    if kind == "status":
        return _status(w, data)
    if kind == "released":
        return _with_reason(w, w._("Given back: back in rotation"), data.get("reason"))
    if kind == "expired":
        return _with_reason(w, w._("Expired"), data.get("reason"))
    if kind == "pool":
        listed = data.get("exchange") == "listed"
        sentence = (
            w._("Waiting in the pool, listed in the lead exchange")
            if listed
            else w._("Waiting in the pool")
        )
        return _with_reason(w, sentence, data.get("reason"))
    if kind == "waiting":
        return _with_reason(w, w._("Waiting for an installer"), data.get("reason"))
    if kind == "exchange_listed":
        return w._("Listed in the lead exchange")
    if kind == "exchange_opened":
        return w._("Opened to the lead exchange by an administrator")
    if kind == "exchange_claimed":
        return w._("Claimed from the lead exchange by %(name)s", name=name())
    if kind == "exchange_claim_lapsed":
        return w._("Reservation of %(name)s lapsed: back in the lead exchange", name=name())
    if kind == "reminder":
        return _reminder(w, data, name)
    if kind == "contact_details_revealed":
        return w._("Contact details shown to %(name)s", name=name())
    if kind == "email_bounced":
        return w._(
            "Email to %(to)s bounced (%(status)s)",
            to=_clip(data.get("to")),
            status=_clip(data.get("status") or "?"),
        )
    if kind.startswith("site_visit_") and data.get("starts_at"):
        visit = {
            "site_visit_booked": N_("Site visit booked for %(when)s"),
            "site_visit_moved": N_("Site visit moved to %(when)s"),
            "site_visit_cancelled": N_("Site visit of %(when)s cancelled"),
        }.get(kind)
        if visit:
            return w._(visit, when=w.when(data["starts_at"]))
    if kind == "rated":
        marks = [f"{k.replace('_', ' ')} {v}/5" for k, v in sorted(data.items()) if k != "comment"]
        return w._("Rated by the customer: %(marks)s", marks=", ".join(marks))
    if kind == "held":
        return _with_reason(w, w._("Held for review"), data.get("reason"))
    if kind in ("auto_reply", "email_reply"):
        message = (
            N_("Automatic reply received from %(sender)s")
            if kind == "auto_reply"
            else N_("Email reply received from %(sender)s")
        )
        return w._(message, sender=_clip(data.get("sender") or "?"))
    if kind in LABEL_ONLY:  # the dashboard's words say it all; the data repeats them
        return w._(EVENT_LABELS[kind])
    return _admin_sentence(w, kind, data, installers) or _generic(w, kind, data)


def _bad_lead_report(w: Words, kind: str, data: Mapping[str, Any], name) -> str:
    """The bad-lead reports (#20): reported, approved (by an admin or a rule), not approved,
    and the lead closed as invalid by an approval."""
    kind_words = w._(RETURN_REASONS.get(str(data.get("kind")), N_("another reason")))
    if kind == "return_reported":
        return w._("Reported as a bad lead by %(name)s: %(why)s", name=name(), why=kind_words)
    if kind == "return_approved":
        sentence = (
            N_("Bad-lead report of %(name)s approved automatically: %(why)s")
            if data.get("by") == "rule"
            else N_("Bad-lead report of %(name)s approved: %(why)s")
        )
        return w._(sentence, name=name(), why=kind_words)
    if kind == "return_rejected":
        return w._("Bad-lead report of %(name)s not approved: %(why)s", name=name(), why=kind_words)
    if kind == "return_closed":
        return w._("Closed as invalid after a bad-lead report")
    return _generic(w, kind, data)


def _offered(w: Words, event, data, installers) -> str:
    who = _who(installers, data)
    name = who.name if who else w._("an installer")
    until = w.when(data.get("deadline"), near=event.at)
    match = _ROUTING_REASON.match(str(data.get("reason") or ""))
    if match:
        tier, count = match.group(1), int(match.group(2))
        return w.ngettext(
            "Offered to %(name)s (%(tier)s, %(n)s offer in 30 days) until %(until)s",
            "Offered to %(name)s (%(tier)s, %(n)s offers in 30 days) until %(until)s",
            count,
            name=name,
            tier=w._(TIER_NAMES[tier]).lower(),
            until=until,
        )
    return w._("Offered to %(name)s until %(until)s", name=name, until=until)


def _status(w: Words, data: Mapping[str, Any]) -> str:
    step = str(data.get("status") or "")
    if step == "released":
        sentence = w._("Given back by the installer")
        return _with_reason(w, sentence, data.get("reason"))
    notes = []
    if data.get("amount") is not None:
        notes.append(w.money(data["amount"], data.get("currency")))
        if data.get("approved"):
            notes.append(w._("accepted by the customer"))
    if data.get("date"):
        notes.append(w.day(data["date"]))
    for key in ("reason", "note", "products"):
        if data.get(key):
            notes.append(_clip(data[key]))
    kind = CONTACT_TYPE_LABELS.get(data.get("contact_type"))
    if kind or data.get("contact_date"):
        contact = w._(kind) if kind else w._("Contact")
        if data.get("contact_date"):
            contact = w._("%(kind)s on %(day)s", kind=contact, day=w.day(data["contact_date"]))
        notes.append(w._("contact: %(contact)s", contact=contact))
    sentence = w._("Status: %(status)s", status=w.status(step))
    return f"{sentence} ({'; '.join(notes)})" if notes else sentence


def _reminder(w: Words, data: Mapping[str, Any], name) -> str:
    kind = data.get("kind")
    if kind == "no_status":
        return w._("Reminder sent to %(name)s: no progress recorded yet", name=name())
    if kind == "follow_up":
        return w._("Follow-up reminder sent to %(name)s", name=name())
    if kind == "site_visit":
        return w._("Site visit reminder sent")
    return w._("Reminder sent")


def _admin_sentence(w: Words, kind: str, data, installers) -> str | None:
    if kind in ("assigned", "reassigned"):
        name = _name(w, installers, data)
        if kind == "reassigned" and data.get("previous_installer"):
            before = _name(w, installers, {"installer": data["previous_installer"]})
            sentence = w._("Reassigned from %(before)s to %(name)s", before=before, name=name)
        else:
            sentence = w._("Assigned to %(name)s", name=name)
        return _with_reason(w, sentence, data.get("reason"))
    simple = {
        "back_to_rotation": N_("Put back into rotation"),
        "closed": N_("Closed as lost"),
        "archived": N_("Archived"),
        "unarchived": N_("Taken out of the archive"),
        "marked_spam": N_("Marked as spam"),
        "unmarked_spam": N_("No longer marked as spam"),
        "spam_decline_confirmed": N_("Declined as spam: confirmed by an administrator"),
        "erased": N_("Personal data erased"),
    }
    if kind in simple:
        return _with_reason(w, w._(simple[kind]), data.get("reason"))
    if kind == "edited":
        fields = data.get("fields") or []
        shown = ", ".join(str(f).replace("_", " ") for f in fields) if fields else "—"
        return w._("Fields edited: %(fields)s", fields=shown[:TEXT_LIMIT])
    return None


def _generic(w: Words, kind: Any, data: Mapping[str, Any]) -> str:
    """An event no sentence knows: its label (or its kind in words) and its values."""
    label = EVENT_LABELS.get(str(kind))
    title = w._(label) if label else (str(kind).replace("_", " ").strip().capitalize() or "—")
    details = w.values(data) if isinstance(data, Mapping) else ""
    return f"{title} ({details})" if details else title


# ------------------------------------------------------------------ fields ------------------
def progress_fields(progress: Mapping[str, Any] | None, language: str) -> list[tuple[str, str]]:
    """What the installer recorded, as (label, value): the quote, the installation date, the
    follow-up, why it failed; anything else by its name in words."""
    w = Words(language, ZoneInfo("UTC"))
    rows: list[tuple[str, str]] = []
    for key, value in (progress or {}).items():
        if value in (None, "", [], {}):
            continue
        if key == "quote" and isinstance(value, Mapping):
            if value.get("amount") is not None:
                rows.append((w._("Quote amount"), w.money(value["amount"], value.get("currency"))))
            rows.append((w._("Quote accepted by the customer"), w.yes_no(value.get("approved"))))
            if value.get("products"):
                rows.append((w._("Products"), _clip(value["products"])))
        elif key == "installation_date":
            rows.append((w._("Installation date"), w.day(value)))
        elif key == "follow_up" and isinstance(value, Mapping):
            if value.get("date"):
                rows.append((w._("Follow-up on"), w.day(value["date"])))
            if value.get("note"):
                rows.append((w._("Follow-up note"), _clip(value["note"])))
        elif key == "failed_reason":
            rows.append((w._("Reason it failed"), w.reason(value)))
        else:
            rows.append((str(key).replace("_", " ").capitalize(), w.value(value)))
    return rows


def detail_fields(details: Mapping[str, Any] | None, language: str) -> list[tuple[str, str]]:
    """The lead's details as (label, value) with their units: ``Annual consumption`` /
    ``4,200 kWh`` (the labels of the offer emails and the installers' pages)."""
    rows = []
    for key, value in sorted((details or {}).items()):
        if value in (None, "", [], {}):
            continue
        label, text = detail_fact(str(key), value, language)
        rows.append((label, text[:TEXT_LIMIT]))
    return rows


def project_words(lead: Any, language: str) -> dict[str, str]:
    """The lead's product, building and grid connection by their names ("solar PV", not
    "pv"); a value the tables do not know is shown in words, a missing one as a dash."""
    w = Words(language, ZoneInfo("UTC"))

    def name(table: Mapping[Any, str], value: Any) -> str:
        if value in table:
            return w._(table[value])
        return str(value).replace("_", " ") if value else "—"

    return {
        "product": name(PRODUCT_NAMES, lead.product),
        "building": name(BUILDING_NAMES, lead.building_type),
        "grid": name(GRID_NAMES, lead.grid_connection),
    }


def decline_reason(reason: Any, language: str) -> str:
    """A decline reason of the offers table in words ("No capacity at the moment")."""
    return Words(language, ZoneInfo("UTC")).reason(reason)
