"""Building the lead's data (the shape of ``LeadIn``) from collected rows or a JSON document."""

from __future__ import annotations

from typing import Any

from mailflow.domain.intake.enums import (
    building_type_of_answer,
    mentions_calculator,
    parse_building_type,
    parse_grid_connection,
    parse_product,
    parse_source,
    product_in_text,
    product_mentions,
)
from mailflow.domain.intake.forwards import Context
from mailflow.domain.intake.label_data import (
    BOOL_DETAILS,
    COMPANY,
    DETAIL_KEYS,
    FIRST_NAME,
    HOUSE_NUMBER,
    INTEGER_DETAILS,
    LAST_NAME,
    MONTHLY_CONSUMPTION,
    NUMBER_DETAILS,
    POSTCODE_CITY,
    REGION,
)
from mailflow.domain.intake.labels import vote_language
from mailflow.domain.intake.mime import EMAIL_ADDRESS
from mailflow.domain.intake.places import (
    Evidence,
    infer_country,
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
PHONE_INVALID = "phone_invalid"  # details key: the phone as written, when it is not valid
_PHONE_DIGITS = 3  # a value with fewer digits is no phone number at all ("nur per Mail")
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


def _looks_like_phone(value: str) -> bool:
    return sum(ch.isdigit() for ch in value) >= _PHONE_DIGITS


def _usable_phone(phone: str, country: str) -> bool:
    try:
        normalise_phone(phone, country)
    except ValueError:
        return False
    return True


def _product_of_row(item: Field) -> Product | None:
    """The product a row names: its value ("Produkt: Wärmepumpe"), or its label when the value
    says yes ("Interested in a heat pump?: Yes")."""
    product = parse_product(item.value)
    if product is None and parse_bool(item.value) is True:
        product = parse_product(item.label)
    return product


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

    def first_read(key: str, parser) -> tuple[str | None, Any]:
        """The first row of ``key`` that ``parser`` reads (it gets the row), else the first
        row: several labels may resolve to one enum ("Travaux souhaités", "Délai du projet");
        the others are kept under extra."""
        items = by_key.get(key)
        if not items:
            return None, None
        chosen = next((item for item in items if parser(item) is not None), items[0])
        for other in items:
            if other is not chosen and other.value != chosen.value:
                holder.add_extra(other.label, other.value)
        return chosen.value, parser(chosen)

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
    regions = [item.value for item in by_key.get(REGION, [])]
    info: dict[str, Any] = {}
    if not country:
        evidence = Evidence(
            phones=phones,
            postcode=postcode,
            plate=plate,
            regions=regions,
            places=[value for value in (city, *addresses_given) if value],
            language=language,  # the stated one, else the labels'
            emails=[customer["email"]] if customer.get("email") else [],
            senders=context.senders,
        )
        country, reasons = infer_country(evidence, default_country)
        if country:
            info["country_from"] = reasons[:10]
    keep(REGION)
    customer["country"] = country
    customer["language"] = language
    region = country or default_country
    usable = [phone for phone in phones if _usable_phone(phone, region)]
    chosen = usable[0] if usable else (phones[0] if phones and not customer.get("email") else None)
    if chosen:
        customer["phone"] = chosen
    invalid: str | None = None
    for item in by_key.get("phone", []):
        if item.value == chosen:
            continue
        if not usable and invalid is None and _looks_like_phone(item.value):
            # not valid in the lead's country: kept as written and flagged, never dropped
            invalid = item.value
        else:
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
    monthly = first(MONTHLY_CONSUMPTION)
    if monthly is not None:
        per_month = number_with_unit("annual_consumption_kwh", monthly)
        if per_month is not None and not by_key.get("annual_consumption_kwh"):
            details["annual_consumption_kwh"] = round(per_month * 12, 1)
        else:
            keep(MONTHLY_CONSUMPTION)
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

    product_value, product = first_read("product", _product_of_row)
    building_answer = None
    if product_value:
        if product is None:
            # "Kategorie: Einfamilienhaus": a generic label whose answer is the building
            building_answer = building_type_of_answer(product_value)
            if building_answer is None:
                keep("product")
        elif product_mentions(product_value)[1] and product in (Product.PV, Product.PV_BATTERY):
            details.setdefault("heat_pump", True)  # "PV + Wärmepumpe"
    if product is None:
        # named elsewhere: the subject ("Neue Anfrage Wärmepumpe"), an intro line
        for text in [*context.subjects, *collected.subjects, *collected.intro[:5]]:
            product = product_in_text(text or "")
            if product is not None:
                info["product_from"] = (text or "")[:200]
                break
    for key, parser in (
        ("building_type", parse_building_type),
        ("grid_connection", parse_grid_connection),
    ):
        value, parsed_enum = first_read(key, lambda item, parser=parser: parser(item.value))
        if parsed_enum is not None:
            data[key] = parsed_enum.value
        elif value:
            keep(key)
    if "building_type" not in data:
        # the answer names the building even when its label does not ("Objekt",
        # "Type: Maison individuelle"): an unknown label's short answer
        answers = [building_answer] + [
            building_type_of_answer(value)
            for value in collected.extra.values()
            if isinstance(value, str)
        ]
        found = next((answer for answer in answers if answer is not None), None)
        if found is not None:
            data["building_type"] = found.value

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

    keep(COMPANY)
    if invalid is not None:
        details[PHONE_INVALID] = invalid
        info[PHONE_INVALID] = invalid
    if extra:
        details["extra"] = extra
    data["details"] = details
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
    info: dict[str, Any] = {}
    if not customer.get("country"):
        postcode = customer.get("postcode") if isinstance(customer.get("postcode"), str) else None
        email = customer.get("email")
        evidence = Evidence(
            phones=[phone] if isinstance(phone, str) else [],
            postcode=postcode,
            places=[
                v for v in (customer.get("city"), customer.get("street")) if isinstance(v, str)
            ],
            emails=[email] if isinstance(email, str) else [],
            senders=context.senders,
        )
        inferred, reasons = infer_country(evidence, default_country)
        if inferred:
            customer["country"] = inferred
            info["country_from"] = reasons[:10]
    region = customer.get("country") if isinstance(customer.get("country"), str) else None
    if (
        isinstance(phone, str)
        and phone.strip()
        and customer.get("email")
        and not _usable_phone(phone, region or default_country)
    ):
        # not valid in the lead's country: kept as written and flagged, never dropped
        details[PHONE_INVALID] = customer.pop("phone")
        info[PHONE_INVALID] = details[PHONE_INVALID]
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
    return data, info
