"""Label vocabulary and scoring, product and building type named elsewhere, the country a lead's
evidence points to, and invalid phones kept and flagged (issue #16)."""

from __future__ import annotations

import json

import pytest

from mailflow.domain.intake.enums import building_type_of_answer, product_in_text
from mailflow.domain.intake.labels import best_reading, candidates, resolve
from mailflow.domain.intake.parse import parse_message
from mailflow.domain.intake.places import Evidence, infer_country, region_country, split_address
from mailflow.domain.intake.values import normalise_words


def _message(body: str, *, subject: str = "Anfrage", sender: str = "form@site.example") -> bytes:
    return (
        "MIME-Version: 1.0\n"
        'Content-Type: text/plain; charset="utf-8"\n'
        "Content-Transfer-Encoding: 8bit\n"
        f"From: Form <{sender}>\n"
        "To: leads@localhost\n"
        f"Subject: {subject}\n"
        "\n" + body
    ).encode("utf-8")


# --- scoring: the label's most specific reading wins -----------------------------------------


@pytest.mark.parametrize(
    "label,key",
    [
        # a later word must not decide: "disponible" is the roof's, not the customer's
        ("Surface de toit disponible", "roof_area_m2"),
        ("Powierzchnia dachu dostępna pod panele", "roof_area_m2"),
        ("Roof area available for panels", "roof_area_m2"),
        ("Vos disponibilités", "reachability"),
        ("Dostępność telefoniczna", "reachability"),
        # street and number together are the street (with its number)
        ("Ulica i numer domu", "street"),
        ("House number and street", "street"),
        ("Numer domu", "house_number"),
        ("Hausnummer", "house_number"),
        # two halves of one field
        ("Prénom Nom", "name"),
        ("Vor- und Nachname", "name"),
        ("Code postal et commune", "postcode_city"),
        # a company's name is not the customer's
        ("Company name", "company"),
        ("Nom de l'entreprise", "company"),
        ("Nom", "name"),
        ("Nom de la rue", "street"),
        # a yes/no question about one product is that product's detail, not "the product"
        ("Interesse an einer Wärmepumpe", "heat_pump"),
        ("Intéressé par une solution de stockage ?", "storage_interest"),
        ("Numéro de téléphone portable", "phone"),
        ("Telefonnummer für Rückfragen", "phone"),
        ("Votre adresse e-mail", "email"),
        ("Usage du bâtiment", "building_type"),
        ("Wie viele Personen leben in Ihrem Haushalt?", "household_size"),
    ],
)
def test_most_specific_reading_wins(label: str, key: str) -> None:
    resolved = resolve(label)
    assert resolved is not None and resolved.key == key, resolved


def test_readings_are_scored_not_taken_in_order() -> None:
    found = candidates(normalise_words("Surface de toit disponible"))
    keys = {candidate.key for candidate in found}
    assert {"roof_area_m2", "reachability"} <= keys  # both rules match the label …
    best = best_reading(found)
    assert best is not None and best.key == "roof_area_m2"  # … the one explaining more wins
    roof = max(c.score for c in found if c.key == "roof_area_m2")
    reach = max(c.score for c in found if c.key == "reachability")
    assert roof > reach

    found = candidates(normalise_words("Ulica i numer domu"))
    assert "house_number" in {c.key for c in found}  # "numer domu" matches …
    assert best_reading(found).key == "street"  # … but street and number explain all of it

    found = candidates(normalise_words("Nr domu i ulica"))
    assert best_reading(found).key == "street"


@pytest.mark.parametrize(
    "label,key",
    [
        ("Kategorie", "product"),
        ("Travaux souhaités", "product"),
        ("Votre projet", "product"),
        ("Rodzaj instalacji", "product"),
        ("What are you interested in?", "product"),
        ("Objekt", "building_type"),
        ("Gebäude", "building_type"),
        ("Type de bien", "building_type"),
        ("Rodzaj budynku", "building_type"),
        ("Property", "building_type"),
        ("Verbrauch", "annual_consumption_kwh"),
        ("Energieverbrauch pro Jahr", "annual_consumption_kwh"),
        ("Consommation (kWh/an)", "annual_consumption_kwh"),
        ("Annual usage", "annual_consumption_kwh"),
        ("Zużycie", "annual_consumption_kwh"),
        ("Monthly usage (kWh)", "monthly_consumption_kwh"),
        ("State", "region"),
        ("Bundesland", "region"),
        ("Województwo", "region"),
    ],
)
def test_vocabulary_gaps(label: str, key: str) -> None:
    resolved = resolve(label)
    assert resolved is not None and resolved.key == key, resolved


