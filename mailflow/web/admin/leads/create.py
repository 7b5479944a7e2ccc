"""``/admin/leads/new``: an admin enters a lead by hand (phone call, walk-in customer). The form
holds every field of the webhook's schema a person types; it is validated as the webhook
validates (``LeadIn``), errors are shown beside their fields in the admin's language (the
browser's, ``?lang=`` too) with the typed values kept, and a valid lead is created with source
``manual``, checked for duplicates, routed like any other, and written to the audit log.
A viewer sees the page without the form and cannot send it (``require_action``), as
everywhere in the console."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain.intake.schema import CUSTOMER_FIELDS, BuildingType, GridConnection, Product
from mailflow.i18n import LANGUAGES, gettext
from mailflow.leads import manual
from mailflow.models import LeadStatus
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import field, redirect
from mailflow.web.admin.rendering import console_language, flash, render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


LEAD_FIELDS = ("product", "building_type", "grid_connection", "external_id", "message")
# Project details (PRODUCT.md §2 keys): (key, label, kind)
DETAIL_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("annual_consumption_kwh", N_("Annual consumption (kWh)"), "number"),
    ("household_size", N_("Household size"), "number"),
    ("electricity_price_ct_kwh", N_("Electricity price (ct/kWh)"), "number"),
    ("main_consumption", N_("Main consumption time"), "text"),
    ("roof_area_m2", N_("Roof area (m²)"), "number"),
    ("roof_pitch_deg", N_("Roof pitch (°)"), "number"),
    ("roof_orientation_deg", N_("Roof orientation (°)"), "number"),
    ("module", N_("Module"), "text"),
    ("module_count", N_("Number of modules"), "number"),
    ("storage_interest", N_("Interested in storage"), "bool"),
)
FORM_FIELDS = (*CUSTOMER_FIELDS, *LEAD_FIELDS, *(key for key, _, _ in DETAIL_FIELDS))
CHOICES = {
    "product": [p.value for p in Product],
    "building_type": [b.value for b in BuildingType],
    "grid_connection": [g.value for g in GridConnection],
    "language": list(LANGUAGES),
    "storage_interest": ["yes", "no"],
}
LIMITS = {"message": 20000}
MAX_FORM_IDS = 5  # forms of this session already sent: a second click shows the same lead

MESSAGES = {
    "required": N_("Required."),
    "name": N_("Enter the customer's name."),
    "postcode": N_("Enter a postcode."),
    "bad_postcode": N_("This is not a postcode."),
    "contact": N_("Enter an email address or a phone number."),
    "email": N_("This is not a valid email address."),
    "phone": N_("This is not a valid phone number."),
    "country": N_("Enter a two-letter country code, e.g. FR or DE."),
    "choice": N_("Choose one of the listed values."),
    "number": N_("Enter a number."),
    "too_long": N_("Too long."),
    "invalid": N_("Not valid."),
}


def _number(text: str) -> int | float:
    value = float(text.replace("\u00a0", "").replace(" ", "").replace(",", "."))
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return int(value) if value.is_integer() else value


def read_form(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The webhook payload the form's values make, and the errors (message keys) of values
    that cannot even be put in it (a number that is none, a choice not offered)."""
    errors: dict[str, str] = {}
    customer = {k: values[k] for k in CUSTOMER_FIELDS if values.get(k)}
    payload: dict[str, Any] = {"customer": customer}
    for key in LEAD_FIELDS:
        if values.get(key):
            payload[key] = values[key]
    for key in ("product", "building_type", "grid_connection", "language"):
        if values.get(key) and values[key] not in CHOICES[key]:
            errors[key] = "choice"
    details: dict[str, Any] = {}
    for key, _label, kind in DETAIL_FIELDS:
        text = values.get(key, "")
        if not text:
            continue
        if kind == "number":
            try:
                details[key] = _number(text)
            except ValueError:
                errors[key] = "number"
        elif kind == "bool":
            if text not in CHOICES[key]:
                errors[key] = "choice"
            else:
                details[key] = text == "yes"
        else:
            details[key] = text
    if details:
        payload["details"] = details
    return payload, errors


