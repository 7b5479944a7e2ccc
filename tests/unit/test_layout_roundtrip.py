"""Round trip through the layouts: any lead, written in any supported layout with the labels of
any language, as a full MIME email, parses back to the same fields."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.domain.intake.label_data import VOCABULARY
from mailflow.domain.intake.labels import resolve
from mailflow.domain.intake.layouts import (
    READERS,
    header_pairs,
    plausible,
    read_best,
    read_stacked,
    score,
    stacked_label,
)
from mailflow.domain.intake.mime import html_to_lines
from mailflow.domain.intake.parse import parse_message
from mailflow.domain.intake.rows import collect

LANGUAGES = ("en", "fr", "de", "pl")

# --- the lead generator --------------------------------------------------------------------

FIRST_NAMES = (
    "Élodie",
    "François",
    "Zoë",
    "Jürgen",
    "Anna-Lena",
    "Łukasz",
    "Małgorzata",
    "Siobhán",
    "Oliver",
    "Chloé",
    "Grzegorz",
    "Maël",
)
LAST_NAMES = (
    "Marchand",
    "Lefèvre",
    "Müller",
    "Groß",
    "Wiśniewski",
    "Żak",
    "O'Brien",
    "Smith",
    "de la Fontaine",
    "Brzęczyszczykiewicz",
    "Schäfer-Brandt",
    "Nowak",
)
# country → (postcodes, cities, streets, phone prefix and national numbers)
PLACES = {
    "FR": (
        ("75011", "69003", "13100", "01000", "97400"),
        ("Paris", "Lyon", "Aix-en-Provence", "Saint-Étienne", "Besançon"),
        ("12 rue des Lilas", "3 bis avenue Jean Jaurès", "Chemin du Moulin"),
        "+33",
        ("6 12 34 56 78", "1 42 68 53 00", "7 81 23 45 67"),
    ),
    "DE": (
        ("10115", "04107", "80331", "01067"),
        ("Berlin", "Leipzig", "München", "Görlitz", "Köln"),
        ("Hauptstraße 5", "Am Gärtnerweg 12a", "Lindenallee 3"),
        "+49",
        ("171 2345678", "30 12345678", "341 14065515"),
    ),
    "PL": (
        ("00-950", "30-001", "80-180", "90-001"),
        ("Warszawa", "Kraków", "Gdańsk", "Łódź", "Zielona Góra"),
        ("ul. Długa 12", "ul. Świętokrzyska 7/3", "al. Jerozolimskie 44"),
        "+48",
        ("601 234 567", "22 123 45 67", "512 345 678"),
    ),
    "GB": (
        ("SW1A 1AA", "M1 1AE", "EH1 1YZ", "B33 8TH"),
        ("London", "Manchester", "Edinburgh", "Stoke-on-Trent"),
        ("10 Downing Street", "221B Baker Street", "Flat 2, 7 Queen's Road"),
        "+44",
        ("20 7946 0958", "7700 900123", "161 496 0000"),
    ),
}
COUNTRY_NAMES = {"FR": "France", "DE": "Deutschland", "PL": "Polska", "GB": "United Kingdom"}
PRODUCTS = (
    ("Photovoltaïque", "pv"),
    ("Panneaux solaires", "pv"),
    ("Pompe à chaleur", "heat_pump"),
    ("Photovoltaik mit Speicher", "pv_battery"),
    ("Wärmepumpe", "heat_pump"),
    ("Fotowoltaika", "pv"),
    ("Pompa ciepła", "heat_pump"),
    ("Solar panels", "pv"),
    ("Battery storage", "battery"),
)
MESSAGES = (
    "Bonjour, je souhaite un devis pour ma maison.",
    "Bitte rufen Sie mich nachmittags an.",
    "Proszę o kontakt po 16.",
    "Could you send me an estimate for a 6 kWp system?",
    "Toiture orientée plein sud, 35 m² environ.",
    "Dach ist 2019 neu gedeckt worden.",
)
DOMAINS = ("example.fr", "example.de", "example.pl", "example.co.uk", "mail.example.com")


@dataclass
class Lead:
    first: str
    last: str
    email: str | None
    phone: str | None  # as written
    phone_e164: str | None
    postcode: str
    city: str | None
    street: str | None
    country: str
    country_written: bool
    product: tuple[str, str] | None
    message: str | None
    split_name: bool  # first and last name under their own labels
    labels: dict[str, str] = field(default_factory=dict)  # key → label as written

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) in form order."""
        values: list[tuple[str, str]] = []
        if self.split_name:
            values += [("first_name", self.first), ("last_name", self.last)]
        else:
            values.append(("name", f"{self.first} {self.last}"))
        for key, value in (
            ("email", self.email),
            ("phone", self.phone),
            ("street", self.street),
            ("postcode", self.postcode),
            ("city", self.city),
            ("country", COUNTRY_NAMES[self.country] if self.country_written else None),
            ("product", self.product[0] if self.product else None),
            ("message", self.message),
        ):
            if value:
                values.append((key, value))
        return [(self.labels[key], value) for key, value in values]


