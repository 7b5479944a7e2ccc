"""One lead: the customer's contact details, progress, timeline and the status form (only for
the installer who holds it; anyone else gets the same 404 as for a lead that does not exist)."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.db import session_scope
from mailflow.domain import lead as states
from mailflow.domain.errors import NotYours, StepInvalid
from mailflow.domain.lead import BOOKABLE
from mailflow.i18n import pick_language
from mailflow.lifecycle.service import CONTACT_TYPES, record_status
from mailflow.lifecycle.visits import current_visit
from mailflow.models import (
    Installer,
    Lead,
    LeadEvent,
)
from mailflow.outbound.emails import N_
from mailflow.outbound.facts import detail_fact, project_facts
from mailflow.routing.exchange import claim_reserved_until
from mailflow.routing.offers import lock_lead
from mailflow.web.dashboard.common import (
    _day,
    _iso_day,
    _money,
    _step_text,
    _t,
    _tz,
    _when,
    map_url,
    redirect,
    status_label,
)
from mailflow.web.dashboard.home import _place
from mailflow.web.dashboard.labels import (
    ACTOR_LABELS,
    CONTACT_TYPE_LABELS,
    CURRENCY_OF_COUNTRY,
    DESTRUCTIVE_STEPS,
    EVENT_LABELS,
    FIELD_LABELS,
    OTHER_EVENT,
    PREFIX,
    REASON_LABELS,
    STEP_FIELDS,
)
from mailflow.web.dashboard.rendering import _message, _notice, _page
from mailflow.web.dashboard.return_box import report_box
from mailflow.web.dashboard.sessions import SignedIn, _to_signin, _touch, signed_in
from mailflow.web.dashboard.signin import _guard_post
from mailflow.web.validation import error_texts

log = logging.getLogger(__name__)
router = APIRouter()


def _lead_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _owned_lead(session: Session, who: SignedIn, lead_id: int | None, *, lock=False) -> Lead | None:
    if lead_id is None:
        return None
    lead = lock_lead(session, lead_id) if lock else session.get(Lead, lead_id)
    if lead is None or lead.assigned_installer_id != who.installer.id:
        return None
    return lead


@router.get(f"{PREFIX}/leads/{{lead_id}}", include_in_schema=False)
def lead_page(lead_id: str, request: Request) -> Response:
    settings, at = get_settings(), now()
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        if who is None:
            return _to_signin(request)
        _touch(who.installer, at)
        lead = _owned_lead(session, who, _lead_id(lead_id))
        if lead is None:
            return _message("not_found", who)
        language = pick_language(who.installer.language)
        return _lead_page(
            session,
            who,
            lead,
            at,
            notice=_notice(request, language),
            printable=request.query_params.get("print") == "1",
        )


def _lead_page(
    session: Session,
    who: SignedIn,
    lead: Lead,
    at: datetime,
    *,
    status_code=200,
    notice: str | None = None,
    problem: str | None = None,
    chosen: str = "",
    values: dict | None = None,
    errors: dict | None = None,
    printable: bool = False,
) -> HTMLResponse:
    installer = who.installer
    language, tz = pick_language(installer.language), _tz(installer)
    facts = project_facts(lead, language)

    visit = current_visit(session, lead.id)
    reserved_until = claim_reserved_until(session, lead.id, installer.id)
    return _page(
        "lead.html",
        who,
        reserved_until=_when(reserved_until, language, tz) if reserved_until else None,
        status_code=status_code,
        section="leads",
        visit=(
            {
                "when": _when(visit.starts_at, language, tz),
                "address": visit.address,
                "note": visit.note,
            }
            if visit
            else None
        ),
        can_book=lead.status in BOOKABLE,
        lead={
            "id": lead.id,
            "status": lead.status.value,
            "status_label": status_label(lead.status, language),
            "product": facts["product_label"],
            "place": _place(lead),
            "received": _when(lead.created_at, language, tz),
            "accepted": _when(lead.accepted_at, language, tz),
        },
        customer={
            "name": lead.customer_name,
            "street": lead.street,
            "postcode": lead.postcode,
            "city": lead.city,
            "country": lead.country,
            "email": lead.email,
            "phone": lead.phone,
            "reachability": lead.reachability,
            "message": lead.message,
            "map_url": map_url(lead),
        },
        facts=facts["facts"] + _other_details(lead, language),
        progress=_progress(lead, language),
        timeline=_timeline(lead, installer, language, tz),
        timezone=installer.timezone,
        steps=_steps(lead, installer, language, values or {}, errors or {}),
        chosen=chosen,
        step_error=(errors or {}).get("status"),
        contact={
            "types": [(k, _t(language, CONTACT_TYPE_LABELS[k])) for k in CONTACT_TYPES],
            "type": (values or {}).get("contact_type", ""),
            "date": (values or {}).get("contact_date", at.astimezone(tz).date().isoformat()),
            "today": at.astimezone(tz).date().isoformat(),
            "errors": [
                (errors or {})[name]
                for name in ("contact_type", "contact_date")
                if (errors or {}).get(name)
            ],
        },
        printable=printable,
        report=report_box(session, lead, installer, at, get_settings()),
        notice=notice,
        problem=problem,
    )


_SHOWN_DETAILS = {
    "annual_consumption_kwh",
    "household_size",
    "roof_area_m2",
    "roof_pitch_deg",
    "roof_orientation_deg",
    "module_count",
    "savings_yearly",
    "module",
    "storage_interest",
}


def _other_details(lead: Lead, language: str) -> list[tuple[str, str]]:
    """Details the offer summary leaves out, with their labels in the installer's language
    (values as they came, escaped by the template)."""
    extra: list[tuple[str, str]] = []
    for key, value in sorted((lead.details or {}).items()):
        if key in _SHOWN_DETAILS or value in (None, "", [], {}):
            continue
        label, text = detail_fact(key, value, language)
        extra.append((label, text[:500]))
    if lead.grid_connection:
        extra.append(detail_fact("grid_connection", lead.grid_connection, language))
    return extra


def _progress(lead: Lead, language: str) -> list[tuple[str, str]]:
    progress = lead.progress or {}
    t = lambda message, **kw: _t(language, message, **kw)  # noqa: E731
    rows: list[tuple[str, str]] = []
    quote_ = progress.get("quote") or {}
    if quote_:
        rows.append(
            (t(N_("Quote amount")), _money(quote_.get("amount"), quote_.get("currency"), language))
        )
        rows.append(
            (
                t(N_("Quote accepted by the customer")),
                t(N_("yes")) if quote_.get("approved") else t(N_("no")),
            )
        )
        if quote_.get("products"):
            rows.append((t(N_("Products")), str(quote_["products"])))
    day = _iso_day(progress.get("installation_date"))
    if day:
        rows.append((t(N_("Installation date")), _day(day, language)))
    follow = progress.get("follow_up") or {}
    if follow:
        day = _iso_day(follow.get("date"))
        if day:
            rows.append((t(N_("Follow-up on")), _day(day, language)))
        if follow.get("note"):
            rows.append((t(N_("Follow-up note")), str(follow["note"])))
    if progress.get("failed_reason"):
        rows.append((t(N_("Reason it failed")), str(progress["failed_reason"])))
    return rows


def _refers_to(event: LeadEvent, installer: Installer) -> bool | None:
    """Whether the event names this installer (True), another one (False) or nobody (None)."""
    data = event.data or {}
    if "installer" in data:
        return data["installer"] == installer.email
    if "installer_id" in data:
        return data["installer_id"] == installer.id
    return None


def _timeline(lead: Lead, installer: Installer, language: str, tz: ZoneInfo) -> list[dict]:
    """The lead's events from this installer's offer on (plus when the request came in);
    events about other installers (their offers, declines, notes) are not theirs to see."""
    events = list(lead.events)
    start = 0
    for kinds in (("offered",), ("accepted", "assigned", "reassigned")):
        mine = [i for i, e in enumerate(events) if e.type in kinds and _refers_to(e, installer)]
        if mine:
            start = mine[-1]
            break
    if start:
        shown = [e for e in events[:start] if e.type == "intake"] + events[start:]
    else:
        shown = events
    items = []
    for event in shown:
        if _refers_to(event, installer) is False:
            continue
        items.append(
            {
                "at": _when(event.at, language, tz),
                "label": _event_label(event, language),
                "actor": _t(language, ACTOR_LABELS.get(event.actor, N_("mailflow"))),
                "details": _event_details(event, language, tz),
            }
        )
    return list(reversed(items))  # newest first


def _event_label(event: LeadEvent, language: str) -> str:
    data = event.data or {}
    if event.type == "status" and data.get("status"):
        return _step_text(data["status"], language)
    label = EVENT_LABELS.get(event.type)
    return _t(language, label or OTHER_EVENT)


def _event_details(event: LeadEvent, language: str, tz: ZoneInfo) -> list[str]:
    data = event.data or {}
    t = lambda message, **kw: _t(language, message, **kw)  # noqa: E731

    def pair(label: str, value: str) -> str:
        return t(N_("%(label)s: %(value)s"), label=t(label), value=value)

    out: list[str] = []
    if event.type == "status":
        if data.get("amount") is not None:
            out.append(
                pair(N_("Quote amount"), _money(data["amount"], data.get("currency"), language))
            )
            out.append(
                pair(
                    N_("Quote accepted by the customer"),
                    t(N_("yes")) if data.get("approved") else t(N_("no")),
                )
            )
        if data.get("products"):
            out.append(pair(N_("Products"), str(data["products"])))
        day = _iso_day(data.get("date"))
        if day:
            out.append(pair(N_("Date"), _day(day, language)))
        kind = CONTACT_TYPE_LABELS.get(data.get("contact_type"))
        contact_day = _iso_day(data.get("contact_date"))
        if kind or contact_day:
            value = ", ".join(
                v
                for v in (
                    t(kind) if kind else "",
                    _day(contact_day, language) if contact_day else "",
                )
                if v
            )
            out.append(pair(N_("Contact"), value))
        for key, label in (("note", N_("Note")), ("reason", N_("Reason"))):
            if data.get(key):
                out.append(pair(label, str(data[key])))
        if data.get("via") == "dashboard":
            out.append(t(N_("recorded in the dashboard")))
        elif data.get("via") == "link":
            out.append(t(N_("recorded by email link")))
    elif event.type == "offered" and data.get("deadline"):
        try:
            deadline = datetime.fromisoformat(data["deadline"])
            out.append(t(N_("Answer by %(when)s"), when=_when(deadline, language, tz)))
        except ValueError:
            pass
    elif event.type in ("released", "declined") and data.get("reason"):
        reason = str(data["reason"])
        out.append(
            pair(N_("Reason"), _t(language, REASON_LABELS[reason]))
            if reason in REASON_LABELS
            else pair(N_("Reason"), reason)
        )
    return out


def _steps(
    lead: Lead, installer: Installer, language: str, values: dict, errors: dict
) -> list[dict]:
    current = lead.status if lead.status in states.INSTALLER_TRANSITIONS else None
    if current is None or lead.assigned_installer_id != installer.id:
        return []
    currency = CURRENCY_OF_COUNTRY.get((installer.country or "").upper(), "EUR")
    steps = []
    for step in states.next_steps(current):
        fields = []
        for name, kind in STEP_FIELDS.get(step, []):
            key = f"{step}-{name}"
            default = currency if name == "currency" else ""
            fields.append(
                {
                    "name": key,
                    "id": f"f-{key}",
                    "kind": kind,
                    "label": _t(language, FIELD_LABELS[(step, name)]),
                    "value": values.get(key, default),
                    "required": name in states.REQUIRED_FIELDS.get(step, ()) or name == "confirm",
                    "error": errors.get(name) if values.get("status") == step else None,
                }
            )
        steps.append(
            {
                "value": str(step),
                "label": _step_text(step, language),
                "fields": fields,
                "destructive": step in DESTRUCTIVE_STEPS,
            }
        )
    return steps


@router.post(f"{PREFIX}/leads/{{lead_id}}/status", include_in_schema=False)
async def lead_status(lead_id: str, request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await run_in_threadpool(_lead_status, lead_id, request, form, get_settings())


def _step_form(step: str, form: dict) -> dict:
    """The chosen step's fields: ``<step>-<field>`` from the page's form (plain ``<field>``
    names are accepted too)."""
    names = (
        *states.REQUIRED_FIELDS.get(step, ()),
        *states.OPTIONAL_FIELDS.get(step, ()),
        "confirm",
    )
    fields = {k: form[k] for k in ("contact_type", "contact_date") if k in form}
    for name in names:
        value = form.get(f"{step}-{name}", form.get(name))
        if value is not None:
            fields[name] = value
    return fields


def confirm_destructive(step: str, fields: dict) -> None:
    """A step that cannot be undone (failed, release) needs its confirmation box ticked."""
    if step in DESTRUCTIVE_STEPS and str(fields.get("confirm") or "") not in ("on", "yes"):
        raise StepInvalid({"confirm": "confirm"})


class _Rollback(Exception):
    """Leaves the transaction without writing anything."""


def _lead_status(lead_id: str, request: Request, form: dict, settings: Settings) -> Response:
    at = now()
    step = form.get("status", "").strip()
    language = "en"
    problem: tuple[int, str] | None = None
    errors: dict[str, str] = {}
    try:
        with session_scope(settings) as session:
            who = _guard_post(session, request, form, settings, at)
            if isinstance(who, Response):
                return who
            language = pick_language(who.installer.language)
            lead = _owned_lead(session, who, _lead_id(lead_id), lock=True)
            if lead is None:
                return _message("not_found", who)
            try:
                if not step:
                    raise StepInvalid({"status": "choose"})
                confirm_destructive(step, _step_form(step, form))
                record_status(
                    session,
                    lead,
                    who.installer,
                    step,
                    _step_form(step, form),
                    now=at,
                    settings=settings,
                    via="dashboard",
                    language=language,
                )
            except StepInvalid as invalid:
                errors = error_texts(invalid.errors, language)
                raise _Rollback() from None
            except states.Refused as refused:
                problem = (
                    409,
                    _t(
                        language,
                        N_("“%(step)s” is not possible now: the lead's status is “%(status)s”."),
                        step=_step_text(refused.wanted, language),
                        status=status_label(refused.current, language),
                    ),
                )
                raise _Rollback() from None
            except NotYours:
                problem = (409, _t(language, N_("This lead can no longer be changed.")))
                raise _Rollback() from None
    except _Rollback:  # nothing was recorded
        pass
    if not errors and not problem:
        if step == states.RELEASE:
            return redirect(f"{PREFIX}/?done=released")
        return redirect(f"{PREFIX}/leads/{lead.id}?done=saved")
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        lead = _owned_lead(session, who, _lead_id(lead_id)) if who else None
        if lead is None:
            return _message("not_found", who)
        if problem:
            return _lead_page(session, who, lead, at, status_code=problem[0], problem=problem[1])
        values = {k: v for k, v in form.items() if k != "csrf_token"}
        return _lead_page(
            session,
            who,
            lead,
            at,
            status_code=422,
            chosen=step,
            values=values,
            errors=errors,
            problem=_t(language, N_("Please check the highlighted fields.")),
        )
