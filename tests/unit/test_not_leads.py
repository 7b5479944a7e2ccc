"""Mail that is not a lead: bulk mail (newsletters, lists) unless it is clearly a lead, and the
quoted text of replies (#16)."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailflow.domain.intake.bulk import footer_start, header_signal, is_footer_line
from mailflow.domain.intake.mime import parse_bytes
from mailflow.domain.intake.parse import parse_message
from mailflow.domain.intake.quotes import (
    referenced_ids,
    reply_view,
    strip_quoted_html,
    strip_quoted_text,
    subject_kind,
)
from support.paths import LOCAL_CORPUS

NOT_LEADS = sorted((LOCAL_CORPUS / "leads").glob("notlead_*.eml"))


def test_the_not_lead_corpus_is_there() -> None:
    names = {p.stem for p in NOT_LEADS}
    assert len(names) >= 7
    assert {n.split("_")[1] for n in names if "newsletter" in n} == {"en", "de", "fr"}


@pytest.mark.parametrize("sample", NOT_LEADS, ids=lambda p: p.stem)
def test_not_lead_corpus_reasons(sample: Path) -> None:
    expected = json.loads(sample.with_name(sample.stem + ".expected.json").read_text("utf-8"))
    result = parse_message(sample.read_bytes())
    assert result.kind == expected["kind"], result.reason
    if "reason_contains" in expected:
        assert expected["reason_contains"] in result.reason
    if result.kind == "lead":
        assert result.info.get("bulk_verdict") or "bulk" not in result.info


def _message(body: str, *, headers: dict[str, str] | None = None, subject: str = "Hello") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = "leads@localhost"
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


LEAD_BLOCK = (
    "Name: Eva Roth\nE-Mail: eva.roth@example.de\nTelefon: 030 1234567\nPLZ: 10115\nOrt: Berlin\n"
)
IMPRINT = (
    "Name: Sonnen Verlag GmbH\nE-Mail: info@sonnen-verlag.example\nTelefon: 030 9999999\n"
    "PLZ: 10117\nOrt: Berlin\n"
)
PROSE = "\n".join(
    f"Paragraph {n}: the market for heat pumps keeps growing, says our editor, and prices fall."
    for n in range(12)
).replace(": the", " - the")


# --- bulk mail ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers,signal",
    [
        ({"List-Id": "News <news.example.org>"}, "List-Id"),
        ({"List-Unsubscribe": "<https://example.org/u>"}, "List-Unsubscribe"),
        ({"Precedence": "bulk"}, "Precedence: bulk"),
        ({"Precedence": "list"}, "Precedence: list"),
        ({"Precedence": "junk"}, "Precedence: junk"),
    ],
)
def test_bulk_headers(headers: dict, signal: str) -> None:
    message, _ = parse_bytes(_message("x", headers=headers))
    assert signal in header_signal(message)


def test_ordinary_headers_are_no_bulk_signal() -> None:
    message, _ = parse_bytes(_message("x", headers={"Precedence": "first-class"}))
    assert header_signal(message) is None


@pytest.mark.parametrize(
    "line,footer",
    [
        ("Impressum", True),
        ("Mentions légales :", True),
        ("Nota prawna", True),
        ("Unsubscribe: https://example.org/u/1", True),
        ("Click here to unsubscribe.", True),
        ("Se désinscrire", True),
        ("Wypisz się z newslettera", True),
        ("--", True),
        ("Datenschutz: akzeptiert", False),  # a web form's consent row
        ("Nachricht: Bitte melden Sie mich vom alten Tarif ab", False),
        ("Name: Eva Roth", False),
        ("We talked about the imprint of the brochure and many other things " * 4, False),
    ],
)
def test_footer_lines(line: str, footer: bool) -> None:
    assert is_footer_line(line) is footer


def test_footer_starts_at_the_first_marker() -> None:
    assert footer_start(["Hello", "", "Impressum", "Name: X"]) == 2
    assert footer_start(["Hello", "Name: X"]) is None


def test_imprint_of_a_newsletter_without_footer_markers_is_not_a_lead() -> None:
    """No heading, no unsubscribe line: the fields still are not the message's content."""
    raw = _message(PROSE + "\n\n" + IMPRINT, headers={"Precedence": "bulk"})
    result = parse_message(raw)
    assert result.kind == "auto_reply"
    # the prose names a heat pump, which the parser may take for the product: then the block at
    # the end is still not the message's content
    assert "bulk mail, not a lead" in result.reason
    assert "nothing about a project" in result.reason or "main content" in result.reason
    assert result.info["candidate"]["customer"]["name"] == "Sonnen Verlag GmbH"
    # even with a product line, a block at the end of a long letter is not its content
    raw = _message(
        PROSE + "\n\n" + IMPRINT + "Produkt: Wärmepumpe\n", headers={"Precedence": "bulk"}
    )
    result = parse_message(raw)
    assert result.kind == "auto_reply" and "not the message's main content" in result.reason