def _labels_of(key: str, language: str) -> list[str]:
    """The vocabulary's labels of ``key`` in ``language`` that resolve back to ``key`` alone."""
    found = []
    for label in VOCABULARY[key].get(language, ()) + VOCABULARY[key].get("*", ()):
        resolved = resolve(label)
        if resolved is not None and resolved.key == key:
            found.append(label)
    return found


KEYS = ("name", "first_name", "last_name", "email", "phone", "street", "postcode", "city")
KEYS += ("country", "product", "message")


@st.composite
def leads(draw: st.DrawFn) -> Lead:
    country = draw(st.sampled_from(sorted(PLACES)))
    postcodes, cities, streets, prefix, numbers = PLACES[country]
    first, last = draw(st.sampled_from(FIRST_NAMES)), draw(st.sampled_from(LAST_NAMES))
    contact = draw(st.sampled_from(("email", "phone", "both")))
    email = None
    if contact != "phone":
        local = draw(st.sampled_from(("jean.dupont", "a.nowak", "kontakt", "zoe-m", "info")))
        email = f"{local}{draw(st.integers(1, 99))}@{draw(st.sampled_from(DOMAINS))}"
    phone = phone_e164 = None
    if contact != "email":
        national = draw(st.sampled_from(numbers))
        phone = draw(st.sampled_from((f"{prefix} {national}", f"00{prefix[1:]} {national}")))
        phone_e164 = phonenumbers.format_number(
            phonenumbers.parse(f"{prefix}{national}"), phonenumbers.PhoneNumberFormat.E164
        )
    language = draw(st.sampled_from(LANGUAGES))
    labels = {key: draw(st.sampled_from(_labels_of(key, language))) for key in KEYS}
    return Lead(
        first=first,
        last=last,
        email=email,
        phone=phone,
        phone_e164=phone_e164,
        postcode=draw(st.sampled_from(postcodes)),
        city=draw(st.one_of(st.none(), st.sampled_from(cities))),
        street=draw(st.one_of(st.none(), st.sampled_from(streets))),
        country=country,
        # a lead without an international phone needs its country written: nothing else in a
        # five-digit postcode tells France from Germany
        country_written=phone is None or draw(st.booleans()),
        product=draw(st.one_of(st.none(), st.sampled_from(PRODUCTS))),
        message=draw(st.one_of(st.none(), st.sampled_from(MESSAGES))),
        split_name=draw(st.booleans()),
        labels=labels,
    )


# --- the layouts ---------------------------------------------------------------------------


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Formulaire <wordpress@site.example>"
    message["To"] = "leads@mailflow.example"
    message["Subject"] = subject
    message["Message-ID"] = "<roundtrip@site.example>"
    return message


def _text(body: str) -> EmailMessage:
    message = _message("New form entry")
    message.set_content(body)
    return message


def _html(body: str, with_text: str | None = None) -> EmailMessage:
    message = _message("Nouvelle demande")
    page = f"<html><head><style>td{{padding:4px}}</style></head><body>{body}</body></html>"
    if with_text is None:
        message.set_content(page, subtype="html")
    else:
        message.set_content(with_text)
        message.add_alternative(page, subtype="html")
    return message


def _e(text: str) -> str:
    return html.escape(text, quote=False)


