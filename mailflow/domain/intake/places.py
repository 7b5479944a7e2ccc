"""Reading where a lead is: countries and languages by name, postcode formats and prefixes,
the country of a phone number, addresses split into street, postcode and city, and the country
a lead's evidence points to (:func:`infer_country`). Pure and total: a value that cannot be
read gives ``None``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import phonenumbers

from mailflow.domain.intake.place_data import (
    DOMAIN_COUNTRIES,
    LANGUAGE_COUNTRIES,
    PHONE_REGIONS,
    PHONE_SHAPES,
    POSTCODE_FORMATS,
    POSTCODE_SHAPES,
    REGION_NAMES,
    SOFT_MISFIT,
    US_STATES,
    WEIGHTS,
)
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
    """The country of a postcode whose format only one country uses (``"80-831"`` → PL)."""
    text = " ".join(postcode.split()).upper()
    for pattern, country in POSTCODE_SHAPES:
        if pattern.fullmatch(text):
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
# American style: "2100 Guadalupe St, Austin, TX 78705" (the state is read by region_country)
_ADDRESS_US = re.compile(
    r"^(?P<street>.+?),\s*(?P<city>[^\d,;]+?),?\s+(?P<state>[A-Z]{2})\s+"
    r"(?P<postcode>\d{5}(?:-\d{4})?)(?:\s*,\s*(?P<country>[^\d,;]+))?$"
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
    for pattern in (_ADDRESS_POSTCODE_CITY, _ADDRESS_CITY_POSTCODE, _ADDRESS_US):
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


# --- the country a lead's evidence points to -------------------------------------------------

_REGIONS = {
    normalise_words(name): country for country, names in REGION_NAMES.items() for name in names
}
# "Austin, TX 78701", "Springfield, IL", "TX 78701": a US state code after a comma or before a ZIP
_STATE_ZIP = re.compile(r"(?:^|[\s,])(?P<state>[A-Z]{2})\s+\d{5}(?:-\d{4})?\s*$")
_STATE_AFTER_COMMA = re.compile(r",\s*(?P<state>[A-Z]{2})\.?\s*$")
_DOMAIN = re.compile(r"@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


@dataclass(frozen=True)
class Evidence:
    """What a lead shows of where it is (every field optional)."""

    phones: Sequence[str] = ()
    postcode: str | None = None
    plate: str | None = None  # the country of a "D-04107" prefix
    regions: Sequence[str] = ()  # values of a state / Land / region field
    places: Sequence[str] = ()  # city and address values ("Austin, TX 78701")
    language: str | None = None  # the language of the labels
    emails: Sequence[str] = ()  # the customer's addresses
    senders: Sequence[str] = ()  # From headers of the message (the form or the platform)


@dataclass
class CountryScores:
    scores: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def add(self, country: str, weight: float, reason: str) -> None:
        if weight <= 0:
            return
        self.scores[country] = self.scores.get(country, 0.0) + weight
        self.reasons.setdefault(country, []).append(reason)


def region_country(value: str, *, field_value: bool) -> str | None:
    """The country of a state/region name (``"Bayern"``, ``"Texas"``), of a US state code as a
    whole region value (``"CA"``), or of ``"…, TX 78701"`` at the end of a place."""
    text = " ".join(value.split())
    if not text:
        return None
    country = _REGIONS.get(normalise_words(text))
    if country:
        return country
    if field_value and text.upper().rstrip(".") in US_STATES and len(text.rstrip(".")) == 2:
        return "US"
    match = _STATE_ZIP.search(text)
    if match and match.group("state") in US_STATES:
        return "US"
    match = _STATE_AFTER_COMMA.search(text)
    # "Leipzig, DE" names Germany rather than Delaware
    if match and match.group("state") in US_STATES and match.group("state") != "DE":
        return "US"
    return None


def _domain(address: str) -> str:
    match = _DOMAIN.search(address)
    return match.group(1).lower() if match else ""


def _domain_country(address: str) -> str | None:
    domain = _domain(address)
    return DOMAIN_COUNTRIES.get(domain.rsplit(".", 1)[-1]) if domain else None


def _phone_evidence(phone: str, scores: CountryScores, fits) -> None:
    international = country_of_phone(phone)
    if international:
        scores.add(international, WEIGHTS["phone_international"], f"phone {phone}")
        return
    text = " ".join(phone.split())
    for pattern, country in PHONE_SHAPES:
        if pattern.fullmatch(text):
            scores.add(country, WEIGHTS["phone_shape"] * fits(country), f"phone written {text}")
            break
    valid = []
    for region in PHONE_REGIONS:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return
        if phonenumbers.is_valid_number(number):
            valid.append(region)
    for region in valid:
        share = WEIGHTS["phone_valid"] / len(valid)
        scores.add(region, share * fits(region), f"phone valid in {region}")


def postcode_fits(postcode: str | None, country: str) -> bool:
    """Whether ``postcode`` has ``country``'s format (True without a postcode or a known
    format)."""
    if not postcode:
        return True
    pattern = POSTCODE_FORMATS.get(country)
    return pattern is None or bool(pattern.fullmatch(" ".join(postcode.split()).upper()))


def country_scores(evidence: Evidence, default_country: str) -> CountryScores:
    """Every country the evidence points to, with its score and the reasons."""
    scores = CountryScores()

    def fits(country: str) -> float:
        return 1.0 if postcode_fits(evidence.postcode, country) else SOFT_MISFIT

    for phone in evidence.phones:
        _phone_evidence(phone, scores, fits)
    if evidence.plate:
        scores.add(evidence.plate, WEIGHTS["postcode_plate"], f"postcode prefix {evidence.plate}")
    if evidence.postcode:
        shaped = country_of_postcode(evidence.postcode)
        if shaped:
            scores.add(shaped, WEIGHTS["postcode_shape"], f"postcode {evidence.postcode}")
    seen_regions = set()
    for value, is_field in [(v, True) for v in evidence.regions] + [
        (v, False) for v in evidence.places
    ]:
        country = region_country(value, field_value=is_field)
        if country and country not in seen_regions:
            seen_regions.add(country)
            scores.add(country, WEIGHTS["region"], f"region {value}")
    for country, share in LANGUAGE_COUNTRIES.get(evidence.language or "", {}).items():
        weight = WEIGHTS["language"] * share * fits(country)
        scores.add(country, weight, f"labels in {evidence.language}")
    for kind, addresses in (("email_domain", evidence.emails), ("sender_domain", evidence.senders)):
        for address in addresses:
            country = _domain_country(address or "")
            if country:
                what = "email address" if kind == "email_domain" else "sender"
                scores.add(country, WEIGHTS[kind] * fits(country), f"{what} {_domain(address)}")
                break
    scores.add(default_country, WEIGHTS["default"], "default country")
    return scores


def infer_country(evidence: Evidence, default_country: str) -> tuple[str | None, list[str]]:
    """The country the evidence points to most, with the reasons; ``(None, [])`` when nothing
    points elsewhere than the default country (the caller then applies the default)."""
    scores = country_scores(evidence, default_country)
    ranked = sorted(scores.scores.items(), key=lambda item: -item[1])
    best, score = ranked[0]
    if best == default_country or score <= scores.scores.get(default_country, 0.0):
        return None, []
    return best, scores.reasons[best]
