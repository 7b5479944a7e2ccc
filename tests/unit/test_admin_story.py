"""The admin's lead timeline in sentences, and progress and details as labelled fields: every
event kind the service records has its sentence; anything else reads as words, never JSON."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailflow.models import Actor
from mailflow.web.admin import story

PARIS = ZoneInfo("Europe/Paris")
# Wednesday 2 December 2026, 10:00 UTC (11:00 in Paris)
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
SOLEIL = story.Installer("Soleil Paris", "contact@soleil-paris.example", "gold")
IDF = story.Installer("IDF Photovoltaïque", "devis@ile-de-france-pv.example", "silver")
INSTALLERS = {
    "contact@soleil-paris.example": SOLEIL,
    "devis@ile-de-france-pv.example": IDF,
    7: SOLEIL,
}


def ev(kind, data=None, *, at=T0, actor=Actor.SYSTEM):
    return SimpleNamespace(type=kind, at=at, actor=actor, data=data or {})


def plain(text: str) -> str:
    """Babel's no-break and narrow no-break spaces as plain ones (what the reader sees)."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


def say(*events, language="en"):
    lines = story.timeline(events, installers=INSTALLERS, language=language, zone=PARIS)
    return [plain(line.text) for line in lines]


def one(kind, data=None, **kw):
    return say(ev(kind, data, **kw))[0]


OFFERED = {
    "installer": "contact@soleil-paris.example",
    "offer_id": 1,
    "deadline": "2026-12-02T11:15:00+00:00",
    "reason": "gold, 0 offers in 30 days, serves 75; 1 other eligible",
}