def _csv(rows: list[tuple[str, str]], delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow([label for label, _ in rows])
    writer.writerow([value for _, value in rows])
    return out.getvalue()


def colon(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text("Hello,\n\n" + "".join(f"{label}: {value}\n" for label, value in rows))


def stacked(rows: list[tuple[str, str]]) -> EmailMessage:
    # WPForms-style plain text: "--- Label ---", a blank line, the value
    return _text("".join(f"--- {label} ---\n\n{value}\n\n" for label, value in rows))


def stacked_bare(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text("Nouvelle entrée\n\n" + "".join(f"{label}\n{value}\n" for label, value in rows))


def tab(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text("".join(f"{label}\t{value}\n" for label, value in rows))


def dash(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text("Demande reçue - merci\n\n" + "".join(f"{lab} - {v}\n" for lab, v in rows))


def arrow(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text("".join(f"{label} -> {value}\n" for label, value in rows))


def equals(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text("".join(f"{label.replace(' ', '_')} = {value}\n" for label, value in rows))


def html_table(rows: list[tuple[str, str]]) -> EmailMessage:
    cells = "".join(f"<tr><td><b>{_e(lab)}</b></td><td>{_e(v)}</td></tr>" for lab, v in rows)
    return _html(f"<p>Nouvelle demande&nbsp;:</p><table>{cells}</table>")


def html_label_row_above(rows: list[tuple[str, str]]) -> EmailMessage:
    # Gravity Forms: a label row, then a value row with an indent cell
    cells = "".join(
        f'<tr bgcolor="#EAF2FA"><td colspan="2"><strong>{_e(lab)}</strong></td></tr>'
        f'<tr bgcolor="#FFFFFF"><td width="20">&nbsp;</td><td>{_e(v)}</td></tr>'
        for lab, v in rows
    )
    inner = f'<table width="99%" border="0" cellpadding="1">{cells}</table>'
    return _html(f'<table width="100%"><tr><td>{inner}</td></tr></table>')


def html_header_row(rows: list[tuple[str, str]]) -> EmailMessage:
    head = "".join(f"<th>{_e(label)}</th>" for label, _ in rows)
    values = "".join(f"<td>{_e(value)}</td>" for _, value in rows)
    return _html(f"<table><tr>{head}</tr><tr>{values}</tr></table>")


def html_cards(rows: list[tuple[str, str]]) -> EmailMessage:
    # two fields side by side a row, each "<b>Label</b><br>value" in its cell
    cards = [f"<td><b>{_e(lab)}</b><br>{_e(v)}</td>" for lab, v in rows]
    table = "".join(f"<tr>{''.join(cards[i : i + 2])}</tr>" for i in range(0, len(cards), 2))
    return _html(f"<table>{table}</table>")


def html_dl(rows: list[tuple[str, str]]) -> EmailMessage:
    items = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in rows)
    return _html(f"<h2>Demande</h2><dl>{items}</dl>")


def html_strong_br(rows: list[tuple[str, str]]) -> EmailMessage:
    items = "".join(f"<strong>{_e(lab)}</strong><br>{_e(v)}<br><br>" for lab, v in rows)
    return _html(f"<div>{items}</div>")


def html_b_br_in_cells(rows: list[tuple[str, str]]) -> EmailMessage:
    # WPForms HTML: one row per field, "<b>Label</b><br>value" in one cell; a text part too
    cells = "".join(f"<tr><td><b>{_e(lab)}</b><br><br>{_e(v)}</td></tr>" for lab, v in rows)
    text = "".join(f"{label}\n{value}\n\n" for label, value in rows)
    return _html(f"<table>{cells}</table>", with_text=text)


def csv_semicolon(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text("Nouveau contact :\n\n" + _csv(rows, ";"))


def csv_comma(rows: list[tuple[str, str]]) -> EmailMessage:
    return _text(_csv(rows, ","))


def csv_pairs(rows: list[tuple[str, str]]) -> EmailMessage:
    # a transposed export: one "label;value" pair a line
    return _text("".join(f"{label};{value}\n" for label, value in rows))


def csv_attachment(rows: list[tuple[str, str]]) -> EmailMessage:
    message = _text("Please find the new lead attached.\n\nKind regards\n")
    message.add_attachment(
        _csv(rows, ";").encode("utf-8"), maintype="text", subtype="csv", filename="lead.csv"
    )
    return message


def csv_octet_stream(rows: list[tuple[str, str]]) -> EmailMessage:
    message = _text("Neue Anfrage im Anhang.\n")
    message.add_attachment(
        _csv(rows, ",").encode("utf-8"),
        maintype="application",
        subtype="octet-stream",
        filename="anfrage.csv",
    )
    return message


def json_attachment(rows: list[tuple[str, str]]) -> EmailMessage:
    message = _text("Lead attached.\n")
    document = json.dumps(dict(rows), ensure_ascii=False).encode("utf-8")
    message.add_attachment(document, maintype="application", subtype="json", filename="lead.json")
    return message


LAYOUTS: dict[str, Callable[[list[tuple[str, str]]], EmailMessage]] = {
    "colon": colon,
    "stacked": stacked,
    "stacked_bare": stacked_bare,
    "tab": tab,
    "dash": dash,
    "equals": equals,
    "arrow": arrow,
    "html_table": html_table,
    "html_label_row_above": html_label_row_above,
    "html_header_row": html_header_row,
    "html_dl": html_dl,
    "html_cards": html_cards,
    "html_strong_br": html_strong_br,
    "html_b_br_in_cells": html_b_br_in_cells,
    "csv_semicolon": csv_semicolon,
    "csv_comma": csv_comma,
    "csv_pairs": csv_pairs,
    "csv_attachment": csv_attachment,
    "csv_octet_stream": csv_octet_stream,
    "json_attachment": json_attachment,
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lead=leads())
def test_any_lead_in_any_layout_parses_back(layout: str, lead: Lead) -> None:
    raw = LAYOUTS[layout](lead.rows()).as_bytes()
    result = parse_message(raw, default_country="FR")
    assert result.kind == "lead", (result.reason, result.info)
    customer = result.lead.customer
    assert customer.name == f"{lead.first} {lead.last}"
    assert customer.email == lead.email
    assert customer.phone == lead.phone_e164
    assert customer.postcode == lead.postcode
    assert customer.city == lead.city
    assert customer.street == lead.street
    assert customer.country == lead.country
    assert result.lead.product == (lead.product[1] if lead.product else None)
    assert result.lead.message == lead.message


# --- false positives -----------------------------------------------------------------------


def test_prose_is_no_label_above_a_value() -> None:
    lines = [
        "Hello,",
        "please call me on my mobile after six pm",
        "0612345678",
        "Thanks - John",
    ]
    assert read_stacked(lines) == lines
    assert stacked_label("please call me on my mobile after six pm") is None


def test_a_value_is_never_a_label_unless_nothing_follows_it() -> None:
    # "Telefon" left empty: "E-Mail" is the next label, not the phone number
    rows = read_stacked(["Telefon", "E-Mail", "a@b.example", "Produkt", "Wärmepumpe", "PLZ", "1"])
    assert rows == ["Telefon", "E-Mail\ta@b.example", "Produkt\tWärmepumpe", "PLZ\t1"]


def test_dash_in_prose_is_no_field() -> None:
    body = (
        "Bonjour - voici ma demande\nNom: Jean Dupont\nCode postal: 75011\n"
        "Tél - 06 12 34 56 78\nLe toit - plein sud\nÀ bientôt - Jean\n"
    )
    collected = collect(body.splitlines())
    raw = _text(body).as_bytes()
    result = parse_message(raw)
    assert result.kind == "lead"
    assert result.lead.customer.phone == "+33612345678"  # "Tél" resolves: a field
    assert result.info["layout"] == "text_dash"
    assert "extra" not in result.lead.details  # prose with dashes is no field
    assert {item.key for item in collected.fields} == {"name", "postcode"}


def test_header_pairs_need_a_line_of_labels_over_a_line_of_values() -> None:
    assert header_pairs("Name;E-Mail;PLZ", "Anna;a@b.example;10115") == [
        ("Name", "Anna"),
        ("E-Mail", "a@b.example"),
        ("PLZ", "10115"),
    ]
    assert header_pairs("Name;E-Mail;PLZ", "Telefon;Ort;Land") is None  # two lines of labels
    assert header_pairs("Wir, die Stadtwerke, grüßen", "Anna, Berta, Carl") is None


def test_the_best_reading_wins_and_plain_wins_ties() -> None:
    plain = ["Name: Anna Weber", "PLZ: 10115", "E-Mail: anna@example.de"]
    assert read_best(plain).layout == "plain"  # every reading reads these lines alike
    stacked = ["Name", "Anna Weber", "PLZ", "10115", "E-Mail", "anna@example.de"]
    best = read_best(stacked)
    assert best.layout == "stacked"
    assert score(best.collected) == (3, 3)
    assert [name for name, _ in READERS][0] == "plain"


def test_a_value_that_is_a_label_or_of_the_wrong_shape_scores_against_its_reading() -> None:
    assert not plausible("name", "E-Mail")
    assert not plausible("phone", "Postal code")
    assert not plausible("email", "Jean Dupont")
    assert not plausible("postcode", "Paris")
    assert plausible("postcode", "SW1A 1AA") and plausible("phone", "+48 601 234 567")
    # a header line of labels read as label<TAB>value pairs gives labels as values
    wrong = collect(["Name\tE-Mail\tTelefon\tPLZ"])
    right = collect(["Name\tAnna", "E-Mail\ta@b.example", "Telefon\t0171 2345678", "PLZ\t1"])
    assert score(wrong) < score(right)


# Mail that is no lead, with label words on their own lines, dashes, "=" and ";"
PROSE = {
    "fr_newsletter": """Bonjour,

Notre nouvelle offre - panneaux solaires à prix réduit !
Contact
Notre équipe vous répond du lundi au vendredi.
Adresse
Retrouvez-nous au salon de Lyon, stand 12.
Prix = 9 990 € TTC ; pose comprise
Téléphone
Appelez-nous au numéro habituel !

Se désinscrire - cliquez ici""",
    "de_reply": """Hallo Herr Weber,

vielen Dank für Ihre Anfrage - wir melden uns morgen.
Telefon
leider nicht erreichbar, bitte per Mail.
Ort
wird noch abgestimmt

Mit freundlichen Grüßen
Team Solar""",
    "en_personal": """Hi Tom,

Thanks for yesterday - great to catch up.
Name of the pub was The Crown, by the way.
Message me when you're back.
Cheers
Dave""",
    "pl_info": """Dzień dobry,

Informujemy - zmiana godzin pracy biura.
Adres
bez zmian
Kontakt = jak dotychczas
Pozdrawiamy""",
}


@pytest.mark.parametrize("name", sorted(PROSE))
def test_prose_stays_prose(name: str) -> None:
    result = parse_message(_text(PROSE[name]).as_bytes())
    assert result.kind in ("quarantine", "auto_reply")  # a newsletter is bulk mail: no lead
    best = read_best(PROSE[name].splitlines())
    assert not [item for item in best.collected.fields if item.key in ("name", "postcode")]
    if name != "pl_info":  # "Adres" / "bez zmian" is an address as far as layout goes
        assert best.layout == "plain", best


def test_html_lines_of_one_cell_rows_and_header_rows() -> None:
    page = (
        "<table><tr><td><p>Name: Anna</p><p>PLZ: 10115</p><b>Telefon</b><br>0171 2345678"
        "</td></tr></table>"
        "<table><tr><th>Feld</th><th>Wert</th></tr><tr><td>Ort</td><td>Berlin</td></tr></table>"
        "<table><tr><th>Name</th><th>E-Mail</th><th>PLZ</th></tr>"
        "<tr><td>Anna</td><td>a@b.example</td><td>10115</td></tr></table>"
    )
    assert html_to_lines(page) == [
        "Name: Anna",  # a wrapper table's cell keeps its lines
        "PLZ: 10115",
        "Telefon",
        "0171 2345678",
        "",
        "Ort\tBerlin",  # "Feld | Wert" heads a table of labels and values: dropped
        "",
        "Name\tE-Mail\tPLZ",  # three <th> name the columns of the row below
        "Anna\ta@b.example\t10115",
        "",
    ]


def test_a_quoted_csv_value_may_hold_line_breaks() -> None:
    message = _text("Neue Anfrage im Anhang.\n")
    table = (
        'Name;E-Mail;PLZ;Bemerkung\r\nAnna Weber;anna@example.de;10115;"Bitte ab 17 Uhr;\r\n'
        'Dach nach Süden"\r\n'
    )
    message.add_attachment(
        table.encode("cp1252"), maintype="application", subtype="octet-stream", filename="a.csv"
    )
    result = parse_message(message.as_bytes())
    assert result.kind == "lead", result.reason
    assert result.lead.customer.postcode == "10115"
    assert result.lead.message == "Bitte ab 17 Uhr; Dach nach Süden"
    assert result.info["layout"] == "attachment_header_row"
