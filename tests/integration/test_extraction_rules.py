"""Extraction rules through the admin pages: a quarantined message's lead completed by hand, the
rule saved from it, the sender's next message read by the rule on its own; the rules page
(edit, delete, re-run with preview); viewers refused; errors shown."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.domain.intake.parse import parse_message
from mailflow.infra.intake_store import store_inbound
from mailflow.intake.process import lock_inbound_with_rules, process_one
from mailflow.intake.rule_store import load_rules
from mailflow.models import AuditEntry, Channel, ExtractionRule, InboundMessage, Lead
from mailflow.web.app import create_app
from support.factories import make_admin, make_inbound
from support.formats import SENDER, platform_mail
from support.web import login, post

JEAN = ("Jean Dupont", "06 12 34 56 78", "jean@example.org", "75011", "Paris")
ZOE = ("Zoé Martin", "07 98 76 54 32", "zoe@example.com", "69003", "Lyon")
FORM = dict(zip(("name", "phone", "email", "postcode", "city"), JEAN, strict=True))


@pytest.fixture
def client(settings, broker):
    make_admin(settings)
    with TestClient(create_app()) as client:
        assert login(client).status_code == 303
        yield client


def quarantined(settings, values=JEAN, number=4411) -> int:
    raw = platform_mail(*values, number=number)
    assert parse_message(raw).kind == "quarantine"  # the general parser cannot read it
    stored = store_inbound(raw, Channel.SMTP, settings=settings, envelope_from=SENDER)
    process_one(stored.id, now=now(), settings=settings)
    with session_scope(settings) as s:
        assert s.get(InboundMessage, stored.id).outcome.value == "quarantined"
    return stored.id


def inbound(settings, inbound_id):
    with session_scope(settings) as s:
        row = s.get(InboundMessage, inbound_id)
        s.expunge(row)
        return row


def lead_of(settings, inbound_id) -> Lead | None:
    with session_scope(settings) as s:
        lead = s.scalar(select(Lead).where(Lead.inbound_id == inbound_id))
        if lead is not None:
            s.expunge(lead)
        return lead


def rules(settings) -> list[ExtractionRule]:
    with session_scope(settings) as s:
        found = list(s.scalars(select(ExtractionRule)))
        for rule in found:
            s.expunge(rule)
        return found


def create(client, inbound_id, values=FORM, **extra):
    page = f"/admin/inbound/{inbound_id}/read"
    return post(client, page, {**values, **extra}, page=page)


def test_the_page_shows_decoded_text_escaped_with_the_parsers_values_highlighted(client, settings):
    raw = platform_mail("<script>alert(1)</script>", *JEAN[1:])
    inbound_id = make_inbound(
        settings,
        "quarantined",
        raw=raw,
        reason="missing required field: customer.name",
        parsed={"candidate": {"customer": {"postcode": "75011", "email": "jean@example.org"}}},
    )
    page = client.get(f"/admin/inbound/{inbound_id}/read")
    assert page.status_code == 200
    text = page.text
    assert "ist eingegangen – viel Erfolg!" in text  # quoted-printable decoded
    assert "=E2=80=93" not in text
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text
    assert re.search(r'<mark data-field="postcode">75011<small>', text)
    assert re.search(r'<mark data-field="email">jean@example.org<small>', text)
    assert re.search(
        r'name="postcode"[^>]* value="75011"', text
    )  # pre-filled with the parser's candidate
    # and the message's own page links to it
    assert (
        f'href="/admin/inbound/{inbound_id}/read"'
        in client.get(f"/admin/inbound/{inbound_id}").text
    )


def test_complete_the_lead_save_the_rule_and_the_next_message_becomes_a_lead(client, settings):
    first = quarantined(settings)
    response = create(
        client, first, save_rule="1", rule_scope="domain", rule_subject="via SolarMatch"
    )
    assert response.status_code == 303, response.text
    lead = lead_of(settings, first)
    assert lead is not None and lead.customer_name == "Jean Dupont"
    assert inbound(settings, first).outcome.value == "lead"
    [rule] = rules(settings)
    assert rule.sender == "@solarmatch.example" and rule.subject_pattern == "via SolarMatch"
    assert {loc["field"] for loc in rule.locators} == set(FORM)
    assert rule.messages_read == 0

    second = store_inbound(platform_mail(*ZOE, number=4412), Channel.SMTP, settings=settings)
    assert process_one(second.id, now=now(), settings=settings).value == "lead"
    lead = lead_of(settings, second.id)
    assert (lead.customer_name, lead.email, lead.postcode) == (
        "Zoé Martin",
        "zoe@example.com",
        "69003",
    )
    assert lead.phone == "+33798765432"
    assert inbound(settings, second.id).parsed["rule"] == rule.id
    [rule] = rules(settings)
    assert rule.messages_read == 1 and rule.last_used_at is not None

    listing = client.get("/admin/rules").text
    assert "@solarmatch.example" in listing and re.search(r'data-label="Messages read">1<', listing)
    with session_scope(settings) as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"inbound.lead", "rule.create"} <= actions


def test_a_subject_pattern_and_an_address_limit_the_rule(client, settings):
    first = quarantined(settings)
    create(client, first, save_rule="1", rule_scope="address", rule_subject="Anfrage 9*")
    [rule] = rules(settings)
    assert rule.sender == SENDER
    # subject "Anfrage 4412 via SolarMatch" does not match "Anfrage 9*": quarantined as before
    other = store_inbound(platform_mail(*ZOE, number=4412), Channel.SMTP, settings=settings)
    assert process_one(other.id, now=now(), settings=settings).value == "quarantined"
    matching = store_inbound(platform_mail(*ZOE, number=9001), Channel.SMTP, settings=settings)
    assert process_one(matching.id, now=now(), settings=settings).value == "lead"


def test_a_rule_that_reads_no_valid_lead_falls_back_and_says_why(client, settings):
    first = quarantined(settings)
    create(client, first, save_rule="1")
    broken = ("Zoé Martin", "not a phone", "not an email", "69003", "Lyon")
    other = store_inbound(platform_mail(*broken, number=4412), Channel.SMTP, settings=settings)
    assert process_one(other.id, now=now(), settings=settings).value == "quarantined"
    row = inbound(settings, other.id)
    assert row.parsed["rule_failed"]["rule"] == rules(settings)[0].id
    assert "email" in row.parsed["rule_failed"]["reason"]
    [rule] = rules(settings)
    assert rule.failures == 1 and rule.messages_read == 0 and "email" in rule.last_failure


def test_validation_errors_are_shown_and_nothing_is_written(client, settings):
    first = quarantined(settings)
    response = create(client, first, {**FORM, "email": "not-an-email", "phone": ""})
    assert response.status_code == 422
    assert "not a valid email address" in html.unescape(response.text)
    assert re.search(
        r'name="email"[^>]* value="not-an-email"', response.text
    )  # the admin's input is kept
    assert (
        inbound(settings, first).outcome.value == "quarantined" and lead_of(settings, first) is None
    )
    response = create(client, first, save_rule="1", rule_scope="address", rule_sender="nobody")
    assert response.status_code == 422 and rules(settings) == []
    assert inbound(settings, first).outcome.value == "quarantined"


def test_values_not_in_the_text_are_constants_only_when_asked(client, settings):
    first = quarantined(settings)
    values = {**FORM, "product": "heat_pump", "country": "FR", "constant_product": "on"}
    create(client, first, values, save_rule="1")
    [rule] = rules(settings)
    fields = {loc["field"]: loc["kind"] for loc in rule.locators}
    assert fields["product"] == "constant" and "country" not in fields
    second = store_inbound(platform_mail(*ZOE, number=4412), Channel.SMTP, settings=settings)
    process_one(second.id, now=now(), settings=settings)
    assert lead_of(settings, second.id).product == "heat_pump"


def test_rerun_preview_then_confirm(client, settings):
    first = quarantined(settings)
    waiting = quarantined(settings, ZOE, number=4412)
    unreadable = quarantined(settings, ("Eve", "nope", "nope", "1", "X"), number=4413)
    create(client, first, save_rule="1")
    [rule] = rules(settings)
    preview = client.get(f"/admin/rules/{rule.id}/rerun")
    assert preview.status_code == 200
    text = html.unescape(preview.text)
    assert "Zoé Martin, zoe@example.com, 69003" in text
    assert f'href="/admin/inbound/{unreadable}"' in text and "still quarantined" in text
    assert inbound(settings, waiting).outcome.value == "quarantined"  # a preview changes nothing
    response = post(
        client,
        f"/admin/rules/{rule.id}/rerun",
        {"inbound": [str(waiting), str(unreadable)]},
        page=f"/admin/rules/{rule.id}/rerun",
    )
    assert response.status_code == 303
    assert inbound(settings, waiting).outcome.value == "lead"
    assert lead_of(settings, waiting).customer_name == "Zoé Martin"
    assert inbound(settings, unreadable).outcome.value == "quarantined"
    assert rules(settings)[0].messages_read == 1


def test_edit_and_delete_a_rule(client, settings):
    first = quarantined(settings)
    create(client, first, save_rule="1")
    [rule] = rules(settings)
    page = f"/admin/rules/{rule.id}"
    assert "Wer fragt an" in html.unescape(client.get(page).text)
    bad = post(client, page, {"sender": "not an address", "subject": ""}, page=page)
    assert bad.status_code == 422 and rules(settings)[0].sender == SENDER
    saved = post(
        client,
        page,
        {"sender": "@SolarMatch.example", "subject": "x", "remove_city": "on"},
        page=page,
    )
    assert saved.status_code == 303
    [rule] = rules(settings)
    assert rule.sender == "@solarmatch.example" and rule.subject_pattern == "x"
    assert "city" not in {loc["field"] for loc in rule.locators}
    assert post(client, f"{page}/delete", page=page).status_code == 303
    assert rules(settings) == []


def test_viewers_see_rules_but_cannot_read_messages_or_change_anything(client, settings):
    first = quarantined(settings)
    second = quarantined(settings, ZOE, number=4412)
    create(client, first, save_rule="1")
    [rule] = rules(settings)
    make_admin(settings, email="viewer@example.com", role="viewer")
    with TestClient(create_app()) as viewer:
        assert login(viewer, email="viewer@example.com").status_code == 303
        listing = viewer.get("/admin/rules")
        assert listing.status_code == 200
        assert SENDER in listing.text
        assert viewer.get(f"/admin/inbound/{second}/read").status_code == 403
        preview = viewer.get(f"/admin/rules/{rule.id}/rerun")
        assert preview.status_code == 200 and "Zoé Martin" not in preview.text
        for url, data in [
            (f"/admin/inbound/{second}/read", {**FORM, "save_rule": "1"}),
            (f"/admin/rules/{rule.id}", {"sender": "@x.example"}),
            (f"/admin/rules/{rule.id}/delete", {}),
            (f"/admin/rules/{rule.id}/rerun", {"inbound": str(second)}),
        ]:
            assert post(viewer, url, data, page="/admin/rules").status_code == 403, url
    assert inbound(settings, second).outcome.value == "quarantined"
    assert [r.sender for r in rules(settings)] == [SENDER]


def test_forms_without_csrf_are_refused(client, settings):
    first = quarantined(settings)
    response = client.post(f"/admin/inbound/{first}/read", data=FORM, follow_redirects=False)
    assert response.status_code == 403
    assert inbound(settings, first).outcome.value == "quarantined"


def test_a_message_no_longer_quarantined_is_refused(client, settings):
    first = quarantined(settings)
    assert create(client, first).status_code == 303
    again = create(client, first)
    assert again.status_code == 303 and again.headers["location"] == f"/admin/inbound/{first}"
    with session_scope(settings) as s:
        assert len(list(s.scalars(select(Lead)))) == 1


def test_the_inbound_job_reads_its_message_and_the_rules_in_one_statement(client, settings):
    first = quarantined(settings)
    with session_scope(settings) as s:
        assert lock_inbound_with_rules(s, first) == (s.get(InboundMessage, first), ())
    create(client, first, save_rule="1", rule_scope="domain", rule_subject="via SolarMatch")
    with session_scope(settings) as s:  # a second rule, for another platform
        (saved,) = s.scalars(select(ExtractionRule))
        s.add(ExtractionRule(sender="@other.example", locators=saved.locators, created_by="t"))
    stored = store_inbound(platform_mail(*JEAN, number=4413), Channel.SMTP, settings=settings)
    with session_scope(settings) as s:
        row, read = lock_inbound_with_rules(s, stored.id)
        assert row.id == stored.id
        assert len(read) == 2
        # the same rules, locators and all, as read row by row
        assert read == load_rules(s)
        assert {rule.subject_pattern for rule in read} == {"via SolarMatch", None}
        assert lock_inbound_with_rules(s, stored.id + 1000) == (None, ())
