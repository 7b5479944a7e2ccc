"""What an email says about a lead's project, and why it was offered: facts without the
customer's identity, detail values in the reader's words, the offer's one-line reason."""

from __future__ import annotations

from typing import Any

from mailflow.domain.routing_why import TIER_WORDS, WHY_YOU
from mailflow.i18n import format_number, gettext
from mailflow.models import Lead
from mailflow.outbound.names import (
    BUILDING_NAMES,
    DETAIL_LABELS,
    GRID_NAMES,
    N_,
    PRODUCT_NAMES,
)


def _number(value: Any, language: str, unit: str = "") -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        # the unit stays on the number's line (a no-break space)
        return format_number(value, language) + (f"\u00a0{unit}" if unit else "")
    return str(value)


def detail_fact(key: str, value: Any, language: str) -> tuple[str, str]:
    """A lead detail as a label and a value for people: ``Electricity price`` / ``32,5 ct/kWh``,
    yes/no for flags, the grid connection by name; an unknown key is shown by its words."""
    t = lambda message: gettext(language, message)  # noqa: E731
    label, unit = DETAIL_LABELS.get(key, (None, ""))
    shown_label = t(label) if label else key.replace("_", " ").capitalize()
    if isinstance(value, bool):
        return shown_label, t(N_("yes")) if value else t(N_("no"))
    if key == "grid_connection" and value in GRID_NAMES:
        return shown_label, t(GRID_NAMES[value])
    if isinstance(value, dict):
        text = ", ".join(f"{k}: {detail_text(v, language)}" for k, v in value.items())
        return shown_label, text
    if isinstance(value, list):
        return shown_label, ", ".join(detail_text(v, language) for v in value)
    return shown_label, _number(value, language, unit)


def detail_text(value: Any, language: str) -> str:
    if isinstance(value, bool):
        return gettext(language, N_("yes") if value else N_("no"))
    return _number(value, language)


def project_facts(lead: Lead, language: str) -> dict[str, Any]:
    """What the project is, without who the customer is (no name, street, email or phone)."""
    t = lambda message: gettext(language, message)  # noqa: E731
    details = lead.details or {}
    facts: list[tuple[str, str]] = [
        (t(N_("Product")), t(PRODUCT_NAMES.get(lead.product, PRODUCT_NAMES[None]))),
        (t(N_("Location")), " ".join(p for p in (lead.postcode, lead.city) if p)),
    ]
    if lead.building_type in BUILDING_NAMES:
        facts.append((t(N_("Building")), t(BUILDING_NAMES[lead.building_type])))
    numeric = [
        ("annual_consumption_kwh", N_("Annual consumption"), "kWh"),
        ("household_size", N_("Household size"), ""),
        ("roof_area_m2", N_("Roof area"), "m²"),
        ("roof_pitch_deg", N_("Roof pitch"), "°"),
        ("roof_orientation_deg", N_("Roof orientation"), "°"),
        ("module_count", N_("Modules"), ""),
        ("savings_yearly", N_("Estimated savings per year"), "€"),
    ]
    for key, label, unit in numeric:
        if details.get(key) is not None:
            facts.append((t(label), _number(details[key], language, unit)))
    if details.get("module"):
        facts.append((t(N_("Module")), str(details["module"])))
    if isinstance(details.get("storage_interest"), bool):
        facts.append(
            (
                t(N_("Interested in storage")),
                t(N_("yes")) if details["storage_interest"] else t(N_("no")),
            )
        )
    return {
        "product_label": t(PRODUCT_NAMES.get(lead.product, PRODUCT_NAMES[None])),
        "postcode": lead.postcode,
        "city": lead.city,
        "facts": facts,
    }


def why_you(reason: str | None, tier: str | None, area: str | None, language: str) -> str | None:
    """The offer's one-line reason in the installer's language ("you are the gold installer
    for 75011 with the fewest leads offered lately."), or None without a known reason."""
    if reason not in WHY_YOU:
        return None
    return gettext(
        language,
        WHY_YOU[reason],
        tier=gettext(language, TIER_WORDS[tier]) if tier in TIER_WORDS else (tier or ""),
        area=area or "",
    )
