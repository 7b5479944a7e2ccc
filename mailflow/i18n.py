"""Translations (gettext catalogs: ``.po`` files edited by translators, compiled to the ``.mo``
files read here by ``scripts/update-translations``) and locale-aware formatting of dates and
numbers."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
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