@pytest.mark.parametrize(
    "label,key",
    [
        ("full_name", "name"),
        ("first_name", "first_name"),
        ("last_name", "last_name"),
        ("FULL_NAME", "name"),
        ("phone_number", "phone"),
        ("PHONE_NUMBER", "phone"),
        ("zip_code", "postcode"),
        ("post_code", "postcode"),
        ("POSTAL_CODE", "postcode"),
        ("street_address", "street"),
        ("city", "city"),
        ("email", "email"),
        ("what_are_you_interested_in?", "product"),
        ("when_is_the_best_time_to_call_you?", "reachability"),
        ("what_type_of_property_do_you_own?", "building_type"),
        ("lead_id", "external_id"),
        ("average_monthly_energy_usage_kwh", "monthly_consumption_kwh"),
    ],
)
def test_ad_platform_field_names(label: str, key: str) -> None:
    resolved = resolve(label)
    assert resolved is not None and resolved.key == key, resolved
    if "_" in label:
        assert resolved.languages == frozenset()  # a platform's field names are no vote


def test_unrelated_labels_stay_unknown() -> None:
    labels = ("ad_name", "campaign_name", "created_time", "Lieblingsfarbe", "Civilité", "Statement")
    for label in labels:
        assert resolve(label) is None, label


# --- product and building type named elsewhere ----------------------------------------------


@pytest.mark.parametrize(
    "text,product",
    [
        ("Neue Anfrage Wärmepumpe", "heat_pump"),
        ("Demande de devis panneaux solaires", "pv"),
        ("Zapytanie o pompę ciepła", "heat_pump"),
        ("Anfrage PV-Anlage mit Speicher", "pv_battery"),
        ("New enquiry: Solar panels", "pv"),
        ("Kontaktformular-Modul: neue Nachricht", None),
        ("Solarthermie Angebot", None),
        ("Nouvelle demande", None),
    ],
)
def test_product_in_text(text: str, product: str | None) -> None:
    found = product_in_text(text)
    assert (found.value if found else None) == product


@pytest.mark.parametrize(
    "answer,building",
    [
        ("Einfamilienhaus", "residential"),
        ("Einfamilienhaus, Baujahr 1978", "residential"),
        ("Maison individuelle", "residential"),
        ("dom jednorodzinny", "residential"),
        ("Semi-detached house", "residential"),
        ("Bauernhof mit Scheune", "agricultural"),
        ("Gewerbehalle", "commercial"),
        ("Ja", None),
        ("Flachdach", None),
        ("Wir wohnen seit zwanzig Jahren in diesem Haus und möchten sparen", None),
    ],
)
def test_building_type_of_answer(answer: str, building: str | None) -> None:
    found = building_type_of_answer(answer)
    assert (found.value if found else None) == building


def _lead(body: str, **kwargs):
    result = parse_message(_message(body, **kwargs.pop("headers", {})), **kwargs)
    assert result.kind == "lead", result.reason
    return result


def test_product_from_subject_and_building_from_generic_label() -> None:
    body = "Name: Eva Brandt\nE-Mail: eva@example.de\nPLZ: 28195\nObjekt: Doppelhaushälfte\n"
    result = _lead(body, headers={"subject": "Neue Anfrage Wärmepumpe"})
    assert result.lead.product == "heat_pump"
    assert result.lead.building_type == "residential"
    assert result.info["product_from"] == "Neue Anfrage Wärmepumpe"


def test_a_named_product_beats_the_subject() -> None:
    body = "Nom : Léa Bon\nCourriel : lea@example.fr\nCode postal : 75011\nProduit : Batterie\n"
    result = _lead(body, headers={"subject": "Demande de devis panneaux solaires"})
    assert result.lead.product == "battery"


def test_the_readable_of_two_product_lines_counts_and_the_other_is_kept() -> None:
    body = (
        "Nom : Léa Bon\nCourriel : lea@example.fr\nCode postal : 75011\n"
        "Délai du projet : dans 3 mois\nTravaux souhaités : Pompe à chaleur air/eau\n"
    )
    lead = _lead(body).lead
    assert lead.product == "heat_pump"
    assert lead.details["extra"] == {"Délai du projet": "dans 3 mois"}


