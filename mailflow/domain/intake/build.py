"""Building the lead's data (the shape of ``LeadIn``) from collected rows or a JSON document."""

from __future__ import annotations

import re
from typing import Any

from mailflow.domain.intake.enums import (
    mentions_calculator,
    parse_building_type,
    parse_grid_connection,
    parse_product,
    parse_source,
    product_mentions,
)
from mailflow.domain.intake.forwards import Context
from mailflow.domain.intake.label_data import (
    BOOL_DETAILS,
    DETAIL_KEYS,
    FIRST_NAME,
    HOUSE_NUMBER,
    INTEGER_DETAILS,
    LAST_NAME,
    NUMBER_DETAILS,
    POSTCODE_CITY,
)
from mailflow.domain.intake.labels import vote_language
from mailflow.domain.intake.mime import EMAIL_ADDRESS
from mailflow.domain.intake.places import (
    country_of_phone,
    country_of_postcode,
    parse_country,
    parse_language,
    split_address,
    split_postcode_city,
    split_postcode_prefix,
)
from mailflow.domain.intake.rows import Collected, Field
from mailflow.domain.intake.schema import (
    BuildingType,
    CustomerIn,
    GridConnection,
    LeadIn,
    Product,
    Source,
    normalise_phone,
)
from mailflow.domain.intake.values import (
    find_external_id,
    fold,
    normalise_words,
    number_with_unit,
    parse_bool,
    parse_orientation,
)

MAX_MESSAGE_CHARS = 20000  # LeadIn.message's limit
CUT_MARK = " […]"


_PV_DATA = ("roof_area_m2", "roof_pitch_deg", "roof_orientation_deg", "module", "module_count")
# languages that, with a five-digit postcode, name the country (German and French forms are
# also used in AT/CH/BE/LU, whose postcodes have four digits)
_LANGUAGE_COUNTRIES = {"de": "DE", "fr": "FR", "pl": "PL"}
_EMPTY_VALUES = {
    "n a",
    "na",
    "k a",
    "keine angabe",
    "nicht angegeben",
    "non renseigne",
    "brak danych",
    "null",
    "none",
    "undefined",
    "",
}


def _is_empty(value: str) -> bool:
    return normalise_words(value) in _EMPTY_VALUES and not any(ch.isdigit() for ch in value)


def _infer_country(
    phones: list[str], postcode: str | None, plate: str | None, language: str | None
) -> str | None:
    """Country from the phone's international prefix, an unambiguous postcode format, or the
    form's language with a matching postcode; None leaves the default."""
    for phone in phones:
        country = country_of_phone(phone)
        if country:
            return country
    if plate:
        return plate
    if postcode:
        country = country_of_postcode(postcode)
        if country:
            return country
        if language in _LANGUAGE_COUNTRIES and re.fullmatch(r"\d{5}", postcode):
            return _LANGUAGE_COUNTRIES[language]
    return None


def _usable_phone(phone: str, country: str) -> bool:
    try:
        normalise_phone(phone, country)
    except ValueError:
        return False
    return True


def _email_in(value: str) -> str:
    found = EMAIL_ADDRESS.search(value)
    return found.group() if found else value


