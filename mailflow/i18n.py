"""Translations (gettext catalogs kept as .po files, compiled in memory with Babel) and
locale-aware formatting of dates and numbers."""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).with_name("translations")
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
    po = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT_LANGUAGE or not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


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
