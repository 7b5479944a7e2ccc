"""Translations (gettext catalogs: ``.po`` files edited by translators, compiled to the ``.mo``
files read here by ``scripts/update-translations``) and locale-aware formatting of dates and
numbers."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel.core import negotiate_locale
from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import NumberFormatError, format_decimal, get_group_symbol, parse_decimal
from babel.support import NullTranslations, Translations

from mailflow.resources import translations_dir

LANGUAGES = ("en", "fr", "de", "pl")
DEFAULT_LANGUAGE = "en"


def pick_language(*candidates: str | None) -> str:
    """The first supported language among the candidates, else English."""
    for candidate in candidates:
        if candidate:
            code = candidate.lower().replace("_", "-").split("-")[0]
            if code in LANGUAGES:
                return code
    return DEFAULT_LANGUAGE


# One element of an Accept-Language header (RFC 9110 §12.5.4): a language range and an optional
# weight between 0 and 1 with at most three decimals.
_RANGE = re.compile(
    r"\s*(?P<tag>[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*)\s*"
    r"(?:;\s*q\s*=\s*(?P<q>0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\s*)?"
)


def accepted_languages(header: str | None) -> list[str]:
    """The language ranges of an ``Accept-Language`` header, most wanted first (ties keep the
    header's order). Malformed elements, ``*`` and ranges weighted ``q=0`` are left out."""
    weighted = []
    for position, element in enumerate((header or "").split(",")):
        match = _RANGE.fullmatch(element)
        if match is None or match["tag"] == "*":
            continue
        weight = float(match["q"]) if match["q"] is not None else 1.0
        if weight > 0:
            weighted.append((-weight, position, match["tag"].replace("_", "-")))
    return [tag for _weight, _position, tag in sorted(weighted)]


def negotiate(header: str | None, *hints: str | None) -> str:
    """The page language: the first supported hint (the installer's own language, an explicit
    ``?lang=``), else the best supported language of the ``Accept-Language`` header by its
    q-values (a region falls back to its language: ``de-AT`` is German), else English."""
    explicit = [hint.replace("_", "-") for hint in hints if isinstance(hint, str) and hint]
    for candidates in (explicit, accepted_languages(header)):
        found = negotiate_locale(candidates, LANGUAGES, sep="-", aliases=None)
        if found:
            return found.lower()
    return DEFAULT_LANGUAGE


@cache
def translations(language: str) -> NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    mo = translations_dir() / language / "LC_MESSAGES" / "messages.mo"
    if not mo.exists():
        # A supported language must never fall back to English silently.
        raise FileNotFoundError(f"translation catalog missing: {mo}")
    with mo.open("rb") as fh:
        return Translations(fh)


def gettext(language: str, message: str, **params) -> str:
    text = translations(language).gettext(message)
    return text % params if params else text


def format_instant(value: datetime, language: str, timezone: str, *, with_zone: bool = True) -> str:
    """``Friday 20 November 2026, 16:00 (Europe/Paris)`` in the reader's language and zone."""
    local = value.astimezone(ZoneInfo(timezone))
    text = (
        f"{format_date(local.date(), 'full', locale=language)}, "
        f"{format_time(local.time(), 'short', locale=language)}"
    )
    return f"{text} ({timezone})" if with_zone else text


def format_day(value, language: str) -> str:
    return format_date(value, "full", locale=language)


def format_duration(delta: timedelta, language: str) -> str:
    """A duration in hours and minutes, localized: ``23 hr 12 min``, ``23 h 12 min``,
    ``23 Std. 12 Min.`` (Babel's unit names; nothing below a minute, never negative)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)

    def unit(value: timedelta, granularity: str) -> str:
        # A threshold no value reaches makes Babel count in the granularity's own unit.
        return format_timedelta(
            value, granularity=granularity, threshold=10**12, format="short", locale=language
        )

    parts = []
    if hours:
        parts.append(unit(timedelta(hours=hours), "hour"))
    if minutes or not hours:
        parts.append(unit(timedelta(minutes=minutes), "minute"))
    return " ".join(parts)


# Spaces people type between thousands (a plain space, no-break, narrow no-break, thin).
_SPACES = re.compile(r"[ \u00a0\u202f\u2009]")
# A number without grouping whose decimals cannot be mistaken for a group of thousands
# (``12500.50`` on a German page, ``12500,5`` on an English one).
_PLAIN = re.compile(r"[0-9]+(?:[.,][0-9]{1,2})?")


def parse_number(text: str, language: str) -> Decimal:
    """A decimal typed by a person reading the page in ``language``: ``12.500,50`` (de),
    ``14 900,00`` with any kind of space (fr, pl), ``12,500.50`` (en), and plain ``12500.50``
    or ``12500,50`` everywhere. Raises ValueError on anything else (``12.500,50`` on an English
    page, ``1,2,3``, exponents) rather than guess."""
    value = text.strip()
    if not value or any(c in value for c in "eE"):
        raise ValueError(text)
    if _PLAIN.fullmatch(value):
        return Decimal(value.replace(",", "."))
    locale = pick_language(language)
    group = get_group_symbol(locale)
    if _SPACES.fullmatch(group):
        value = _SPACES.sub(group, value)
    try:
        number = parse_decimal(value, locale=locale, strict=True)
    except NumberFormatError:
        raise ValueError(text) from None
    if not number.is_finite():  # "NaN", "Infinity"
        raise ValueError(text)
    return number


def format_number(value: Any, language: str, digits: int = 2) -> str:
    """A number for people: the locale's separators, at most ``digits`` decimals (``68,5``,
    ``3,67``, ``12 500,5``); anything that is not a number is shown as it is."""
    if isinstance(value, bool) or value is None or value == "":
        return "" if value in (None, "") else str(value)
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError:
            return value
    if not isinstance(value, int | float | Decimal):
        return str(value)
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=pick_language(language))


def format_phone(value: Any, region: str | None = None) -> str:
    """A phone number for people, in international format (``+49 341 14065515``); a number
    phonenumbers cannot read is shown as it was given."""
    if not value:
        return ""
    text = str(value).strip()
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_possible_number(number):
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