def build_from_rows(
    collected: Collected, context: Context, default_country: str
) -> tuple[dict, dict]:
    extra = dict(collected.extra)
    holder = Collected(extra=extra)  # for add_extra's de-duplication
    by_key: dict[str, list[Field]] = {}
    for item in collected.fields:
        if _is_empty(item.value):
            continue
        by_key.setdefault(item.key, []).append(item)

    def first(key: str) -> str | None:
        items = by_key.get(key)
        if not items:
            return None
        for other in items[1:]:
            if other.value != items[0].value and key not in ("phone", "message"):
                holder.add_extra(other.label, other.value)
        return items[0].value

    def keep(key: str) -> None:
        for item in by_key.get(key, [])[:1]:
            holder.add_extra(item.label, item.value)

    customer: dict[str, Any] = {}
    name, given, family = first("name"), first(FIRST_NAME), first(LAST_NAME)
    surname = family or name
    if given and surname:
        customer["name"] = (
            surname if fold(surname).startswith(fold(given)) else f"{given} {surname}"
        )
    else:
        customer["name"] = name or given or family

    email_value = first("email")
    if email_value:
        customer["email"] = _email_in(email_value)

    addresses_given = [item.value for item in by_key.get("street", [])]
    street, postcode, city = first("street"), first("postcode"), first("city")
    number = first(HOUSE_NUMBER)
    if street and number:
        street = f"{street} {number}"
        addresses_given[0] = street
    elif number and not street:
        keep(HOUSE_NUMBER)
    for index, address in enumerate(addresses_given):
        # "Adresse: Quai de Valmy 167 75010 Paris": street, postcode and city in one line
        address_street, address_postcode, address_city = split_address(address)
        if index == 0:
            street = address_street
        postcode = postcode or address_postcode
        city = city or address_city
    combined = first(POSTCODE_CITY)
    if combined:
        pair_postcode, pair_city = split_postcode_city(combined)
        if pair_postcode or pair_city:
            postcode, city = postcode or pair_postcode, city or pair_city
        elif not postcode:
            postcode = combined
    if postcode:
        pair_postcode, pair_city = split_postcode_city(postcode)
        if pair_postcode:
            postcode, city = pair_postcode, city or pair_city
    if city and not postcode:
        pair_postcode, pair_city = split_postcode_city(city)
        if pair_postcode:
            postcode, city = pair_postcode, pair_city
    plate = None
    if postcode:
        postcode, plate = split_postcode_prefix(postcode)
        postcode = " ".join(postcode.split()).upper()
    customer.update(street=street, postcode=postcode, city=city)

    country = None
    country_value = first("country")
    if country_value:
        country = parse_country(country_value)
        if country is None:
            keep("country")
    language_value = first("language")
    language = parse_language(language_value) if language_value else None
    if language_value and language is None:
        keep("language")
    detected_language = vote_language(collected.votes)
    language = language or detected_language

    phones = [item.value for item in by_key.get("phone", [])]
    country = country or _infer_country(phones, postcode, plate, detected_language)
    customer["country"] = country
    customer["language"] = language
    region = country or default_country
    usable = [phone for phone in phones if _usable_phone(phone, region)]
    chosen = usable[0] if usable else (phones[0] if phones and not customer.get("email") else None)
    if chosen:
        customer["phone"] = chosen
    for item in by_key.get("phone", []):
        if item.value != chosen:
            holder.add_extra(item.label, item.value)
    customer["reachability"] = first("reachability")

    data: dict[str, Any] = {"customer": {k: v for k, v in customer.items() if v}}
    messages = [item.value for item in by_key.get("message", [])]
    if messages:
        message = "\n".join(messages)
        if len(message) > MAX_MESSAGE_CHARS:  # cut, and visibly so
            message = message[: MAX_MESSAGE_CHARS - len(CUT_MARK)] + CUT_MARK
        data["message"] = message

    details: dict[str, Any] = {}
    for key in DETAIL_KEYS:
        value = first(key)
        if value is None:
            continue
        parsed: Any
        if key in NUMBER_DETAILS:
            parsed = (
                parse_orientation(value)
                if key == "roof_orientation_deg"
                else number_with_unit(key, value)
            )
            if isinstance(parsed, float) and key in INTEGER_DETAILS and parsed.is_integer():
                parsed = int(parsed)
        elif key in BOOL_DETAILS:
            parsed = parse_bool(value)
        else:
            parsed = value
        if parsed is None:
            keep(key)
        else:
            details[key] = parsed

    product_value = first("product")
    product = parse_product(product_value) if product_value else None
    if product_value:
        if product is None:
            keep("product")
        elif product_mentions(product_value)[1] and product in (Product.PV, Product.PV_BATTERY):
            details.setdefault("heat_pump", True)  # "PV + Wärmepumpe"
    for key, parser in (
        ("building_type", parse_building_type),
        ("grid_connection", parse_grid_connection),
    ):
        value = first(key)
        parsed_enum = parser(value) if value else None
        if parsed_enum is not None:
            data[key] = parsed_enum.value
        elif value:
            keep(key)

    hints = [*context.senders, *context.subjects, *collected.intro[:5]]
    calculator = any(mentions_calculator(text) for text in hints if text)
    source_value = first("source")
    source = parse_source(source_value) if source_value else None
    if source_value and source is None:
        keep("source")
    data["source"] = (source or (Source.CALCULATOR if calculator else Source.EMAIL)).value
    if product is None and (calculator or any(key in details for key in _PV_DATA)):
        product = Product.PV
    if product is not None:
        data["product"] = product.value

    external_id = first("external_id")
    if not external_id:
        for text in [*collected.subjects, *context.subjects, *collected.intro[:5]]:
            external_id = find_external_id(text or "")
            if external_id:
                break
    if external_id:
        data["external_id"] = external_id[:255]

    if extra:
        details["extra"] = extra
    data["details"] = details
    info: dict[str, Any] = {}
    if detected_language:
        info["language"] = detected_language
    if collected.extra:
        info["unknown_labels"] = list(collected.extra)[:50]
    return data, info


