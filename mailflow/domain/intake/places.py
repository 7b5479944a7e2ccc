"""Reading where a lead is: countries and languages by name, postcode formats and prefixes,
the country of a phone number, and addresses split into street, postcode and city. Pure and
total: a value that cannot be read gives ``None``."""

from __future__ import annotations

import re

import phonenumbers

from mailflow.domain.intake.values import normalise_words

_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "DE": ("deutschland", "germany", "allemagne", "niemcy", "bundesrepublik deutschland", "brd"),
    "FR": ("france", "frankreich", "francja", "republique francaise"),
    "PL": ("polska", "poland", "pologne", "polen", "rzeczpospolita polska"),
    "AT": ("osterreich", "austria", "autriche"),
    "CH": ("schweiz", "suisse", "switzerland", "szwajcaria", "svizzera"),
    "BE": ("belgien", "belgique", "belgium", "belgia", "belgie"),
    "LU": ("luxembourg", "luxemburg", "luksemburg"),
    "NL": ("niederlande", "nederland", "netherlands", "pays bas", "holandia", "holland"),
    "IT": ("italien", "italie", "italy", "italia", "wlochy"),
    "ES": ("spanien", "espagne", "spain", "espana", "hiszpania"),
    "PT": ("portugal", "portugalia"),
    "GB": (
        "united kingdom",
        "uk",
        "great britain",
        "england",
        "grossbritannien",
        "royaume uni",
        "wielka brytania",
    ),
    "IE": ("ireland", "irland", "irlande", "irlandia"),
    "CZ": ("tschechien", "czech republic", "czechia", "republique tcheque", "czechy"),
    "DK": ("danemark", "denmark", "danmark", "dania"),
    "US": ("united states", "usa", "etats unis", "vereinigte staaten", "stany zjednoczone"),
}
_COUNTRY_ALIASES = {
    **{name: code for code, names in _COUNTRY_NAMES.items() for name in names},
    # ISO alpha-3 and car plates that forms use
    "deu": "DE",
    "ger": "DE",
    "d": "DE",
    "fra": "FR",
    "f": "FR",
    "pol": "PL",
    "aut": "AT",
    "a": "AT",
    "che": "CH",
    "bel": "BE",
    "lux": "LU",
    "nld": "NL",
    "ita": "IT",
    "esp": "ES",
    "prt": "PT",
    "gbr": "GB",
    "irl": "IE",
    "cze": "CZ",
    "dnk": "DK",
}


def parse_country(value: object) -> str | None:
    """ISO 3166 alpha-2 for a country name in four languages or an ISO/plate code, else None."""
    if not isinstance(value, str):
        return None
    text = normalise_words(value)
    if text in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[text]
    if len(text) == 2 and text.isalpha():
        code = text.upper()
        if code == "UK":
            return "GB"
        if code in phonenumbers.SUPPORTED_REGIONS:
            return code
    return None


_LANGUAGE_NAMES = {
    "de": ("de", "deu", "ger", "deutsch", "german", "allemand", "niemiecki", "germany"),
    "fr": ("fr", "fra", "fre", "francais", "french", "franzosisch", "francuski"),
    "pl": ("pl", "pol", "polski", "polish", "polnisch", "polonais", "jezyk polski"),
    "en": ("en", "eng", "english", "englisch", "anglais", "angielski"),
}
_LANGUAGE_ALIASES = {name: code for code, names in _LANGUAGE_NAMES.items() for name in names}


def parse_language(value: object) -> str | None:
    """``"Deutsch"``/``"français"``/``"pl-PL"`` → de/fr/pl; another 2-letter code as it is."""
    if not isinstance(value, str):
        return None
    text = normalise_words(value)
    if text in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[text]
    first = text.split(" ")[0] if text else ""
    if first in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[first]
    if len(first) == 2 and first.isalpha():
        return first
    return None


