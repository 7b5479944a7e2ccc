"""Turn the values of lead emails into data: numbers, booleans, enums, countries, addresses.

Everything here is pure and total: a value that cannot be read gives ``None`` (the caller then
keeps the original text under ``details["extra"]``), never an exception.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from mailflow.domain.intake.schema import BuildingType, GridConnection, Product, Source

# Letters that NFKD does not decompose into "base letter + accent".
_FOLD_TABLE = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "ł": "l",
        "Ł": "l",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ø": "o",
        "Ø": "o",
        "đ": "d",
        "Đ": "d",
        "ı": "i",
    }
)


def fold(text: str) -> str:
    """Lower-case ``text`` and strip its accents (``Größe`` → ``grosse``, ``Łódź`` → ``lodz``)."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD_TABLE))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def normalise_words(text: str) -> str:
    """Folded text with punctuation collapsed to single spaces: the key of every vocabulary."""
    text = re.sub(r"[^a-z0-9]+", " ", fold(text)).strip()
    return re.sub(r"\bco 2\b", "co2", text)  # "CO₂", "CO 2", "CO<sub>2</sub>"


# --- numbers -------------------------------------------------------------------------------

_NUMBER_RUN = re.compile(r"[-−]?\d[\d.,'’\u00a0\u202f\u2009 ]*")
_SPACE_SEPARATORS = " \u00a0\u202f\u2009'’"


def _join_space_groups(run: str) -> str:
    """Keep spaces (and apostrophes) that separate groups of three digits ("29 611,00"), and cut
    the run at any other one ("121 m 2" → "121")."""
    out = []
    i = 0
    while i < len(run):
        ch = run[i]
        if ch in _SPACE_SEPARATORS:
            group = re.match(r"\d{3}(?!\d)", run[i + 1 :])
            if out and out[-1].isdigit() and group:
                i += 1
                continue
            break
        out.append(ch)
        i += 1
    return "".join(out)


def parse_number(value: object) -> int | float | None:
    """The first number written in ``value``, read the way people write them.

    ``"3100 kWh"`` → 3100, ``"1.102,00 €"`` → 1102.0, ``"1,102.00"`` → 1102.0, ``"12,5"`` → 12.5,
    ``"29 611,00"`` → 29611.0. A single separator followed by exactly three digits is a thousands
    separator (``"3.800"`` → 3800) unless the integer part is 0. Integers stay ``int``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        return None
    match = _NUMBER_RUN.search(value[:200])
    if not match:
        return None
    run = _join_space_groups(match.group()).rstrip(".,")
    negative = run.startswith(("-", "−"))
    digits = run.lstrip("-−")
    if not digits:
        return None
    separators = [ch for ch in digits if ch in ".,"]
    decimal_part = ""
    if separators:
        last = separators[-1]
        integer, _, tail = digits.rpartition(last)
        if len(set(separators)) == 2:
            decimal_part = tail  # "1.102,00" / "1,102.00": the last one is the decimal mark
            integer = integer.replace(".", "").replace(",", "")
        elif len(separators) > 1:
            integer, decimal_part = digits.replace(last, ""), ""  # "1.102.000"
        elif len(tail) == 3 and integer.lstrip("-") not in ("0", ""):
            integer, decimal_part = integer + tail, ""  # "3.800" / "4,200"
        else:
            decimal_part = tail
        digits = integer
    if not digits.isdigit() or (decimal_part and not decimal_part.isdigit()):
        return None
    if decimal_part:
        number: int | float = float(f"{digits}.{decimal_part}")
    else:
        number = int(digits)
    return -number if negative else number


def number_with_unit(key: str, value: str) -> int | float | None:
    """A number for a details key, converting the units people use instead of the key's one."""
    number = parse_number(value)
    if number is None:
        return None
    unit = normalise_words(value)
    scale = 1
    if key == "annual_consumption_kwh" and re.search(r"\bmwh\b", unit):
        scale = 1000
    elif key == "co2_savings_kg" and re.search(r"\d\s*(t|tonnes?|tonnen|tony|ton)\b", unit):
        scale = 1000
    elif (
        key == "electricity_price_ct_kwh"
        and number < 5
        and re.search(r"\b(eur|euro|euros|zl|pln|chf)\b|€", value.lower() + " " + unit)
    ):
        scale = 100  # "0,29 €/kWh" is 29 ct/kWh
    if scale == 1:
        return number
    scaled = round(number * scale, 6)
    return int(scaled) if isinstance(number, int) or scaled == int(scaled) else scaled