_ENUM_PARSERS = {
    "product": (Product, parse_product),
    "building_type": (BuildingType, parse_building_type),
    "grid_connection": (GridConnection, parse_grid_connection),
    "source": (Source, parse_source),
}


def build_from_document(
    document: dict, context: Context, default_country: str
) -> tuple[dict, dict]:
    """A JSON part in the webhook's shape: taken as it is, with lenient enums and the same
    country, phone and id rules as the text layouts; unknown keys go to details.extra."""
    data: dict[str, Any] = {}
    details = document.get("details")
    details = dict(details) if isinstance(details, dict) else {}
    extra = details.get("extra") if isinstance(details.get("extra"), dict) else {}
    if "details" in document and not isinstance(document.get("details"), dict):
        extra["details"] = document["details"]
    for key, value in document.items():
        if key in ("customer", "details"):
            continue
        if key in LeadIn.model_fields:
            data[key] = value
        else:
            extra[key] = value
    for key, (enum, parser) in _ENUM_PARSERS.items():
        value = data.get(key)
        if value is None or not isinstance(value, str):
            continue
        try:
            data[key] = enum(value).value
        except ValueError:
            parsed = parser(value)
            if parsed is None:
                extra[key] = data.pop(key)
            else:
                data[key] = parsed.value

    customer: dict[str, Any] = {}
    for key, value in document["customer"].items():
        if key in CustomerIn.model_fields:
            customer[key] = (
                str(value) if isinstance(value, int | float) and key != "name" else value
            )
        else:
            extra[f"customer.{key}"] = value
    country = customer.get("country")
    if isinstance(country, str) and country.strip() and parse_country(country):
        customer["country"] = parse_country(country)
    if isinstance(customer.get("language"), str):
        customer["language"] = parse_language(customer["language"]) or customer["language"]
    phone = customer.get("phone")
    if not customer.get("country"):
        postcode = customer.get("postcode") if isinstance(customer.get("postcode"), str) else None
        phones = [phone] if isinstance(phone, str) else []
        inferred = _infer_country(phones, postcode, None, None)
        if inferred:
            customer["country"] = inferred
    region = customer.get("country") if isinstance(customer.get("country"), str) else None
    if (
        isinstance(phone, str)
        and phone.strip()
        and customer.get("email")
        and not _usable_phone(phone, region or default_country)
    ):
        extra["customer.phone"] = customer.pop("phone")
    data["customer"] = customer

    if not data.get("source"):
        hints = [*context.senders, *context.subjects]
        calculator = any(mentions_calculator(text) for text in hints if text)
        data["source"] = (Source.CALCULATOR if calculator else Source.EMAIL).value
    if not data.get("external_id"):
        for text in context.subjects:
            external_id = find_external_id(text or "")
            if external_id:
                data["external_id"] = external_id
                break
    if not data.get("product") and (
        data.get("source") == Source.CALCULATOR or any(key in details for key in _PV_DATA)
    ):
        data["product"] = Product.PV.value
    if extra:
        details["extra"] = extra
    data["details"] = details
    return data, {}
