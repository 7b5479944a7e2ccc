"""What a rendering in a reader's language must not contain: English msgids left untranslated,
raw enum values (``heat_pump``, ``contact_attempted``), Python reprs (``None``, ``[...]``,
``{...}``); and, for French, the (no-break) space before ``:``, ``?``, ``!`` (a warning only)."""

from __future__ import annotations

import re
from functools import cache
from html import unescape

from babel.messages.pofile import read_po

from mailflow.domain.intake.schema import BuildingType, GridConnection, Product
from mailflow.domain.statuses import Actor, LeadStatus, OfferStatus
from mailflow.resources import translations_dir

# Every value of the enums a reader could be shown, that only a program would write: the keys
# with an underscore (``heat_pump``, ``quote_sent``, ``on_grid``).
RAW_VALUES = sorted(
    {
        value.value
        for enum in (LeadStatus, OfferStatus, Actor, Product, BuildingType, GridConnection)
        for value in enum
        if "_" in value.value
    }
    | {"no_capacity", "out_of_area", "not_interested", "follow_up"}
)
_RAW = re.compile(r"(?<![\w/=.-])(" + "|".join(map(re.escape, RAW_VALUES)) + r")(?![\w/=-])")
# A list, dict or set as Python prints it (``['a']``, ``{'k': 1}``, ``[]``), or a lone repr;
# a bracketed tag such as ``[mailflow]`` in an admin subject is fine.
_REPR = re.compile(
    r"\bNone\b|\bTrue\b|\bFalse\b|\bnan\b|\bDecimal\(|[\[{](?:['\"\d\]}(]|None|True|False)"
)
_URL = re.compile(r"(?:https?://|mailto:|tel:)\S+")
_STYLE = re.compile(r"<(style|script)\b.*?</\1>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")


def visible_text(html: str) -> str:
    """The text a person reads in an HTML page or email (no markup, styles, URLs)."""
    text = _TAG.sub(" ", _STYLE.sub(" ", html))
    return _URL.sub(" ", unescape(text))


@cache
def english_leftovers(language: str) -> tuple[str, ...]:
    """Fragments of English msgids that must not appear in a rendering in ``language``: the
    literal parts (3 words or more) of every msgid translated differently, unless the same
    words also occur in some translation of that language (a name, a shared term)."""
    with (translations_dir() / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    translated = " ".join(
        s
        for m in catalog
        if m.id
        for s in (m.string if isinstance(m.string, tuple) else (m.string,))
        if s
    )
    fragments = set()
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            if msgid in strings:
                continue
            for part in _PLACEHOLDER.split(msgid):
                part = part.strip(" :,.;()“”\"'—-\n")
                if len(part.split()) >= 3 and part not in translated:
                    fragments.add(part)
    return tuple(sorted(fragments, key=len, reverse=True))


def problems(text: str, language: str) -> list[str]:
    """What is wrong with ``text`` (visible text, already stripped of markup and URLs)."""
    found = []
    flat = " ".join(text.split())
    if language != "en":
        found += [f"untranslated: {f!r}" for f in english_leftovers(language) if f in flat]
    found += [f"raw value: {m.group(1)!r}" for m in _RAW.finditer(flat)]
    found += [
        f"python repr {m.group(0)!r} in …{flat[max(m.start() - 30, 0) : m.end() + 30]}…"
        for m in _REPR.finditer(flat)
    ]
    return found


def french_spacing(text: str) -> list[str]:
    """French puts a (narrow) no-break space before ``:``, ``?``, ``!`` (not in times, URLs)."""
    flat = " ".join(text.split())
    return [
        flat[max(m.start() - 25, 0) : m.end() + 5]
        for m in re.finditer(r"(?<=[^\s\u00a0\u202f\d])[:?!](?=\s|$)", flat)
    ]