def test_category_line_naming_the_building_and_an_unknown_label_with_a_building_answer() -> None:
    body = "Name: Eva Brandt\nE-Mail: eva@example.de\nPLZ: 28195\nKategorie: Einfamilienhaus\n"
    assert _lead(body).lead.building_type == "residential"
    body = "Name: Eva Brandt\nE-Mail: eva@example.de\nPLZ: 28195\nWohnsituation: Reihenhaus\n"
    lead = _lead(body).lead
    assert lead.building_type == "residential"
    assert lead.details["extra"] == {"Wohnsituation": "Reihenhaus"}  # and kept as written


def test_monthly_usage_becomes_annual_unless_annual_is_given() -> None:
    body = "full_name: Al Tan\nemail: al@example.com\nzip_code: 75011\nmonthly_usage_kwh: 350\n"
    assert _lead(body).lead.details["annual_consumption_kwh"] == 4200
    body += "annual_consumption: 4000 kWh\n"
    lead = _lead(body).lead
    assert lead.details["annual_consumption_kwh"] == 4000
    assert lead.details["extra"] == {"monthly_usage_kwh": "350"}


def test_street_with_number_label_keeps_the_street() -> None:
    body = (
        "Imię i nazwisko: Ola Nowak\nUlica i numer domu: ul. Długa 5\n"
        "Kod pocztowy: 80-831\nAdres e-mail: ola@example.pl\n"
    )
    lead = _lead(body).lead
    assert lead.customer.street == "ul. Długa 5"
    assert "extra" not in lead.details


# --- country ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "evidence,country",
    [
        # US: ZIP and state, national phone shapes
        (Evidence(postcode="94103", regions=["CA"], language="en"), "US"),
        (Evidence(postcode="73301", regions=["Texas"]), "US"),
        (Evidence(postcode="94103", phones=["(415) 555-0134"]), "US"),
        (Evidence(postcode="78705", places=["2100 Guadalupe St, Austin, TX 78705"]), "US"),
        (Evidence(postcode="10001-1234"), "US"),
        # UK: postcode shape, +44, a 07 mobile
        (Evidence(postcode="SW1A 1AA"), "GB"),
        (Evidence(postcode="75010", phones=["+44 20 7946 0958"]), "GB"),
        (Evidence(postcode="M1 1AE", phones=["07911 123456"], language="en"), "GB"),
        # DE
        (Evidence(postcode="04107", language="de"), "DE"),
        (Evidence(postcode="04107", phones=["0171 2345678"]), "DE"),
        (Evidence(postcode="04107", plate="DE"), "DE"),
        (Evidence(postcode="80331", regions=["Bayern"]), "DE"),
        # PL
        (Evidence(postcode="80-831"), "PL"),
        (Evidence(postcode="30059", phones=["512 345 678"], language="pl"), "PL"),
        (Evidence(postcode="30059", language="pl"), "PL"),
        # four digits: AT/CH/BE/LU share them, the language, phone and domains decide
        (Evidence(postcode="4020", language="de", phones=["0664 1234567"]), "AT"),
        (Evidence(postcode="4020", language="de", emails=["stefan@example.at"]), "AT"),
        (Evidence(postcode="8001", language="de", senders=["Form <web@solar.ch>"]), "CH"),
        (Evidence(postcode="1007", language="fr", phones=["079 123 45 67"]), "CH"),
        (Evidence(postcode="1007", language="fr", senders=["web@solaire-leman.ch"]), "CH"),
        (Evidence(postcode="4000", language="fr", phones=["0470 12 34 56"]), "BE"),
        (Evidence(postcode="1000", language="fr", emails=["a@skynet.be"]), "BE"),
        (Evidence(postcode="1010", phones=["+43 1 234 5678"]), "AT"),
    ],
)
def test_country_from_evidence(evidence: Evidence, country: str) -> None:
    found, reasons = infer_country(evidence, "FR")
    assert found == country, reasons
    assert reasons


@pytest.mark.parametrize(
    "evidence,default",
    [
        (Evidence(), "FR"),
        (Evidence(postcode="75010", language="fr"), "FR"),
        (Evidence(postcode="75010", phones=["06 12 34 56 78"], language="fr"), "FR"),
        # English labels with a five-digit postcode: English hints, never decides alone
        (Evidence(postcode="12345", language="en"), "PL"),
        (Evidence(postcode="12345", language="en", emails=["sam@gmail.com"]), "FR"),
        (Evidence(postcode="04107", language="de"), "DE"),  # the default is German: stays
    ],
)
def test_default_country_when_nothing_points_elsewhere(evidence: Evidence, default: str) -> None:
    assert infer_country(evidence, default) == (None, [])


def test_french_evidence_beats_another_default() -> None:
    evidence = Evidence(postcode="75010", phones=["06 12 34 56 78"], language="fr")
    assert infer_country(evidence, "DE")[0] == "FR"


