"""A worker warms up the languages its offer emails are written in: the installers' and the
default one, not every language mailflow speaks (#21: a few MB each for the process's life)."""

from __future__ import annotations

from mailflow.db import session_scope
from mailflow.jobs.worker import languages_in_use
from mailflow.models import Installer


def add_installer(settings, email: str, language: str) -> None:
    with session_scope(settings) as s:
        s.add(
            Installer(
                email=email,
                name=email,
                language=language,
                country="FR",
                timezone="Europe/Paris",
                postcodes="75",
                tier="gold",
            )
        )


def test_no_installers_yet_warms_the_default_language_only(settings):
    assert languages_in_use(settings) == ("en",)


def test_the_installers_languages_are_warmed_with_the_default_one(settings):
    add_installer(settings, "soleil@paris.example", "fr")
    add_installer(settings, "sonne@berlin.example", "de")
    add_installer(settings, "lumiere@lyon.example", "fr")
    assert languages_in_use(settings) == ("en", "fr", "de")
