"""Turn the values of lead emails into data: folded words, numbers, booleans, external ids (enums
are read in :mod:`~mailflow.domain.intake.enums`, places in :mod:`~mailflow.domain.intake.places`).

Everything here is pure and total: a value that cannot be read gives ``None`` (the caller then
keeps the original text under ``details["extra"]``), never an exception.
"""

from __future__ import annotations

import re
import unicodedata

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