# Every kind with the sentence it must read as.
CASES = [
    (
        "intake",
        {"channel": "smtp", "source": "calculator"},
        "Request received from calculator (smtp)",
    ),
    (
        "duplicate",
        {"duplicate_of": 12, "reason": "same customer and postcode within 30 days"},
        "Marked as a duplicate of lead #12: same customer and postcode within 30 days",
    ),
    ("offered", OFFERED, "Offered to Soleil Paris (gold, 0 offers in 30 days) until Wed 12:15"),
    (
        "offered",
        {
            **OFFERED,
            "reason": "silver, 1 offer in 30 days, serves 75",
            "installer": "devis@ile-de-france-pv.example",
        },
        "Offered to IDF Photovoltaïque (silver, 1 offer in 30 days) until Wed 12:15",
    ),
    (
        "offered",
        {**OFFERED, "reason": None, "deadline": "2026-12-20T11:15:00+00:00"},
        "Offered to Soleil Paris until Sun 20 Dec 2026 12:15",
    ),
    (
        "accepted",
        {"installer": "contact@soleil-paris.example", "offer_id": 99},
        "Accepted by Soleil Paris",
    ),
    (
        "declined",
        {
            "installer": "contact@soleil-paris.example",
            "reason": "no_capacity",
            "note": "full until March",
        },
        "Declined by Soleil Paris: No capacity at the moment — full until March",
    ),
    (
        "declined",
        {"installer": "contact@soleil-paris.example", "reason": None},
        "Declined by Soleil Paris",
    ),
    (
        "offer_expired",
        {"installer": "contact@soleil-paris.example"},
        "Offer to Soleil Paris timed out",
    ),
    (
        "offer_withdrawn",
        {"installer": "contact@soleil-paris.example", "reason": "on vacation"},
        "Offer to Soleil Paris withdrawn: on vacation",
    ),
    (
        "offers_withdrawn",
        {"installer": "contact@soleil-paris.example", "offer_ids": [3, 4], "reason": "taken"},
        "Soleil Paris was quicker: the other open offers are withdrawn",
    ),
    (
        "return_reported",
        {"installer": "contact@soleil-paris.example", "kind": "fake", "via": "dashboard"},
        "Reported as a bad lead by Soleil Paris: Fake or wrong contact data",
    ),
    (
        "return_approved",
        {"installer_id": 7, "kind": "unreachable", "by": "rule", "return_id": 1},
        "Bad-lead report of Soleil Paris approved automatically: "
        "Customer unreachable after several attempts",
    ),
    (
        "return_approved",
        {"installer_id": 7, "kind": "duplicate", "by": "ops@example.com", "return_id": 1},
        "Bad-lead report of Soleil Paris approved: Duplicate of a lead I already had",
    ),
    (
        "return_rejected",
        {"installer_id": 7, "kind": "outside_area", "by": "ops@example.com"},
        "Bad-lead report of Soleil Paris not approved: Outside my area",
    ),
    (
        "return_closed",
        {"installer_id": 7, "reason": "bad-lead report approved: fake"},
        "Closed as invalid after a bad-lead report",
    ),
    (
        "requeued",
        {"installer": "contact@soleil-paris.example"},
        "Put back in line at the request of Soleil Paris",
    ),
    (
        "status",
        {"status": "quote_sent", "amount": 12500.0, "currency": "EUR", "approved": False},
        "Status: Quote sent (12,500 €)",
    ),
    (
        "status",
        {
            "status": "quote_sent",
            "amount": 9999.5,
            "currency": "EUR",
            "approved": True,
            "products": "10 kWp",
        },
        "Status: Quote sent (9,999.50 €; accepted by the customer; 10 kWp)",
    ),
    (
        "status",
        {
            "status": "installation_scheduled",
            "date": "2027-01-15",
            "contact_type": "phone",
            "contact_date": "2026-12-01",
        },
        "Status: Installation scheduled (Jan 15, 2027; contact: Phone on Dec 1, 2026)",
    ),
    ("status", {"status": "failed", "reason": "customer moved"}, "Status: Failed (customer moved)"),
    ("status", {"status": "released", "reason": "too far"}, "Given back by the installer: too far"),
    (
        "released",
        {"reason": "given back by the installer", "installer_id": 7},
        "Given back: back in rotation: given back by the installer",
    ),
    (
        "expired",
        {"reason": "8 weeks after creation without progress"},
        "Expired: 8 weeks after creation without progress",
    ),
    (
        "pool",
        {"reason": "no eligible installer left", "exchange": "listed"},
        "Waiting in the pool, listed in the lead exchange: no eligible installer left",
    ),
    (
        "waiting",
        {"reason": "eligible installers are busy"},
        "Waiting for an installer: eligible installers are busy",
    ),
    ("exchange_listed", {"reason": "rotation"}, "Listed in the lead exchange"),
    (
        "exchange_opened",
        {"by": "admin@example.com"},
        "Opened to the lead exchange by an administrator",
    ),
    (
        "exchange_claimed",
        {"installer": "contact@soleil-paris.example"},
        "Claimed from the lead exchange by Soleil Paris",
    ),
    (
        "exchange_claim_lapsed",
        {"installer": "contact@soleil-paris.example"},
        "Reservation of Soleil Paris lapsed: back in the lead exchange",
    ),
    (
        "reminder",
        {"kind": "no_status", "installer": "contact@soleil-paris.example"},
        "Reminder sent to Soleil Paris: no progress recorded yet",
    ),
    (
        "reminder",
        {"kind": "follow_up", "installer": "contact@soleil-paris.example"},
        "Follow-up reminder sent to Soleil Paris",
    ),
    ("reminder", {"kind": "site_visit"}, "Site visit reminder sent"),
    (
        "reminder_skipped",
        {"kind": "site_visit", "reason": "the visit had passed"},
        "Reminder not sent: the visit had passed",
    ),
    ("contact_details_revealed", {"installer_id": 7}, "Contact details shown to Soleil Paris"),
    (
        "email_bounced",
        {"to": "claire@example.fr", "status": "5.1.1"},
        "Email to claire@example.fr bounced (5.1.1)",
    ),
    (
        "site_visit_booked",
        {"starts_at": "2026-12-09T13:30:00+00:00"},
        "Site visit booked for Wed 9 Dec 2026 14:30",
    ),
    (
        "site_visit_moved",
        {"starts_at": "2026-12-09T13:30:00+00:00"},
        "Site visit moved to Wed 9 Dec 2026 14:30",
    ),
    (
        "site_visit_cancelled",
        {"starts_at": "2026-12-09T13:30:00+00:00"},
        "Site visit of Wed 9 Dec 2026 14:30 cancelled",
    ),
    (
        "site_visit_not_sent",
        {"reason": "customer has no email"},
        "Visit invitation not sent: the customer has no email address",
    ),
    (
        "survey_sent",
        {"to": "claire@example.fr"},
        "Rating request sent to the customer",
    ),
    (
        "survey_reminder",
        {"to": "claire@example.fr"},
        "Rating request reminder sent",
    ),
    (
        "rated",
        {"service": 5, "installation": 4, "communication": 5, "comment": True},
        "Rated by the customer: communication 5/5, installation 4/5, service 5/5",
    ),
    (
        "held",
        {"reason": "too many leads from this sender", "inbound_id": 3},
        "Held for review: too many leads from this sender",
    ),
    (
        "auto_reply",
        {"sender": "contact@soleil-paris.example", "subject": "Absent"},
        "Automatic reply received from contact@soleil-paris.example",
    ),
    ("email_reply", {"sender": "claire@example.fr"}, "Email reply received from claire@example.fr"),
    ("erased", {"by": "admin@example.com"}, "Personal data erased"),
    (
        "assigned",
        {"installer": "contact@soleil-paris.example", "reason": "asked by phone", "by": "a@x"},
        "Assigned to Soleil Paris: asked by phone",
    ),
    (
        "reassigned",
        {
            "installer": "devis@ile-de-france-pv.example",
            "previous_installer": "contact@soleil-paris.example",
            "reason": "no answer",
        },
        "Reassigned from Soleil Paris to IDF Photovoltaïque: no answer",
    ),
    (
        "back_to_rotation",
        {"reason": "customer called again", "previous_status": "failed"},
        "Put back into rotation: customer called again",
    ),
    ("closed", {"reason": "customer moved"}, "Closed as lost: customer moved"),
    ("archived", {}, "Archived"),
    ("unarchived", {}, "Taken out of the archive"),
    ("marked_spam", {"previous_status": "new"}, "Marked as spam"),
    ("unmarked_spam", {}, "No longer marked as spam"),
    ("spam_decline_confirmed", {"offers": [3]}, "Declined as spam: confirmed by an administrator"),
    ("edited", {"fields": ["customer_name", "phone"]}, "Fields edited: customer name, phone"),
    # Unknown kinds: their words and values, never JSON.
    (
        "quote_revised",
        {"amount": 9000, "items": ["roof", "battery"], "meta": {"x": 1}, "ok": True},
        "Quote revised (amount: 9000, items: roof, battery, meta: x 1, ok: yes)",
    ),
    ("mystery", {}, "Mystery"),
]


