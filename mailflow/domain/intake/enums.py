"""Reading the enum fields of lead emails: product (and what a product text mentions), building
type, grid connection, source, and mentions of a solar calculator. Pure and total: a value that
cannot be read gives ``None``."""

from __future__ import annotations

import re

from mailflow.domain.intake.schema import BuildingType, GridConnection, Product, Source
from mailflow.domain.intake.values import normalise_words

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
# words with a space are regular expressions matched at a word start ("pomp\\w* ciepl": pompa,
# pompy, pompę ciepła)
_HEAT_PUMP_WORDS = (
    "warmepumpe",
    "pompe a chaleur",
    "pompes a chaleur",
    "pomp\\w* ciepl",
    "heat pump",
    "heatpump",
    "pac",
)
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


def product_mentions(value: str, pv_words: tuple[str, ...] = _PV_WORDS) -> tuple[bool, bool, bool]:
    """(pv, heat pump, battery) named in ``value``."""
    text = normalise_words(value)
    if "solartherm" in text.replace(" ", "") or "solar thermal" in text:
        text = text.replace("solar", "")  # solar thermal is not photovoltaics
    return (
        _mentions(text, pv_words),
        _mentions(text, _HEAT_PUMP_WORDS),
        _mentions(text, _BATTERY_WORDS),
    )


def _product_of(mentions: tuple[bool, bool, bool]) -> Product | None:
    pv, heat_pump, battery = mentions
    if pv:
        return Product.PV_BATTERY if battery else Product.PV
    if heat_pump:
        return Product.HEAT_PUMP
    if battery:
        return Product.BATTERY
    return None


def parse_product(value: object) -> Product | None:
    """``"Photovoltaik"`` → pv, ``"PV + Speicher"`` → pv_battery, ``"pompa ciepła"`` → heat_pump."""
    if not isinstance(value, str):
        return None
    try:
        return Product(value.strip().lower())
    except ValueError:
        pass
    return _product_of(product_mentions(value))


# In a subject or a sentence, "module" and "panel" name other things too ("Formular-Modul",
# "admin panel"): only words that name photovoltaics there.
_PV_TEXT_WORDS = ("photovolta", "fotowolta", "solar", "solaire", "pv", "panneaux solaires")


def product_in_text(text: str) -> Product | None:
    """The product a subject or an intro line names ("Neue Anfrage Wärmepumpe", "Demande de
    devis panneaux solaires"), else None."""
    return _product_of(product_mentions(text[:300], _PV_TEXT_WORDS))


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


# Words that, in a short answer, name a building whatever the question was ("Objekt:
# Einfamilienhaus", "Type: Maison individuelle"); the generic words of _BUILDING_WORDS ("haus",
# "home", "dom") are not enough there.
_BUILDING_ANSWER_WORDS = (
    "einfamilienhaus",
    "zweifamilienhaus",
    "mehrfamilienhaus",
    "reihenhaus",
    "doppelhaus",
    "wohnhaus",
    "bungalow",
    "maison individuelle",
    "maison",
    "pavillon",
    "appartement",
    "apartment",
    "detached",
    "terraced",
    "dom jednorodzin",
    "jednorodzin",
    "blizniak",
    "szeregow",
    "bauernhof",
    "landwirtschaft",
    "exploitation agricole",
    "gospodarstw",
    "farm",
    "gewerbe",
    "commercial",
    "local commercial",
    "bureaux",
    "industrie",
    "usine",
    "warehouse",
    "przemysl",
)
_ANSWER_MAX_WORDS = 6


def building_type_of_answer(value: object) -> BuildingType | None:
    """The building a short answer names whatever its label (``"Einfamilienhaus, Baujahr
    1985"`` → residential), else None."""
    if not isinstance(value, str):
        return None
    text = normalise_words(value)
    if not text or len(text.split()) > _ANSWER_MAX_WORDS:
        return None
    if not _mentions(text, _BUILDING_ANSWER_WORDS):
        return None
    return parse_building_type(value)


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