def test_the_same_imprint_without_bulk_signals_stays_a_lead() -> None:
    """Only bulk mail is judged: an ordinary message is parsed as before."""
    result = parse_message(_message(PROSE + "\n\n" + IMPRINT))
    assert result.kind == "lead"


def test_a_newsletter_naming_its_publisher_on_top_is_still_not_a_lead() -> None:
    top = "Sonnen Verlag GmbH presents: the heat pump letter (info@sonnen-verlag.example)\n\n"
    raw = _message(top + PROSE + "\n\nImpressum\n" + IMPRINT, headers={"List-Id": "<l.x>"})
    result = parse_message(raw)
    assert result.kind == "auto_reply" and "in the footer" in result.reason


def test_a_short_mailing_with_a_contact_block_is_not_a_lead() -> None:
    """No footer, the block on top: but a name, an email and a phone make no request."""
    body = "Liebe Partner,\nunsere neue Preisliste ist da.\n\n" + IMPRINT
    result = parse_message(_message(body, headers={"List-Id": "<partner.sonnen.example>"}))
    assert result.kind == "auto_reply" and "nothing about a project" in result.reason
    with_request = body + "Produkt: Wärmepumpe\n"
    assert parse_message(_message(with_request, headers={"List-Id": "<p.x>"})).kind == "lead"


def test_bulk_notification_with_the_lead_on_top_is_a_lead() -> None:
    raw = _message(
        "Neue Anfrage\n\n"
        + LEAD_BLOCK
        + "Produkt: Wärmepumpe\n\n"
        + PROSE
        + "\n\nImpressum\n"
        + IMPRINT,
        headers={"Precedence": "bulk", "Auto-Submitted": "auto-generated", "List-Id": "<l.x>"},
    )
    result = parse_message(raw)
    assert result.kind == "lead", result.reason
    assert result.lead.customer.name == "Eva Roth"
    assert result.info["bulk_verdict"] == "the lead block opens the message"


def test_bulk_lead_block_after_a_long_intro_counts_when_it_is_most_of_the_message() -> None:
    intro = "\n".join(f"Zeile {n} der Einleitung ohne Felder" for n in range(8))
    rows = LEAD_BLOCK + "Dachfläche: 40 m²\n" + "".join(f"Feld {n}: Wert {n}\n" for n in range(12))
    result = parse_message(_message(intro + "\n" + rows, headers={"Precedence": "bulk"}))
    assert result.kind == "lead", result.reason
    assert result.info["bulk_verdict"] == "the lead block is the message's main content"


def test_bulk_json_lead_is_a_lead() -> None:
    document = {
        "product": "pv",
        "customer": {"name": "Eva Roth", "email": "eva@example.de", "postcode": "10115"},
    }
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "p@x.example", "leads@localhost", "lead"
    msg["Precedence"] = "bulk"
    msg["List-Unsubscribe"] = "<https://x.example/u>"
    msg.set_content(PROSE + "\n\nUnsubscribe: https://x.example/u\n" + IMPRINT)
    msg.add_attachment(json.dumps(document).encode(), "application", "json", filename="lead.json")
    result = parse_message(msg.as_bytes())
    assert result.kind == "lead", result.reason
    assert result.lead.customer.name == "Eva Roth"


def test_bulk_mail_without_lead_fields_is_not_a_lead() -> None:
    result = parse_message(_message(PROSE, headers={"List-Id": "<news.example.org>"}))
    assert result.kind == "auto_reply"
    assert result.reason.startswith("bulk mail, not a lead (List-Id")


def test_a_newsletter_footer_alone_makes_mail_bulk() -> None:
    body = PROSE + "\n\nYou are receiving this email because you subscribed.\n" + IMPRINT
    result = parse_message(_message(body))
    assert result.kind == "auto_reply" and "footer" in result.reason
    assert "in the footer" in result.reason


def test_a_web_form_with_a_consent_row_is_no_bulk_mail() -> None:
    result = parse_message(_message("Datenschutz: akzeptiert\n" + LEAD_BLOCK))
    assert result.kind == "lead" and "bulk" not in result.info


# --- replies ------------------------------------------------------------------------------


def test_referenced_ids_in_reply_to_first() -> None:
    message, _ = parse_bytes(
        b"From: a@x\nIn-Reply-To: <b@x>\nReferences: <a@x> <b@x>\n <c@x> junk\n\nx\n"
    )
    assert referenced_ids(message) == ["<b@x>", "<a@x>", "<c@x>"]