@pytest.mark.parametrize(
    ("kind", "data", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_every_event_kind_reads_as_a_sentence(kind, data, expected):
    assert one(kind, data) == expected


def test_every_kind_the_service_records_has_a_case():
    """The event kinds written in the code (Record(…, "kind"), add_event/admin_event(…,
    "kind")) all appear above: a new kind needs its sentence (or a deliberate generic one)."""
    recorded = set()
    for path in Path("mailflow").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            index = {"Record": 1, "add_event": 2, "admin_event": 2}.get(name)
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                recorded.add(arg.value)
            elif isinstance(arg, ast.IfExp):
                recorded |= {a.value for a in (arg.body, arg.orelse) if isinstance(a, ast.Constant)}
    recorded |= {"site_visit_booked", "site_visit_moved", "site_visit_cancelled"}  # f-string
    assert len(recorded) > 30
    assert recorded <= {c[0] for c in CASES}, recorded - {c[0] for c in CASES}


def test_accepted_after_the_time_since_its_offer():
    offered = ev("offered", OFFERED, at=T0)
    accepted = ev(
        "accepted",
        {"installer": "contact@soleil-paris.example", "offer_id": 1, "via": "link"},
        at=T0 + timedelta(hours=2, minutes=10),
        actor=Actor.INSTALLER,
    )
    assert say(offered, accepted)[1] == "Accepted by Soleil Paris after 2 hr 10 min"
    assert say(offered, accepted, language="fr")[1] == "Accepté par Soleil Paris après 2 h 10 min"


def test_an_unknown_installer_is_named_by_email_and_admins_by_their_address():
    lines = story.timeline(
        [
            ev("offer_expired", {"installer": "gone@example.com"}),
            ev("closed", {"reason": "x", "by": "boss@example.com"}, actor=Actor.ADMIN),
            ev("released", {"installer_id": 404}),
        ],
        installers={},
        language="en",
        zone=PARIS,
    )
    assert lines[0].text == "Offer to gone@example.com timed out"
    assert (lines[1].actor, lines[1].by) == ("admin", "boss@example.com")
    assert lines[2].text == "Given back: back in rotation"


def test_sentences_in_french_and_german():
    fr = say(ev("offered", OFFERED), ev("offer_expired", OFFERED), language="fr")
    assert fr == [
        "Proposé à Soleil Paris (or, 0 offre en 30 jours) jusqu’à mer. 12:15",
        "L’offre à Soleil Paris a expiré",
    ]
    de = say(
        ev("status", {"status": "quote_sent", "amount": 12500, "currency": "EUR"}), language="de"
    )
    assert de == ["Status: Angebot gesendet (12.500 €)"]


@given(
    kind=st.from_regex(r"[a-z_]{1,30}", fullmatch=True),
    data=st.dictionaries(
        st.text(max_size=20),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=10,
        ),
        max_size=6,
    ),
)
def test_any_event_reads_as_text_never_json(kind, data):
    for k in [kind, "offered", "accepted", "status", "declined", "reassigned", "rated"]:
        (line,) = story.timeline([ev(k, data)], installers=INSTALLERS, language="en", zone=PARIS)
        assert isinstance(line.text, str) and line.text.strip()
        assert not line.text.startswith(("{", "[")) and len(line.text) < 6 * 600


# ------------------------------------------------------------------ fields ------------------
def test_progress_as_labelled_fields():
    progress = {
        "quote": {
            "amount": 12500.0,
            "currency": "EUR",
            "approved": True,
            "products": "10 kWp, battery",
        },
        "installation_date": "2027-01-15",
        "follow_up": {"date": "2027-02-01", "note": "call after the holidays"},
        "failed_reason": "customer moved",
        "site_survey": {"roof_checked": True},
    }
    assert story.progress_fields(progress, "en") == [
        ("Quote amount", "12,500 €"),
        ("Quote accepted by the customer", "yes"),
        ("Products", "10 kWp, battery"),
        ("Installation date", "Jan 15, 2027"),
        ("Follow-up on", "Feb 1, 2027"),
        ("Follow-up note", "call after the holidays"),
        ("Reason it failed", "customer moved"),
        ("Site survey", "roof checked yes"),
    ]
    assert story.progress_fields({"quote": {"amount": 12500, "currency": "EUR"}}, "de")[0] == (
        "Angebotsbetrag",
        "12.500 €",
    )
    assert story.progress_fields(None, "en") == []


def test_details_by_their_words_and_units():
    details = {
        "annual_consumption_kwh": 4200,
        "storage_interest": True,
        "roof_area_m2": 35.5,
        "odd_key": "x",
    }
    assert [(label, plain(value)) for label, value in story.detail_fields(details, "en")] == [
        ("Annual consumption", "4,200 kWh"),
        ("Odd key", "x"),
        ("Roof area", "35.5 m²"),
        ("Interested in storage", "yes"),
    ]


def test_the_project_by_its_names():
    lead = SimpleNamespace(product="heat_pump", building_type="residential", grid_connection=None)
    assert story.project_words(lead, "en") == {
        "product": "heat pump",
        "building": "residential",
        "grid": "—",
    }
    odd = SimpleNamespace(product="wind_turbine", building_type=None, grid_connection="off_grid")
    assert story.project_words(odd, "fr")["product"] == "wind turbine"
    assert story.project_words(odd, "en")["grid"] == "off the grid"