def field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors → {form field: message key}."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        kind = err["type"]
        text = str(err.get("msg", "")).lower()
        name = loc[-1] if loc else ""
        if loc == ["customer"] or name == "customer":
            if "email or a phone" in text:
                errors.setdefault("email", "contact")
                errors.setdefault("phone", "contact")
            elif "phone" in text:
                errors.setdefault("phone", "phone")
            else:
                errors.setdefault("name", "invalid")
            continue
        if name not in FORM_FIELDS:
            name = "message" if "message" in loc else loc[0] if loc else "name"
        if name == "country":
            key = "country"
        elif kind == "missing" or (kind == "string_too_short" and name in ("name", "postcode")):
            key = name if name in ("name", "postcode") else "required"
        elif kind == "string_too_long":
            key = "too_long"
        elif kind == "enum":
            key = "choice"
        elif name == "email":
            key = "email"
        elif name == "postcode":
            key = "bad_postcode"
        else:
            key = "invalid"
        errors.setdefault(name, key)
    return errors


def _page(request, admin, language, values, errors, status_code=200) -> Response:
    def t(message: str) -> str:
        return gettext(language, message)

    return render(
        request,
        "admin/lead_new.html",
        admin=admin,
        language=language,
        status_code=status_code,
        values=values,
        errors={name: t(MESSAGES[key]) for name, key in errors.items()},
        choices=CHOICES,
        details=[(key, t(label), kind) for key, label, kind in DETAIL_FIELDS],
    )


@router.get("/leads/new")
def new_lead_form(request: Request, admin: CurrentAdmin) -> Response:
    language = console_language(request, admin)
    values = {"country": get_settings().default_country, "form_id": secrets.token_urlsafe(16)}
    return _page(request, admin, language, values, {})


@router.post("/leads/new")
def new_lead(request: Request, action: Action = Depends(require_action)) -> Response:
    language = console_language(request, action.admin)
    values = {name: field(action.form, name, LIMITS.get(name, 2000)) for name in FORM_FIELDS}
    values["form_id"] = field(action.form, "form_id", 64)
    sent = dict(request.session.get("new_lead_forms") or {})
    if values["form_id"] and values["form_id"] in sent:  # sent twice (double click, reload)
        return redirect(f"/admin/leads/{sent[values['form_id']]}")
    settings = get_settings()
    payload, errors = read_form(values)
    lead_in = None
    try:
        lead_in = manual.validate(payload, settings)
    except ValidationError as exc:
        errors = {**field_errors(exc), **errors}
    if errors or lead_in is None:
        return _page(request, action.admin, language, values, errors, status_code=422)
    with session_scope() as session:
        lead = manual.create_manual_lead(
            session, lead_in, by=action.admin.email, now=now(), settings=settings
        )
        lead_id, duplicate_of = lead.id, lead.duplicate_of_id
        record_web(
            session,
            request,
            action.admin,
            "lead.create",
            object_type="lead",
            object_id=lead_id,
            summary=f"source manual{f', duplicate of #{duplicate_of}' if duplicate_of else ''}",
            data={"source": "manual", "duplicate_of": duplicate_of},
        )
        duplicate = lead.status == LeadStatus.DUPLICATE
    if values["form_id"]:
        sent[values["form_id"]] = lead_id
        request.session["new_lead_forms"] = dict(list(sent.items())[-MAX_FORM_IDS:])
    log.info("admin %s created lead %s by hand", action.admin.email, lead_id)
    if duplicate:
        flash(
            request,
            gettext(
                language,
                N_("Lead #%(id)s created: a duplicate of lead #%(original)s, not offered."),
                id=lead_id,
                original=duplicate_of,
            ),
            "error",
        )
    else:
        flash(request, gettext(language, N_("Lead #%(id)s created."), id=lead_id))
    return redirect(f"/admin/leads/{lead_id}")
