"""The service reads compiled catalogs (.mo, shipped in the wheel); translators edit .po files.
They must say the same, or a translation fixed in a .po never reaches anyone."""

from __future__ import annotations

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from mailflow.i18n import DEFAULT_LANGUAGE, LANGUAGES, gettext
from mailflow.resources import translations_dir

TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]


def _messages(catalog) -> dict:
    # plural messages: ids and strings are tuples in a .po, lists in a .mo
    return {
        _hashable(message.id): _hashable(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


def _hashable(value):
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("language", TRANSLATED)
def test_compiled_catalog_matches_its_source(language):
    folder = translations_dir() / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as fh:
        source = _messages(read_po(fh, locale=language))
    with (folder / "messages.mo").open("rb") as fh:
        compiled = _messages(read_mo(fh))
    assert compiled == source, "run scripts/update-translations to compile the catalogs"


@pytest.mark.parametrize(("language", "word"), [("fr", "Accepter"), ("de", "Annehmen")])
def test_a_supported_language_is_really_translated(language, word):
    assert gettext(language, "Accept") == word