_COMPASS = {
    "n": 0,
    "nord": 0,
    "north": 0,
    "norden": 0,
    "polnoc": 0,
    "nordost": 45,
    "nord est": 45,
    "north east": 45,
    "northeast": 45,
    "polnocny wschod": 45,
    "ost": 90,
    "osten": 90,
    "est": 90,
    "east": 90,
    "wschod": 90,
    "sudost": 135,
    "sud est": 135,
    "south east": 135,
    "southeast": 135,
    "poludniowy wschod": 135,
    "s": 180,
    "sud": 180,
    "suden": 180,
    "south": 180,
    "poludnie": 180,
    "sudwest": 225,
    "sud ouest": 225,
    "south west": 225,
    "southwest": 225,
    "poludniowy zachod": 225,
    "west": 270,
    "westen": 270,
    "ouest": 270,
    "zachod": 270,
    "nordwest": 315,
    "nord ouest": 315,
    "north west": 315,
    "northwest": 315,
    "polnocny zachod": 315,
}


def parse_orientation(value: str) -> int | float | None:
    """Degrees (180 = south): a number, or a compass word in one of the four languages."""
    number = parse_number(value)
    if number is not None:
        return number
    return _COMPASS.get(normalise_words(value))


# --- booleans ------------------------------------------------------------------------------

_YES = {"ja", "j", "yes", "y", "oui", "tak", "true", "1", "x", "si", "vorhanden", "gewunscht"}
_NO = {"nein", "n", "no", "non", "nie", "false", "0", "kein", "keine", "keiner", "none", "brak"}


