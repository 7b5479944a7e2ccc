"""The inbound email parser: corpus samples, value helpers, and robustness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.domain.intake.bounces import BounceInfo
from mailflow.domain.intake.enums import (
    mentions_calculator,
    parse_building_type,
    parse_grid_connection,
    parse_product,
)
from mailflow.domain.intake.forwards import split_forwarded
from mailflow.domain.intake.labels import LOOKUP, resolve, vote_language
from mailflow.domain.intake.mime import decode_bytes, html_to_lines
from mailflow.domain.intake.parse import ParseResult, describe_errors, parse_message
from mailflow.domain.intake.places import (
    country_of_phone,
    country_of_postcode,
    parse_country,
    parse_language,
    split_address,
    split_postcode_city,
    split_postcode_prefix,
)
from mailflow.domain.intake.rows import collect
from mailflow.domain.intake.values import (
    find_external_id,
    normalise_words,
    number_with_unit,
    parse_bool,
    parse_number,
    parse_orientation,
)
from support.paths import CORPUS, LOCAL_CORPUS

SHARED_CORPUS = CORPUS / "leads"
OWN_CORPUS = LOCAL_CORPUS / "leads"
SAMPLES = sorted(
    [*SHARED_CORPUS.glob("*.eml"), *OWN_CORPUS.glob("*.eml")], key=lambda p: (p.parent.name, p.name)
)
LEAD_TOP_LEVEL = ("product", "external_id", "source", "building_type", "grid_connection", "message")


def _expected(sample: Path) -> dict:
    return json.loads(sample.with_name(sample.stem + ".expected.json").read_text("utf-8"))


def _check_lead(result: ParseResult, expected: dict) -> None:
    assert result.kind == "lead", result.reason
    lead = result.lead.model_dump(mode="json")
    for key, value in expected.get("customer", {}).items():
        assert lead["customer"][key] == value, key
    for key, value in expected.get("details", {}).items():
        assert lead["details"].get(key) == value, key
    for key in LEAD_TOP_LEVEL:
        if key in expected:
            assert lead[key] == expected[key], key


def test_corpus_is_there() -> None:
    assert len(list(SHARED_CORPUS.glob("*.eml"))) >= 8, SHARED_CORPUS
    assert len(list(OWN_CORPUS.glob("*.eml"))) >= 12


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.parent.parent.name}/{p.stem}")
def test_corpus_sample(sample: Path) -> None:
    expected = _expected(sample)
    result = parse_message(sample.read_bytes())
    json.dumps(result.info)  # always JSON-serialisable
    if expected["kind"] == "lead":
        _check_lead(result, expected)
    elif expected["kind"] == "bounce":
        assert result.kind == "bounce"
        assert result.bounce.recipient == expected["recipient"]
        for key in ("status", "action", "verp_id", "permanent"):
            if key in expected:
                assert getattr(result.bounce, key) == expected[key], key
    elif expected["kind"] == "quarantine":
        assert result.kind == "quarantine"
        assert expected["reason_contains"] in result.reason
    else:
        assert result.kind == expected["kind"], result.reason


# --- parse_message behaviours --------------------------------------------------------------


def _text_message(body: str, *, subject: str = "Anfrage", headers: str = "") -> bytes:
    return (
        "MIME-Version: 1.0\n"
        'Content-Type: text/plain; charset="utf-8"\n'
        "Content-Transfer-Encoding: 8bit\n"
        "From: Form <form@site.example>\n"
        "To: leads@localhost\n"
        f"Subject: {subject}\n"
        f"{headers}"
        "\n" + body
    ).encode("utf-8")


@pytest.mark.parametrize(
    "sample,message",
    [
        (
            "de_base64_utf8",
            "Wir möchten unsere alte Ölheizung ersetzen.\nBitte melden Sie sich telefonisch.",
        ),
        ("pl_iso8859_2_qp", "Proszę dzwonić po 16:00."),
        ("fr_html_bold_labels", "Hangar agricole, toiture fibro-ciment."),
    ],
)
def test_message_text(sample: str, message: str) -> None:
    result = parse_message((OWN_CORPUS / f"{sample}.eml").read_bytes())
    assert result.lead.message == message


def test_raw_nul_bytes_are_quarantined_but_decoded_ones_are_dropped() -> None:
    body = "Name: Peter Schulz\nPLZ: 20095\nE-Mail: p@example.de\nKommentar: Bitte=00 schnell\n"
    raw = _text_message(body).replace(
        b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: quoted-printable"
    )
    lead = parse_message(raw).lead
    assert lead.message == "Bitte schnell"  # a NUL that only appears once decoded is dropped
    result = parse_message(_text_message(body).replace(b"=00", b"\x00"))
    assert result.kind == "quarantine" and "NUL" in result.reason


def test_a_stray_field_in_an_attached_message_does_not_beat_the_body() -> None:
    body = "Name: Lea Braun\nE-Mail: lea@example.de\nPLZ: 50667\nOrt: Köln\n"
    attached = _text_message("Mit freundlichen Grüßen\nTelefon: 0221 123456\n", subject="Alt")
    raw = (
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n'
        b"From: CRM <crm@example.de>\nSubject: Lead ID: 7\n\n--B\n"
        b'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n'
        + body.encode()
        + b'\n--B\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename="a.eml"'
        b"\n\n" + attached + b"\n--B--\n"
    )
    lead = parse_message(raw).lead
    assert lead.customer.name == "Lea Braun" and lead.customer.phone is None
    assert lead.external_id == "7"


def test_unclosed_head_does_not_hide_the_body() -> None:
    html = "<html><head><meta charset=utf-8><title>x</title><body><p>Name: A<br>PLZ: 1</p>"
    assert html_to_lines(html)[:2] == ["Name: A", "PLZ: 1"]


def test_bounce_info_is_complete_for_a_dsn() -> None:
    raw = (SHARED_CORPUS / "bounce_dsn.eml").read_bytes()
    result = parse_message(raw)
    assert result.bounce == BounceInfo(
        recipient="gone@installer.example",
        status="5.1.1",
        action="failed",
        diagnostic="550 5.1.1 User unknown",
        verp_id=42,
        permanent=True,
        verp_signature=None,  # an old, unsigned return path: bounces.py ignores it
        reported_recipients=("gone@installer.example",),
    )


def test_verp_id_from_envelope() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example\nTo: leads@localhost\n"
        b"Subject: Returned mail: see transcript for details\n\n"
        b"----- The following addresses had permanent fatal errors -----\n<x@y.example>\n"
    )
    result = parse_message(raw, envelope_to=["bounces+9@mailflow.example"])
    assert result.kind == "bounce"
    assert result.bounce.verp_id == 9
    assert result.bounce.recipient == "x@y.example"
    assert result.bounce.permanent


def test_bounce_subject_from_a_person_is_not_a_bounce() -> None:
    raw = _text_message("Name: A B\nE-Mail: a@b.example\nPLZ: 10115\n", subject="Undelivered?")
    assert parse_message(raw).kind == "lead"


@pytest.mark.parametrize(
    "headers,subject",
    [
        ("Auto-Submitted: auto-replied\n", "Anfrage"),
        ("X-Autorespond: yes\n", "Anfrage"),
        ("Precedence: auto_reply\n", "Anfrage"),
        ("", "Out of Office: Anfrage"),
        ("", "Automatic reply: new lead"),
        ("", "Abwesenheitsnotiz: Neuer Lead"),
        ("", "=?utf-8?q?Automatyczna_odpowied=C5=BA=3A_lead?="),
    ],
)
def test_auto_reply_signals(headers: str, subject: str) -> None:
    raw = _text_message("Ich bin nicht im Büro.\n", subject=subject, headers=headers)
    result = parse_message(raw)
    assert result.kind == "auto_reply"
    assert result.info["auto_reply_signal"]


def test_auto_response_suppress_alone_is_no_auto_reply() -> None:
    body = "Name: Eva Roth\nE-Mail: eva@example.de\nPLZ: 10115\n"
    raw = _text_message(body, headers="X-Auto-Response-Suppress: All\n")
    assert parse_message(raw).kind == "lead"


def test_weak_signal_without_lead_is_auto_reply() -> None:
    raw = _text_message("Newsletter\n", headers="Precedence: bulk\n")
    assert parse_message(raw).kind == "auto_reply"


def test_no_lead_fields() -> None:
    result = parse_message(_text_message("Hallo, wie geht es?\n"))
    assert result.kind == "quarantine"
    assert result.reason == "no lead fields found"


@pytest.mark.parametrize("raw", [b"", b"\x00\x00", b"   \r\n"])
def test_empty_messages_are_quarantined(raw: bytes) -> None:
    result = parse_message(raw)
    assert result.kind == "quarantine" and result.reason


def test_first_and_last_name_and_details() -> None:
    body = (
        "Neue Anfrage über den Solarrechner (ID: 31)\n\n"
        "Vorname: Jonas\nNachname: Hartmann\nPLZ: 04107\nOrt: Leipzig\n"
        "Telefon: 0341 14065515\nHandy: 0171 2345678\n"
        "Jahresverbrauch: 3,8 MWh\nCO2-Ersparnis: 14,4 t\nMagazyn: tak\n"
    )
    result = parse_message(_text_message(body))
    lead = result.lead
    assert lead.customer.name == "Jonas Hartmann"
    assert lead.customer.phone == "+4934114065515"
    assert lead.customer.language == "de"
    assert lead.external_id == "31"
    assert lead.source == "calculator" and lead.product == "pv"
    assert lead.details["annual_consumption_kwh"] == 3800
    assert lead.details["co2_savings_kg"] == 14400
    assert lead.details["extra"] == {"Handy": "0171 2345678", "Magazyn": "tak"}


def test_tab_rows_with_value_on_next_line_and_multi_column_costs() -> None:
    body = (
        "Name\tAnna Weber\nE-Mail\tanna@example.de\nPLZ\t10115\n"
        "Kommentar:\nBitte nachmittags anrufen.\n\n"
        "KOSTEN PRO MONAT\t\tKOSTEN PRO JAHR\t\n"
        "Mit PV-Anlage\t15,00 €\tMit PV-Anlage\t174,00 €\n"
        "Ersparnis\t77,00 €\tErsparnis\t928,00 €\n"
    )
    lead = parse_message(_text_message(body)).lead
    assert lead.message == "Bitte nachmittags anrufen."
    assert lead.details["cost_monthly_with_pv"] == 15.0
    assert lead.details["savings_monthly"] == 77.0
    assert lead.details["savings_yearly"] == 928.0
    assert lead.details["extra"] == {"KOSTEN PRO JAHR / Mit PV-Anlage": "174,00 €"}
    assert lead.customer.country == "DE"


def test_default_country_applies_without_evidence() -> None:
    body = "Name: Sam Lee\nEmail: sam@example.com\nPostcode: 12345\n"
    lead = parse_message(_text_message(body), default_country="PL").lead
    assert lead.customer.country == "PL"


def test_phone_prefix_gives_country() -> None:
    body = "Name: Sam Lee\nEmail: sam@example.com\nPostcode: 1010\nPhone: +43 1 234 5678\n"
    lead = parse_message(_text_message(body)).lead
    assert lead.customer.country == "AT"
    assert lead.customer.phone == "+4312345678"


def test_missing_required_field_names_it() -> None:
    result = parse_message(_text_message("E-Mail: a@b.example\nPLZ: 10115\n"))
    assert result.kind == "quarantine"
    assert "customer.name" in result.reason
    assert result.info["candidate"]["customer"]["postcode"] == "10115"


def test_invalid_email_is_named() -> None:
    result = parse_message(_text_message("Name: A B\nE-Mail: nicht-vorhanden\nPLZ: 10115\n"))
    assert result.kind == "quarantine"
    assert "customer.email" in result.reason


def test_json_body_in_webhook_shape() -> None:
    document = {
        "customer": {"name": "Ola Nowak", "email": "ola@example.pl", "postcode": "00-950"},
        "product": "PV",
        "unknown": 1,
    }
    lead = parse_message(_text_message(json.dumps(document))).lead
    assert lead.product == "pv"
    assert lead.customer.country == "PL"
    assert lead.details["extra"] == {"unknown": 1}
    assert lead.source == "email"


def test_forwarded_rfc822_uses_inner_subject_for_id() -> None:
    inner = _text_message(
        "Name: Lea Braun\nE-Mail: lea@example.de\nPLZ: 50667\n", subject="Lead ID: 99"
    )
    raw = (
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n'
        b"From: Boss <boss@example.de>\nSubject: Fwd\n\n--B\nContent-Type: text/plain\n\n"
        b"Telefon: +49 30 1111111\n--B\nContent-Type: message/rfc822\n\n" + inner + b"\n--B--\n"
    )
    result = parse_message(raw)
    assert result.lead.external_id == "99"
    assert result.lead.customer.phone is None  # the forwarder's phone is not the customer's
    assert result.info["forwarded"] == "message/rfc822"


def test_never_raises_on_hostile_headers() -> None:
    raw = (
        b'From: "\\" <<<@@>>>\nTo: ,,,@,\nSubject: =?x-nope?b?////?= =?utf-8?q?=FF?=\n'
        b"Content-Type: multipart/alternative; boundary=\nContent-Transfer-Encoding: base64\n\n"
        b"!!!not base64!!!\n"
    )
    result = parse_message(raw)
    assert result.kind == "quarantine" and result.reason


def test_non_bytes_input_does_not_raise() -> None:
    assert parse_message(None).kind == "quarantine"  # type: ignore[arg-type]
    assert parse_message("Name: A\n").kind == "quarantine"  # type: ignore[arg-type]


# --- label helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label,key",
    [
        ("E-Mail", "email"),
        ("Courriel", "email"),
        ("Adres e-mail", "email"),
        ("Imię i nazwisko", "name"),
        ("NOM", "name"),
        ("Téléphone", "phone"),
        ("Komórka", "phone"),
        ("Handynummer", "phone"),
        ("Straße", "street"),
        ("Code postal", "postcode"),
        ("CP", "postcode"),
        ("Kod pocztowy", "postcode"),
        ("PLZ / Ort", "postcode_city"),
        ("Miejscowość", "city"),
        ("Commune", "city"),
        ("Pays", "country"),
        ("Erreichbarkeit", "reachability"),
        ("Best time to call?", "reachability"),
        ("Remarques", "message"),
        ("Wiadomość", "message"),
        ("Stromverbrauch (kWh)", "annual_consumption_kwh"),
        ("Jahresstromverbrauch in kWh", "annual_consumption_kwh"),
        ("Durchschn. Strompreis", "electricity_price_ct_kwh"),
        ("Dachfläche in m²", "roof_area_m2"),
        ("INTÉRESSÉ PAR UNE SOLUTION DE STOCKAGE ?", "storage_interest"),
        ("Zainteresowany magazynem energii", "storage_interest"),
        ("Gewähltes Modul", "module"),
        ("Nombre de modules", "module_count"),
        ("CO ₂ -Ersparnis", "co2_savings_kg"),
        ("Arbres plantés", "trees"),
        ("Typ przyłącza do sieci", "grid_connection"),
        ("Gebäudeart", "building_type"),
        ("Lead-ID", "external_id"),
        ("Référence", "external_id"),
        ("Język", "language"),
        ("Monatliche Ersparnis", "savings_monthly"),
        ("Économies par an", "savings_yearly"),
        ("Ersparnis nach 20 Jahren", "savings_20y"),
        ("Stromkosten ohne PV pro Monat", "cost_monthly_without_pv"),
    ],
)
def test_resolve_labels(label: str, key: str) -> None:
    resolved = resolve(label)
    assert resolved is not None and resolved.key == key


def test_resolve_uses_column_heading_for_cost_tables() -> None:
    assert resolve("Mit PV-Anlage", "KOSTEN PRO MONAT").key == "cost_monthly_with_pv"
    assert resolve("Sans installation PV", "COÛTS MENSUELS").key == "cost_monthly_without_pv"
    assert resolve("Économies", "COÛTS APRÈS 20 ANS").key == "savings_20y"
    assert resolve("Mit PV-Anlage", "KOSTEN PRO JAHR") is None
    assert resolve("Lieblingsfarbe") is None


def test_vocabulary_is_normalised_and_languages_vote() -> None:
    assert all(label == normalise_words(label) for label in LOOKUP)
    assert LOOKUP["telefon"][1] == {"de", "pl"}
    assert vote_language({"de": 3, "fr": 1}) == "de"
    assert vote_language({"de": 1, "fr": 1}) is None


def test_collect_reads_headings_continuations_and_signatures() -> None:
    lines = [
        "Neue Anfrage (ID: 5)",
        "KONTAKT",
        "Name: Max",
        "Nachricht: Zeile eins",
        "Zeile zwei",
        "",
        "Bemerkung über die Zeit 18:00 bis 19:00 bitte",
        "--",
        "Telefon: 0171 999999",
    ]
    collected = collect(lines)
    assert [(f.key, f.value) for f in collected.fields] == [
        ("name", "Max"),
        ("message", "Zeile eins\nZeile zwei"),
    ]
    assert collected.intro == ["Neue Anfrage (ID: 5)", "KONTAKT"]


def test_split_forwarded_reads_the_header_block() -> None:
    lines = [
        "FYI",
        "-------- Message transféré --------",
        "Sujet : Nouveau lead ID: 3",
        "De : Site <a@b.example>",
        "",
        "Nom : X",
    ]
    segments = split_forwarded(lines)
    assert segments[-1].subject == "Nouveau lead ID: 3"
    assert segments[-1].lines == ["", "Nom : X"]


def test_html_to_lines() -> None:
    html = (
        "<table><tr><th>Feld</th><th>Wert</th></tr>"
        "<tr><td>Name</td><td>Max <b>Muster</b></td></tr>"
        "<tr><td>Adresse</td><td>Rue 1<br>75010 Paris</td></tr>"
        "<tr><td colspan='2'>KOSTEN PRO MONAT</td><th colspan=2>PRO JAHR</th></tr></table>"
        "<p><b>PLZ:</b> 10115<br><strong>Ort:</strong>&nbsp;Berlin</p><script>x=1</script>"
        "<dl><dt>E-Mail</dt><dd>a@b.example</dd></dl>"
    )
    assert html_to_lines(html) == [
        "Name\tMax Muster",
        "Adresse\tRue 1, 75010 Paris",
        "KOSTEN PRO MONAT\t\tPRO JAHR",
        "",
        "PLZ: 10115",
        "Ort: Berlin",
        "",
        "E-Mail\ta@b.example",
    ]


def test_decode_bytes_fallbacks() -> None:
    assert decode_bytes("Größe".encode(), "x-unknown") == ("Größe", "utf-8")
    assert decode_bytes("Größe".encode("cp1252"), "utf-8") == ("Größe", "cp1252")
    assert decode_bytes("„€“".encode("cp1252"), "iso-8859-1") == ("„€“", "cp1252")
    assert decode_bytes("Łódź".encode(), "iso-8859-2") == ("Łódź", "utf-8")  # mislabelled
    assert decode_bytes("Łódź".encode("iso-8859-2"), "iso-8859-2")[0] == "Łódź"
    assert decode_bytes(b"\x81\x8d", None) == ("\x81\x8d", "latin-1")


def test_describe_errors() -> None:
    assert describe_errors({"customer.postcode": "Field required"}) == (
        "missing required field: customer.postcode"
    )
    assert "customer.email" in describe_errors(
        {"customer": "an email or a phone number is required"}
    )


# --- value helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,number",
    [
        ("3100 kWh", 3100),
        ("29 ct / kWh", 29),
        ("1.102,00 €", 1102.0),
        ("1,102.00", 1102.0),
        ("99 m²", 99),
        ("121 m 2", 121),
        ("30 °", 30),
        ("12,5", 12.5),
        ("3.800", 3800),
        ("4,200 kWh", 4200),
        ("0,29", 0.29),
        ("29 611,00 €", 29611.0),
        ("1 044,00 €", 1044.0),
        ("41.00 €", 41.0),
        ("-5", -5),
        ("etwa 16 Stück", 16),
        ("keine", None),
        ("", None),
    ],
)
def test_parse_number(text: str, number: float | None) -> None:
    parsed = parse_number(text)
    assert parsed == number
    if isinstance(number, int):
        assert isinstance(parsed, int)


def test_number_units() -> None:
    assert number_with_unit("electricity_price_ct_kwh", "0,32 €/kWh") == 32
    assert number_with_unit("electricity_price_ct_kwh", "32 ct") == 32
    assert number_with_unit("annual_consumption_kwh", "4,5 MWh") == 4500
    assert number_with_unit("co2_savings_kg", "2,3 t") == 2300
    assert parse_orientation("Süd") == 180
    assert parse_orientation("Sud-Ouest") == 225
    assert parse_orientation("180° (Süd)") == 180
    assert parse_orientation("Ost-West") is None


@pytest.mark.parametrize(
    "text,value",
    [
        ("Ja", True),
        ("nein", False),
        ("Oui", True),
        ("Non", False),
        ("Tak", True),
        ("Nie", False),
        ("Yes, please", True),
        ("no", False),
        ("vielleicht", None),
        ("", None),
    ],
)
def test_parse_bool(text: str, value: bool | None) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize(
    "text,product",
    [
        ("Photovoltaik", "pv"),
        ("Solaranlage", "pv"),
        ("PV", "pv"),
        ("panneaux solaires", "pv"),
        ("fotowoltaika", "pv"),
        ("solar PV", "pv"),
        ("Wärmepumpe", "heat_pump"),
        ("Pompe à chaleur", "heat_pump"),
        ("pompa ciepła", "heat_pump"),
        ("heat pump", "heat_pump"),
        ("Speicher", "battery"),
        ("batterie", "battery"),
        ("magazyn energii", "battery"),
        ("PV + Speicher", "pv_battery"),
        ("Photovoltaïque avec batterie", "pv_battery"),
        ("pv_battery", "pv_battery"),
        ("Solarthermie", None),
        ("Beratung", None),
    ],
)
def test_parse_product(text: str, product: str | None) -> None:
    parsed = parse_product(text)
    assert (parsed.value if parsed else None) == product


@pytest.mark.parametrize(
    "text,building",
    [
        ("Einfamilienhaus", "residential"),
        ("Maison individuelle", "residential"),
        ("Dom jednorodzinny", "residential"),
        ("house", "residential"),
        ("Gewerbe", "commercial"),
        ("commerce", "commercial"),
        ("Bureau", "commercial"),
        ("Industrie", "industrial"),
        ("Landwirtschaft", "agricultural"),
        ("Exploitation agricole", "agricultural"),
        ("gospodarstwo rolne", "agricultural"),
        ("Mieszkaniowy", "residential"),
        ("Komercyjny", "commercial"),
        ("Przemysłowy", "industrial"),
        ("Rolniczy", "agricultural"),
        ("???", None),
    ],
)
def test_parse_building_type(text: str, building: str | None) -> None:
    parsed = parse_building_type(text)
    assert (parsed.value if parsed else None) == building


@pytest.mark.parametrize(
    "text,grid",
    [
        ("On-Grid", "on_grid"),
        ("netzgekoppelt", "on_grid"),
        ("Off-Grid", "off_grid"),
        ("Inselanlage", "off_grid"),
        ("Zero Injection", "zero_injection"),
        ("Nulleinspeisung", "zero_injection"),
        ("autoconsommation sans injection", "zero_injection"),
        ("egal", None),
    ],
)
def test_parse_grid_connection(text: str, grid: str | None) -> None:
    parsed = parse_grid_connection(text)
    assert (parsed.value if parsed else None) == grid


@pytest.mark.parametrize(
    "text,code",
    [
        ("Deutschland", "DE"),
        ("Germany", "DE"),
        ("France", "FR"),
        ("Polska", "PL"),
        ("Österreich", "AT"),
        ("de", "DE"),
        ("FRA", "FR"),
        ("UK", "GB"),
        ("Atlantis", None),
        ("XX", None),
    ],
)
def test_parse_country(text: str, code: str | None) -> None:
    assert parse_country(text) == code


def test_languages_and_countries() -> None:
    assert parse_language("Deutsch") == "de"
    assert parse_language("français") == "fr"
    assert parse_language("pl-PL") == "pl"
    assert parse_language("Klingon") is None
    assert country_of_phone("+48 600 100 200") == "PL"
    assert country_of_phone("0049 30 123456") == "DE"
    assert country_of_phone("030 123456") is None
    assert country_of_postcode("80-831") == "PL"
    assert country_of_postcode("75010") is None
    assert split_postcode_prefix("D-04107") == ("04107", "DE")


@pytest.mark.parametrize(
    "address,parts",
    [
        ("Quai de Valmy 167 75010 Paris", ("Quai de Valmy 167", "75010", "Paris")),
        ("12 rue des Lilas, 69003 Lyon", ("12 rue des Lilas", "69003", "Lyon")),
        ("Hauptstraße 5, 10115 Berlin", ("Hauptstraße 5", "10115", "Berlin")),
        ("ul. Długa 5, 80-831 Gdańsk", ("ul. Długa 5", "80-831", "Gdańsk")),
        ("Härtelstraße 32 04107 Leipzig", ("Härtelstraße 32", "04107", "Leipzig")),
        ("Ringstraße 9, D-04109 Leipzig, Deutschland", ("Ringstraße 9", "D-04109", "Leipzig")),
        ("4 Station Road, London SW1A 1AA", ("4 Station Road", "SW1A 1AA", "London")),
        ("4 Station Road", ("4 Station Road", None, None)),
        ("Route 66", ("Route 66", None, None)),
    ],
)
def test_split_address(address: str, parts: tuple) -> None:
    assert split_address(address) == parts


def test_split_postcode_city() -> None:
    assert split_postcode_city("04107 Leipzig") == ("04107", "Leipzig")
    assert split_postcode_city("Gdańsk 80-831") == ("80-831", "Gdańsk")
    assert split_postcode_city("Leipzig") == (None, None)


@pytest.mark.parametrize(
    "text,external_id",
    [
        ("Neuer Lead ID: 279", "279"),
        ("Neue Anfrage über den Solarrechner (ID: 279)", "279"),
        ("Lead ID 42 waiting", "42"),
        ("Lead-ID: SV-2026-00042", "SV-2026-00042"),
        ("Android device", None),
        ("ID: none", None),
    ],
)
def test_find_external_id(text: str, external_id: str | None) -> None:
    assert find_external_id(text) == external_id


def test_mentions_calculator() -> None:
    assert mentions_calculator("Solarrechner <noreply@calculator.example>")
    assert mentions_calculator("Nouvelle demande via le calculateur solaire")
    assert mentions_calculator("Kalkulator fotowoltaiki")
    assert not mentions_calculator("Berechnung folgt")


# --- robustness ----------------------------------------------------------------------------

_CORPUS_BYTES = [sample.read_bytes() for sample in SAMPLES]


def _assert_well_formed(result: ParseResult) -> None:
    assert result.kind in ("lead", "bounce", "auto_reply", "quarantine")
    if result.kind == "quarantine":
        assert result.reason
    if result.kind == "lead":
        assert result.lead is not None
    json.dumps(result.info)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    _assert_well_formed(parse_message(raw))
    _assert_well_formed(parse_message(raw.replace(b"\x00", b"")))  # past the NUL check


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_CORPUS_BYTES),
    st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=8)), max_size=8),
    st.integers(0, 10**6),
)
def test_never_raises_on_mutated_corpus(raw: bytes, edits: list, cut: int) -> None:
    data = bytearray(raw)
    for position, replacement in edits:
        if data:
            index = position % len(data)
            data[index : index + len(replacement)] = replacement
    if cut % 5 == 0 and data:
        data = data[: cut % len(data)]  # truncated messages too
    _assert_well_formed(parse_message(bytes(data)))
    _assert_well_formed(parse_message(bytes(data).replace(b"\x00", b"")))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=600))
def test_never_raises_on_arbitrary_text_bodies(body: str) -> None:
    raw = _text_message("Name: X\n" + body)
    _assert_well_formed(parse_message(raw))