def test_regions() -> None:
    assert region_country("Bayern", field_value=True) == "DE"
    assert region_country("Mazowieckie", field_value=True) == "PL"
    assert region_country("Vaud", field_value=True) == "CH"
    assert region_country("CA", field_value=True) == "US"
    assert region_country("CA", field_value=False) is None  # a bare code only in a state field
    assert region_country("Austin, TX", field_value=False) == "US"
    assert region_country("Springfield, IL 62704", field_value=False) == "US"
    assert region_country("Leipzig, DE", field_value=False) is None  # Germany, not Delaware
    assert region_country("Atlantis", field_value=True) is None


def test_us_address_line() -> None:
    assert split_address("2100 Guadalupe St, Austin, TX 78705") == (
        "2100 Guadalupe St",
        "78705",
        "Austin",
    )


def test_us_lead_without_country_line() -> None:
    body = (
        "Name: Daniel Ortiz\nEmail: d.ortiz@example.com\nPhone: (415) 555-0134\n"
        "City: San Francisco\nState: CA\nZIP: 94103\n"
    )
    result = _lead(body)
    assert result.lead.customer.country == "US"
    assert result.lead.customer.phone == "+14155550134"
    assert "phone_invalid" not in result.lead.details
    assert "region CA" in result.info["country_from"]
    assert result.lead.details["extra"] == {"State": "CA"}


def test_uk_lead_without_country_line() -> None:
    body = (
        "Full name: Oliver Bennett\nEmail: oliver@example.co.uk\nMobile: 07911 123456\n"
        "Postcode: SW1V 4ES\nTown: London\n"
    )
    lead = _lead(body).lead
    assert (lead.customer.country, lead.customer.phone) == ("GB", "+447911123456")


def test_sender_domain_counts() -> None:
    body = "Nom : Favre\nPrénom : Nathalie\nNPA : 1007\nCourriel : nf@example.com\n"
    assert _lead(body, headers={"sender": "web@solaire-leman.ch"}).lead.customer.country == "CH"
    assert _lead(body).lead.customer.country != "CH"  # the same form from a .example sender


# --- invalid phones: kept and flagged, never dropped -----------------------------------------


def test_invalid_phone_with_email_is_kept_and_flagged() -> None:
    body = "Nom : Camille Roche\nCourriel : c@example.fr\nTéléphone : 06 12 34 56\nCP : 87000\n"
    result = _lead(body)
    assert result.lead.customer.phone is None
    assert result.lead.details["phone_invalid"] == "06 12 34 56"
    assert result.info["phone_invalid"] == "06 12 34 56"


def test_phone_of_another_country_named_by_the_country_line_is_flagged() -> None:
    body = (
        "Name: Daniel Ortiz\nEmail: d@example.com\nPhone: (415) 555-0134\n"
        "Postcode: 75010\nCountry: France\n"
    )
    lead = _lead(body).lead
    assert lead.customer.country == "FR"  # the country line is taken as written
    assert lead.details["phone_invalid"] == "(415) 555-0134"


def test_invalid_phone_without_email_is_quarantined_naming_it() -> None:
    result = parse_message(_message("Nom : Camille Roche\nTéléphone : 06 12 34 56\nCP : 87000\n"))
    assert result.kind == "quarantine"
    assert "phone" in result.reason


def test_a_phone_value_without_digits_is_no_phone_to_flag() -> None:
    body = "Name: Julia Frank\nE-Mail: j@example.de\nTelefon: bitte nur per Mail\nPLZ: 28195\n"
    lead = _lead(body).lead
    assert "phone_invalid" not in lead.details
    assert lead.details["extra"] == {"Telefon": "bitte nur per Mail"}


def test_invalid_phone_in_a_json_part_is_kept_and_flagged() -> None:
    document = {
        "customer": {"name": "Ola Nowak", "email": "o@example.pl", "postcode": "00-950"},
    }
    document["customer"]["phone"] = "12 34"
    result = _lead(json.dumps(document))
    assert result.lead.customer.country == "PL"
    assert result.lead.details["phone_invalid"] == "12 34"


def test_a_yes_to_a_product_question_names_the_product() -> None:
    body = "Name: Tom Hardy\nEmail: tom@example.com\nZip: 94110\nInterested in a heat pump?: Yes\n"
    assert _lead(body).lead.product == "heat_pump"
    lead = _lead(body.replace(": Yes", ": No")).lead
    assert lead.product is None
    assert lead.details["extra"] == {"Interested in a heat pump?": "No"}
