"""Learning a format from one example (domain/intake/extraction.py): learn on one message,
apply on another of the same format with other values, get the other values."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.domain.intake.extraction import (
    Locator,
    apply,
    clean_value,
    decoded_lines_of,
    highlight,
    learn,
    locators_from_json,
    norm,
)
from mailflow.domain.intake.extraction_rules import (
    Rule,
    read_with_rules,
    sender_matches,
    subject_matches,
    to_lead_data,
    valid_sender,
)


def _labelled(name, email, phone, postcode, city):
    return [
        "Neue Anfrage über Solarvergleich",
        "",
        f"Kunde:   {name}",
        f"E-Mail-Adresse: {email}",
        f"Telefon (mobil) - {phone}",
        f"Ort | {postcode} {city}",
        "",
        "Viele Grüße",
    ]


FIRST = {
    "name": "Jean Dupont",
    "email": "jean@example.org",
    "phone": "0612345678",
    "postcode": "75011",
}
SECOND = {
    "name": "Anna Maria Schmidt",
    "email": "anna.schmidt@example.net",
    "phone": "+49 30 1234567",
    "postcode": "10115",
}


def test_labels_on_the_value_line_are_learned_and_read_elsewhere():
    lines = _labelled(*FIRST.values(), "Paris")
    learned = learn(lines, FIRST)
    assert learned.missing == []
    assert {loc.kind for loc in learned.locators} == {"prefix"}
    other = _labelled(*SECOND.values(), "Berlin")
    assert apply(other, learned.locators) == SECOND


def test_label_on_the_line_above_and_a_heading_anchor():
    def mail(name, email, city):
        return [
            "Lead #1234",
            "Contact",
            name,
            "Email",
            email,
            "",
            "Address",
            f"{city}, France",
        ]

    learned = learn(
        mail("Jean Dupont", "jean@example.org", "Lyon"),
        {
            "name": "Jean Dupont",
            "email": "jean@example.org",
            "city": "Lyon",
        },
    )
    kinds = {loc.field: loc.kind for loc in learned.locators}
    assert kinds == {"name": "anchor", "email": "anchor", "city": "anchor"}
    city = next(loc for loc in learned.locators if loc.field == "city")
    assert (city.label, city.offset, city.pieces) == ("Address", 1, ("", ", France"))
    read = apply(mail("Zoé Martin", "zoe@example.com", "Saint-Étienne"), learned.locators)
    assert read == {"name": "Zoé Martin", "email": "zoe@example.com", "city": "Saint-Étienne"}


def test_table_with_a_header_row_reads_by_column():
    def mail(name, postcode, phone):
        return ["Your new leads", "Name\tPostcode\tPhone", f"{name}\t{postcode}\t{phone}"]

    values = {"name": "Jean Dupont", "postcode": "75011", "phone": "0612345678"}
    learned = learn(mail(*values.values()), values)
    assert {loc.kind for loc in learned.locators} == {"column"}
    assert apply(mail("Ewa Nowak", "00-950", "+48 601 234 567"), learned.locators) == {
        "name": "Ewa Nowak",
        "postcode": "00-950",
        "phone": "+48 601 234 567",
    }


def test_html_row_headers_from_a_real_message():
    def raw(name, email):
        return (
            "From: Leads <noreply@platform.example>\r\nSubject: New lead\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            "<table><tr><td>Nom complet</td><td>" + name + "</td></tr>"
            "<tr><td>Courriel</td><td>" + email + "</td></tr></table>"
        ).encode()

    lines = decoded_lines_of(raw("Jean Dupont", "jean=40example.org"))
    assert "Courriel\tjean@example.org" in lines  # quoted-printable undone, cells as tabs
    learned = learn(lines, {"name": "Jean Dupont", "email": "jean@example.org"})
    assert apply(decoded_lines_of(raw("Zoé Martin", "zoe=40example.com")), learned.locators) == {
        "name": "Zoé Martin",
        "email": "zoe@example.com",
    }


def test_a_value_not_in_the_text_is_a_constant_only_when_asked():
    lines = ["Name: Jean", "Phone: 0612345678"]
    values = {"name": "Jean", "phone": "0612345678", "product": "pv", "city": "Paris"}
    learned = learn(lines, values, constants={"product"})
    assert learned.missing == ["city"]
    product = next(loc for loc in learned.locators if loc.field == "product")
    assert product.kind == "constant"
    assert apply(["Name: Ewa", "Phone: 0700000000"], learned.locators)["product"] == "pv"


def test_several_values_on_one_line_are_slots_between_fixed_text():
    def mail(phone, email, postcode, city):
        return ["Wie erreichbar", f"  {phone}  /  {email}", "Wo", f"{postcode} · {city}"]

    values = {"phone": "06 12 34 56 78", "email": "a@example.org", "postcode": "75011"}
    learned = learn(mail(*values.values(), "Paris"), values)
    assert learned.missing == []
    # the city was not entered: the postcode is the first word of what follows "Wo"
    assert apply(
        mail("+33 7 98 76 54 32", "zoe@example.com", "69003", "Lyon"), learned.locators
    ) == {
        "phone": "+33 7 98 76 54 32",
        "email": "zoe@example.com",
        "postcode": "69003",
    }


def test_labels_do_not_capture_other_values_and_a_missing_label_reads_nothing():
    learned = learn(["Name: Jean Dupont"], {"name": "Jean Dupont"})
    assert apply(["Nom: Jean", "Namesake: x"], learned.locators) == {}


def test_locators_round_trip_through_json_and_junk_is_dropped():
    learned = learn(_labelled(*FIRST.values(), "Paris"), FIRST)
    stored = [loc.to_json() for loc in learned.locators]
    assert locators_from_json(stored) == learned.locators
    assert locators_from_json([{"field": "password", "kind": "prefix"}, {"kind": "x"}, 3]) == []
    assert locators_from_json("nope") == []
    assert Locator.from_json({"field": "name", "kind": "anchor", "offset": -1}) is None


def test_sender_and_subject_matching():
    assert valid_sender("leads@platform.example") and valid_sender("@platform.example")
    assert not valid_sender("platform") and not valid_sender("@localhost")
    assert not valid_sender("a b@x.example")
    assert sender_matches("@platform.example", "noreply@mail.platform.example")
    assert sender_matches("@platform.example", "NoReply@Platform.Example")
    assert not sender_matches("@platform.example", "x@evilplatform.example")
    assert sender_matches("leads@platform.example", "leads@platform.example")
    assert not sender_matches("leads@platform.example", "other@platform.example")
    assert subject_matches(None, "anything")
    assert subject_matches("new lead", "Fwd: NEW  Lead #12")
    assert subject_matches("new lead #*", "New lead #12")
    assert not subject_matches("new lead #*", "Re: New lead #12")
    assert subject_matches("*lead*12", "Re: New lead #12")
    assert not subject_matches("a*b*a", "aba"[:2])


def test_a_hostile_glob_stays_fast():
    started = time.monotonic()
    assert not subject_matches("*a" * 100 + "b", "a" * 5000)
    assert time.monotonic() - started < 1


def test_highlight_marks_values_and_keeps_all_text():
    pieces = highlight(["Name: <b>Jean</b> Dupont"], {"name": "<b>Jean</b>"})
    assert pieces == [[("Name: ", None), ("<b>Jean</b>", "name"), (" Dupont", None)]]


def test_lead_data_reads_enum_texts():
    data = to_lead_data({"name": "Jean", "product": "Photovoltaïque", "postcode": "75011"})
    assert data["product"] == "pv"
    assert data["customer"] == {"name": "Jean", "postcode": "75011"}


_words = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=2, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(a=st.tuples(_words, _words, _words), b=st.tuples(_words, _words, _words))
def test_property_learned_on_one_message_reads_another(a, b):
    def mail(values):
        return [
            "Demande de devis",
            f"Nom : {values[0]}",
            "Adresse e-mail",
            values[1],
            "",
            "Ville\tCode",
            f"{values[2]}\t1234",
        ]

    fields = ("name", "email", "city")
    first = dict(zip(fields, a, strict=True))
    # values that are not parts of each other or of the fixed text (else "where" is ambiguous)
    fixed = " ".join(mail(("", "", ""))).casefold()
    for values in (a, b):
        folded = [v.casefold() for v in values]
        if any(x in y for x in folded for y in folded if x is not y) or any(
            v in fixed or v in "1234" for v in folded
        ):
            return
    learned = learn(mail(a), first)
    assert learned.missing == []
    assert apply(mail(b), learned.locators) == dict(zip(fields, b, strict=True))


def test_read_with_rules_picks_the_most_specific_matching_rule():
    from_domain = Rule(
        1, "@platform.example", None, (Locator("name", "prefix", pieces=("Name:", "")),)
    )
    from_address = Rule(
        2,
        "leads@platform.example",
        "offre",
        (
            Locator("name", "prefix", pieces=("Nom:", "")),
            Locator("email", "prefix", pieces=("Mail:", "")),
            Locator("postcode", "prefix", pieces=("CP:", "")),
        ),
    )
    raw = (
        "From: Platform <leads@platform.example>\r\n"
        "Subject: =?utf-8?q?Nouvelle_offre_=C3=A0_Paris?=\r\n\r\n"
        "Nom: Zoé Martin\r\nMail: zoe@example.com\r\nCP: 75011\r\n"
    ).encode()
    read = read_with_rules(raw, [from_domain, from_address], "FR")
    assert read.rule_id == 2 and read.lead.customer.email == "zoe@example.com"
    # the domain rule matches too but reads no valid lead: the failure names the fields
    failed = read_with_rules(raw, [from_domain], "FR")
    assert failed.lead is None and "postcode" in failed.error
    other = raw.replace(b"leads@platform.example", b"x@elsewhere.example")
    assert read_with_rules(other, [from_domain, from_address], "FR") is None


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(st.text(max_size=40), max_size=8),
    values=st.dictionaries(st.sampled_from(["name", "email", "city"]), st.text(max_size=12)),
)
def test_property_whatever_is_learned_reads_its_value_back(lines, values):
    learned = learn(lines, values)
    read = apply(lines, learned.locators)
    for locator in learned.locators:
        # as the value was entered, without the separators around it ("Jean:" is "Jean")
        assert norm(read[locator.field]) == norm(clean_value(values[locator.field]))
    assert len(highlight(lines, values)) == len(lines)
