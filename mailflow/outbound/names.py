"""The words for the values a lead and an installer carry (product, building, grid, status,
tier, lead details), marked with ``N_`` and translated where they are shown: emails, pages and
exports name them the same way."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


PRODUCT_NAMES = {
    "pv": N_("solar PV"),
    "heat_pump": N_("heat pump"),
    "battery": N_("battery storage"),
    "pv_battery": N_("solar PV with battery"),
    None: N_("energy project"),
}
BUILDING_NAMES = {
    "residential": N_("residential"),
    "commercial": N_("commercial"),
    "industrial": N_("industrial"),
    "agricultural": N_("agricultural"),
}
GRID_NAMES = {
    "on_grid": N_("connected to the grid"),
    "off_grid": N_("off the grid"),
    "zero_injection": N_("zero feed-in"),
}
# A lead's status as installers read it (the same words as the dashboard's).
STATUS_NAMES = {
    "new": N_("New"),
    "offered": N_("Offered"),
    "pool": N_("Waiting for an installer"),
    "accepted": N_("Accepted, no progress recorded yet"),
    "contact_attempted": N_("Contact attempted"),
    "first_contact": N_("First contact made"),
    "quote_sent": N_("Quote sent"),
    "order_placed": N_("Order placed"),
    "installation_scheduled": N_("Installation scheduled"),
    "installed": N_("Installed"),
    "failed": N_("Failed"),
    "follow_up": N_("Follow-up"),
    "expired": N_("Expired"),
    "duplicate": N_("Duplicate"),
    "quarantined": N_("Quarantined"),
    "held": N_("Held for review"),
}
TIER_NAMES = {"bronze": N_("Bronze"), "silver": N_("Silver"), "gold": N_("Gold")}
# Every detail a lead may carry (domain/intake/label_data.DETAIL_KEYS): its label and unit.
DETAIL_LABELS: dict[str, tuple[str, str]] = {
    "household_size": (N_("Household size"), ""),
    "annual_consumption_kwh": (N_("Annual consumption"), "kWh"),
    "electricity_price_ct_kwh": (N_("Electricity price"), "ct/kWh"),
    "roof_area_m2": (N_("Roof area"), "m²"),
    "roof_pitch_deg": (N_("Roof pitch"), "°"),
    "roof_orientation_deg": (N_("Roof orientation"), "°"),
    "module_count": (N_("Modules"), ""),
    "cost_monthly_with_pv": (N_("Monthly cost with solar"), "€"),
    "cost_monthly_without_pv": (N_("Monthly cost without solar"), "€"),
    "savings_monthly": (N_("Estimated savings per month"), "€"),
    "savings_yearly": (N_("Estimated savings per year"), "€"),
    "savings_20y": (N_("Estimated savings over 20 years"), "€"),
    "co2_savings_kg": (N_("CO₂ saved"), "kg"),
    "trees": (N_("Equivalent in trees"), ""),
    "storage_interest": (N_("Interested in storage"), ""),
    "battery": (N_("Battery"), ""),
    "heat_pump": (N_("Heat pump"), ""),
    "main_consumption": (N_("Main consumption"), ""),
    "module": (N_("Module"), ""),
    "extra": (N_("Other information"), ""),
    "grid_connection": (N_("Grid connection"), ""),
}
