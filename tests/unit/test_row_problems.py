"""Rejected import rows in an admin's words, not pydantic's (#19)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mailflow.domain.intake.row_problems import (
    describe,
    describe_row,
    postcode_problem,
    problems_from_errors,
)
from mailflow.domain.intake.schema import LeadIn


def problems(customer: dict, **lead) -> list[str]:
    data = {"customer": customer, **lead}
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate(data, context={"default_country": "FR"})
    return [describe(p) for p in problems_from_errors(info.value.errors(), data)]


def test_each_validation_error_reads_as_a_sentence():
    assert problems({"name": "A", "email": "a(at)b.fr", "postcode": "75001"}) == [
        "email 'a(at)b.fr' is not a valid email address"
    ]
    assert problems({"name": "A", "email": "a@b.fr"}) == ["postcode is missing"]
    assert problems({"name": "A", "postcode": "75001"}) == [
        "an email or a phone number is required"
    ]
    assert problems({"name": "A", "phone": "12", "postcode": "00-950", "country": "PL"}) == [
        "phone '12' is not a valid phone number for PL"
    ]
    assert problems({"name": "A", "email": "a@b.fr", "postcode": "75001", "country": "F1"}) == [
        "country 'F1' is not a two-letter country code (such as FR or DE)"
    ]
    assert problems({"name": "A", "email": "a@b.fr", "postcode": "75001"}, product="windmill") == [
        "product 'windmill' is not one of: pv, heat_pump, battery, pv_battery"
    ]
    assert problems({"name": "", "email": "a@b.fr", "postcode": "75001"}) == ["name is missing"]


def test_postcodes_are_checked_for_the_countries_known():
    wrong = postcode_problem("7501", "FR")
    assert describe_row(12, [wrong]) == "row 12: postcode '7501' is not a valid postcode for FR"
    assert postcode_problem("75001", "FR") is None
    assert postcode_problem("1012 AB", "NL") is None and postcode_problem("00-950", "PL") is None
    assert postcode_problem("SW1A 1AA", "GB") is None  # not checked


def test_a_translation_is_used_when_given():
    wrong = postcode_problem("7501", "FR")
    french = {
        "postcode '%(value)s' is not a valid postcode for %(country)s": (
            "le code postal « %(value)s » n'existe pas en %(country)s"
        ),
        "row %(row)s: %(problems)s": "ligne %(row)s : %(problems)s",
    }
    text = describe_row(3, [wrong], lambda m: french.get(m, m))
    assert text == "ligne 3 : le code postal « 7501 » n'existe pas en FR"