@pytest.mark.parametrize(
    "subject,kind",
    [
        ("Re: lead", "reply"),
        ("AW: Anfrage", "reply"),
        ("RE: [42] x", "reply"),
        ("Odp: zapytanie", "reply"),
        ("Fwd: lead", "forward"),
        ("WG: Anfrage", "forward"),
        ("TR: demande", "forward"),
        ("Neue Anfrage: PV", None),
        ("", None),
    ],
)
def test_subject_kind(subject: str, kind: str | None) -> None:
    assert subject_kind(subject) == kind


@pytest.mark.parametrize(
    "attribution",
    [
        "On Fri, 4 Dec 2026 at 10:15, Mailflow <leads@localhost> wrote:",
        "Am 04.12.2026 um 10:15 schrieb Mailflow <leads@localhost>:",
        "Le ven. 4 déc. 2026 à 10:15, Mailflow <leads@localhost> a écrit :",
        "W dniu 4.12.2026 o 10:15 Mailflow <leads@localhost> pisze:",
        "On Fri, 4 Dec 2026 at 10:15, Mailflow <\nleads@localhost> wrote:",  # wrapped
        "Mailflow <leads@localhost> wrote:",
    ],
)
def test_attribution_ends_what_the_sender_wrote(attribution: str) -> None:
    text = f"Accept\n\nThanks\n\n{attribution}\nName: Claire Dubois\nPLZ: 75010\n"
    assert strip_quoted_text(text, "reply").split() == ["Accept", "Thanks"]


def test_a_field_ending_in_wrote_is_no_attribution() -> None:
    text = "Name: Eva Roth\nMessage: my neighbour wrote:\nplease call\nPLZ: 10115\n"
    assert strip_quoted_text(text, "reply") == text


def test_quoted_lines_are_dropped_and_a_sentence_with_wrote_is_kept() -> None:
    text = "I wrote to the customer: no answer.\n> Name: Claire\n>> PLZ: 75010\nBye"
    assert strip_quoted_text(text, None) == "I wrote to the customer: no answer.\nBye"


def test_outlook_original_message_is_cut_in_a_reply_but_a_forward_stays_whole() -> None:
    text = "Annehmen\n\n-----Ursprüngliche Nachricht-----\nVon: x\nBetreff: y\n\nName: Eva\n"
    assert strip_quoted_text(text, "reply").split() == ["Annehmen"]
    assert strip_quoted_text(text, "forward") == text


def test_html_quotes_are_dropped() -> None:
    html = (
        "<div>Accept</div><blockquote><p>Name: A</p><blockquote>PLZ: 1</blockquote></blockquote>"
        '<p>ok</p><div class="gmail_quote"><div>On x wrote:</div><p>Name: B</p></div>'
    )
    assert strip_quoted_html(html) == "<div>Accept</div><p>ok</p>"


def test_reply_view_only_for_replies() -> None:
    body = "Hello\n> Name: Claire Dubois\n"
    plain, _ = parse_bytes(_message(body))
    assert reply_view(plain) is None
    reply, _ = parse_bytes(_message(body, headers={"In-Reply-To": "<x@y>"}))
    view = reply_view(reply)
    assert view is not None and "Claire" not in view.get_payload(decode=True).decode()
    assert "Claire" in reply.get_payload(decode=True).decode()  # the original is untouched


def test_a_quoted_lead_in_a_reply_is_not_read() -> None:
    body = "Please have a look.\n\nOn Fri, 4 Dec 2026, Form <f@x> wrote:\n> " + LEAD_BLOCK.replace(
        "\n", "\n> "
    )
    result = parse_message(_message(body, headers={"In-Reply-To": "<x@y>"}, subject="Re: x"))
    assert result.kind == "quarantine"
    assert "quoted text of a reply is not read" in result.reason
    # the same text without reply headers is read as before (a quoted, forwarded lead)
    assert parse_message(_message(body)).kind == "lead"


def test_a_forward_with_reply_headers_keeps_its_forwarded_lead() -> None:
    body = "FYI\n\n---------- Forwarded message ---------\nFrom: Form <f@x>\nSubject: lead\n\n"
    result = parse_message(
        _message(body + LEAD_BLOCK, headers={"References": "<x@y>"}, subject="Fwd: lead")
    )
    assert result.kind == "lead", result.reason
    assert result.lead.customer.name == "Eva Roth"


def test_a_failing_check_never_costs_a_lead(monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("mailflow.domain.intake.parse.reply_view", broken)
    monkeypatch.setattr("mailflow.domain.intake.parse.judge", broken)
    raw = _message(LEAD_BLOCK, headers={"Precedence": "bulk", "In-Reply-To": "<x@y>"})
    result = parse_message(raw)
    assert result.kind == "lead"
    assert result.info["reply_view_error"] == "RuntimeError: boom"
    assert result.info["bulk_verdict"] == "not judged"