# Postcode formats that name one country on their own.
_POSTCODE_COUNTRIES = (
    (re.compile(r"^\d{2}-\d{3}$"), "PL"),
    (re.compile(r"^\d{4}-\d{3}$"), "PT"),
    (re.compile(r"^\d{4} ?[A-Z]{2}$"), "NL"),
    (re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$"), "GB"),
)
# "D-04107", "F-75010", "PL-80-831": the prefix names the country
_PLATE_PREFIX = re.compile(r"^(D|F|A|B|L|CH|PL|NL|LU|BE|AT|DE|FR)-(?=\d)", re.IGNORECASE)
_PLATE_COUNTRIES = {"D": "DE", "F": "FR", "A": "AT", "B": "BE", "L": "LU", "LU": "LU"}


def split_postcode_prefix(postcode: str) -> tuple[str, str | None]:
    """``"D-04107"`` → (``"04107"``, ``"DE"``); other postcodes unchanged with no country."""
    match = _PLATE_PREFIX.match(postcode.strip())
    if not match:
        return postcode.strip(), None
    prefix = match.group(1).upper()
    return postcode.strip()[match.end() :], _PLATE_COUNTRIES.get(prefix, prefix)


def country_of_postcode(postcode: str) -> str | None:
    text = postcode.strip().upper()
    for pattern, country in _POSTCODE_COUNTRIES:
        if pattern.match(text):
            return country
    return None


def country_of_phone(phone: str) -> str | None:
    """The country of an international number (``+49…``, ``0049…``), else None."""
    text = phone.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_country_code(number.country_code)
    return region if region and region != "001" and region != "ZZ" else None


# street, then postcode and city at the end: "Quai de Valmy 167 75010 Paris",
# "Hauptstraße 5, D-10115 Berlin", "ul. Długa 5, 80-831 Gdańsk" (the city has no digits, so
# the postcode found is the last one)
_ADDRESS_POSTCODE_CITY = re.compile(
    r"^(?P<street>.+)[\s,;]+(?:(?P<plate>[A-Za-z]{1,2})-)?"
    r"(?P<postcode>\d{2}-\d{3}|\d{4}-\d{3}|\d{4,5})\s+(?P<city>[^\d,;]+?)"
    r"(?:\s*[,;]\s*(?P<country>[^\d,;]+))?$"
)
# British style, postcode last: "4 Station Road, London SW1A 1AA"
_ADDRESS_CITY_POSTCODE = re.compile(
    r"^(?P<street>.+),\s*(?P<city>[^\d,;]+?)[\s,]+"
    r"(?P<postcode>[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})(?:\s*,\s*(?P<country>[^\d,;]+))?$"
)
# just "75010 Paris" / "80-831 Gdańsk" / "Leipzig 04107" (a postcode-and-city field)
_POSTCODE_CITY = re.compile(
    r"^(?:(?P<plate>[A-Za-z]{1,2})-)?(?P<postcode>\d{2}-\d{3}|\d{4}-\d{3}|\d{4,5})"
    r"[\s,]+(?P<city>[^\d,;]+)$"
)
_CITY_POSTCODE = re.compile(r"^(?P<city>[^\d,;]+?)[\s,]+(?P<postcode>\d{2}-\d{3}|\d{4,5})$")


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def split_address(address: str) -> tuple[str | None, str | None, str | None]:
    """(street, postcode, city) of a one-line address; (address, None, None) when the line has
    no recognisable postcode and city at its end."""
    text = " ".join(address.split())[:300]
    if not text:
        return None, None, None
    for pattern in (_ADDRESS_POSTCODE_CITY, _ADDRESS_CITY_POSTCODE):
        match = pattern.match(text)
        if not match:
            continue
        country = match.group("country")
        if country and parse_country(country) is None:
            continue  # "…, 12 rue X" is not a country: not an address we understand
        street = match.group("street").strip(" ,;")
        postcode = match.group("postcode")
        plate = match.groupdict().get("plate")
        if plate:
            postcode = f"{plate}-{postcode}"
        city = match.group("city").strip(" ,;")
        if _has_letter(street) and _has_letter(city):
            return street, postcode, city
    return text, None, None


def split_postcode_city(value: str) -> tuple[str | None, str | None]:
    """``"04107 Leipzig"`` / ``"Leipzig 04107"`` → (postcode, city); (None, None) otherwise."""
    text = " ".join(value.split())[:200]
    match = _POSTCODE_CITY.match(text)
    if match and _has_letter(match.group("city")):
        postcode = match.group("postcode")
        if match.group("plate"):
            postcode = f"{match.group('plate')}-{postcode}"
        return postcode, match.group("city").strip(" ,;")
    match = _CITY_POSTCODE.match(text)
    if match and _has_letter(match.group("city")):
        return match.group("postcode"), match.group("city").strip(" ,;")
    return None, None
