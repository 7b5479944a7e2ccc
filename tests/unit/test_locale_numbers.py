"""Numbers read and written in the reader's locale (Babel), phones for people (phonenumbers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mailflow.i18n import format_number, format_phone, parse_number
from mailflow.web.validation import error_summary, error_text


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("12.500,50", "de"),
        ("12500,50", "de"),
        ("12500.50", "de"),  # two decimals cannot be a group of thousands
        ("12 500,50", "fr"),
        ("12\u202f500,50", "fr"),
        ("12\u00a0500,50", "fr"),
        ("12 500,50", "pl"),
        ("12\u00a0500,50", "pl"),
        ("12,500.50", "en"),
        ("12500.50", "en"),
        (" 12,500.5 ", "en"),
    ],
)
def test_amounts_as_people_write_them(text, language):
    assert parse_number(text, language) == Decimal("12500.50")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("12.500,50", "en"),  # German grouping on an English page: refused, not guessed
        ("12,500.50", "de"),
        ("12,500.50", "fr"),
        ("1,2,3", "en"),
        ("1e5", "en"),
        ("NaN", "en"),
        ("Infinity", "de"),
        ("beaucoup", "fr"),
        ("", "de"),
    ],
)
def test_malformed_amounts_are_refused(text, language):
    with pytest.raises(ValueError):
        parse_number(text, language)


@pytest.mark.parametrize(
    ("value", "language", "shown"),
    [
        (68.5, "de", "68,5"),
        (3.6667, "fr", "3,67"),
        (12500.5, "fr", "12\u202f500,5"),
        (12500.5, "en", "12,500.5"),
        (12500, "pl", "12\u00a0500"),
        (None, "de", ""),
        ("n/a", "de", "n/a"),
    ],
)
def test_numbers_for_people(value, language, shown):
    assert format_number(value, language) == shown


@pytest.mark.parametrize(
    ("raw", "region", "shown"),
    [
        ("+4934114065515", None, "+49 341 14065515"),
        ("0341 14065515", "DE", "+49 341 14065515"),
        ("+33140347000", None, "+33 1 40 34 70 00"),
        ("ask at the desk", None, "ask at the desk"),
        (None, None, ""),
    ],
)
def test_phones_for_people(raw, region, shown):
    assert format_phone(raw, region) == shown


def test_validation_messages_in_the_reader_s_language():
    assert error_text("must be a positive number", "de") == (
        "Geben Sie einen positiven Betrag ein, z. B. 12.500,50."
    )
    assert "12\u202f500,50" in error_text("must be a positive number", "fr")
    assert error_text("choose 1 to 5 stars", "pl") == "Wybierz od 1 do 5 gwiazdek."
    # A code the table does not know is never shown as it is.
    assert error_text("must be purple", "fr") == "Veuillez vérifier ce champ."
    summary = error_summary({"time": "must be a time (HH:MM)"}, "fr")
    assert summary == "Heure\u00a0: Indiquez une heure, par exemple 14:30."