def parse_bool(value: object) -> bool | None:
    """Yes/no in English, French, German or Polish (``"Ja"``, ``"Non"``, ``"Tak, chętnie"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if not isinstance(value, str):
        return None
    if value.strip() in ("✓", "✔", "☑", "☒"):
        return True
    words = normalise_words(value).split()
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


# --- enums ---------------------------------------------------------------------------------

_PV_WORDS = (
    "photovolta",
    "fotowolta",
    "solar",
    "solaire",
    "pv",
    "panneau",
    "panel",
    "module",
    "modul",
)
_HEAT_PUMP_WORDS = ("warmepumpe", "pompe a chaleur", "pompa ciepla", "heat pump", "heatpump", "pac")
_BATTERY_WORDS = (
    "speicher",
    "batter",
    "bateri",
    "magazyn",
    "stockage",
    "storage",
    "akumulator",
)


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    """Whether a word (or, for short ones, an exact token) occurs in normalised ``text``."""
    tokens = text.split()
    for word in words:
        if " " in word:
            if re.search(rf"\b{word}", text):
                return True
        elif len(word) <= 3:
            if word in tokens:
                return True
        elif any(token.startswith(word) or (len(word) >= 7 and word in token) for token in tokens):
            return True
    return False


def product_mentions(value: str) -> tuple[bool, bool, bool]:
    """(pv, heat pump, battery) named in ``value``."""
    text = normalise_words(value)
    if "solartherm" in text.replace(" ", "") or "solar thermal" in text:
        text = text.replace("solar", "")  # solar thermal is not photovoltaics
    return (
        _mentions(text, _PV_WORDS),
        _mentions(text, _HEAT_PUMP_WORDS),
        _mentions(text, _BATTERY_WORDS),
    )


def parse_product(value: object) -> Product | None:
    """``"Photovoltaik"`` → pv, ``"PV + Speicher"`` → pv_battery, ``"pompa ciepła"`` → heat_pump."""
    if not isinstance(value, str):
        return None
    try:
        return Product(value.strip().lower())
    except ValueError:
        pass
    pv, heat_pump, battery = product_mentions(value)
    if pv:
        return Product.PV_BATTERY if battery else Product.PV
    if heat_pump:
        return Product.HEAT_PUMP
    if battery:
        return Product.BATTERY
    return None


_BUILDING_WORDS: dict[BuildingType, tuple[str, ...]] = {
    # checked in this order: "Gewerbe + Wohnen" is commercial, "Bauernhaus" agricultural
    BuildingType.AGRICULTURAL: (
        "landwirtschaft",
        "bauernhof",
        "bauernhaus",
        "agricol",
        "agricult",
        "ferme",
        "farm",
        "rolnicz",
        "gospodarstw",
        "stall",
        "scheune",
    ),
    BuildingType.INDUSTRIAL: (
        "industr",
        "przemysl",
        "fabrik",
        "usine",
        "factory",
        "hala",
        "produktion",
    ),
    BuildingType.COMMERCIAL: (
        "gewerb",
        "commerc",
        "bureau",
        "buro",
        "office",
        "business",
        "entreprise",
        "tertiaire",
        "komercyj",
        "biur",
        "firma",
        "handel",
        "uslug",
        "geschaft",
        "laden",
        "shop",
        "hotel",
    ),
    BuildingType.RESIDENTIAL: (
        "einfamilienhaus",
        "zweifamilienhaus",
        "mehrfamilienhaus",
        "reihenhaus",
        "doppelhaus",
        "wohn",
        "haus",
        "privat",
        "maison",
        "residen",
        "logement",
        "appartement",
        "apartment",
        "immeuble",
        "villa",
        "house",
        "home",
        "dom",
        "mieszka",
        "jednorodzin",
        "blizniak",
        "szeregow",
    ),
}


def parse_building_type(value: object) -> BuildingType | None:
    """``"Einfamilienhaus"``/``"Maison individuelle"``/``"Dom jednorodzinny"`` → residential …"""
    if not isinstance(value, str):
        return None
    try:
        return BuildingType(value.strip().lower())
    except ValueError:
        pass
    text = normalise_words(value)
    for building_type, words in _BUILDING_WORDS.items():
        if _mentions(text, words):
            return building_type
    return None


_GRID_WORDS: dict[GridConnection, tuple[str, ...]] = {
    # zero injection first: "autoconsommation sans injection" also says "injection"
    GridConnection.ZERO_INJECTION: (
        "zero injection",
        "zero export",
        "zero feed",
        "nulleinspeis",
        "null einspeis",
        "sans injection",
        "ohne einspeis",
        "keine einspeis",
        "zerowy eksport",
        "zero eksport",
        "bez oddawania",
        "bez eksportu",
        "zeroinjection",
    ),
    GridConnection.OFF_GRID: (
        "off grid",
        "offgrid",
        "insel",
        "autonom",
        "site isole",
        "isole",
        "wyspow",
        "netzunabhangig",
        "niezalezn",
        "stand alone",
        "standalone",
    ),
    GridConnection.ON_GRID: (
        "on grid",
        "ongrid",
        "grid tied",
        "netzgekoppelt",
        "netzeinspeis",
        "einspeis",
        "netzparallel",
        "raccorde",
        "injection",
        "revente",
        "sieciow",
        "podlaczon",
        "do sieci",
        "connected",
    ),
}


def parse_grid_connection(value: object) -> GridConnection | None:
    """on-grid / off-grid / zero injection, in any of the four languages."""
    if not isinstance(value, str):
        return None
    text = normalise_words(value)
    try:
        return GridConnection(text.replace(" ", "_"))
    except ValueError:
        pass
    for grid, words in _GRID_WORDS.items():
        if _mentions(text, words):
            return grid
    return None


_SOURCE_WORDS: dict[Source, tuple[str, ...]] = {
    Source.LEADGEN: ("leadgen", "lead gen", "lead generator", "generator"),
    Source.CALCULATOR: ("calculat", "rechner", "kalkulator", "simulat"),
    Source.WEBHOOK: ("webhook", "api"),
    Source.IMPORT: ("import",),
    Source.MANUAL: ("manual", "manuel", "manuell", "recznie", "reczn"),
}


def parse_source(value: object) -> Source | None:
    if not isinstance(value, str):
        return None
    text = normalise_words(value)
    try:
        return Source(text)
    except ValueError:
        pass
    for source, words in _SOURCE_WORDS.items():
        if _mentions(text, words):
            return source
    return None


_CALCULATOR = re.compile(
    r"(rechner|calculat(or|eur|rice)s?|kalkulator\w*|simulat(eur|or)\s+solaire|simulateur)\b"
)


def mentions_calculator(text: str) -> bool:
    """Whether a sender, subject or intro line says the lead comes from a solar calculator."""
    return bool(_CALCULATOR.search(normalise_words(text)))


# --- countries and languages ---------------------------------------------------------------

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


# --- addresses -----------------------------------------------------------------------------

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


# --- external ids --------------------------------------------------------------------------

# "ID: 279", "ID 279", "(ID: 279)", "ID#279", "Lead-ID: SV-2026-00042"; the id holds a digit
_EXTERNAL_ID = re.compile(r"(?<!\w)I[Dd]\s*(?:[:#=]|no\.?|nr\.?)?\s*(?P<id>[A-Za-z0-9][\w./-]*)")


def find_external_id(text: str) -> str | None:
    """The ``ID: N`` written in a subject or an intro line, else None."""
    for match in _EXTERNAL_ID.finditer(text[:2000]):
        candidate = match.group("id").rstrip("./-")
        if any(ch.isdigit() for ch in candidate):
            return candidate[:255]
    return None
