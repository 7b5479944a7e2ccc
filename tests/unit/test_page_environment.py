"""The one Jinja environment of the web pages: link pages, dashboard and admin pages all
compile in it (a filter a template uses but the environment lacks fails at compile time)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailflow import config
from mailflow.i18n import LANGUAGES, format_instant
from mailflow.web.pages import environment

TEMPLATES = environment("en").list_templates(extensions=["html"])


def test_one_environment_per_language():
    assert environment("fr") is environment("fr")
    assert environment("fr") is not environment("de")


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_page_template_compiles_in_the_page_environment(template):
    environment("en").get_template(template)


@pytest.mark.parametrize("language", LANGUAGES)
def test_instants_localized_for_readers_and_in_the_admin_zone_for_admins(
    language, monkeypatch, tmp_path
):
    at = datetime(2026, 3, 1, 12, 30, 59, 999, tzinfo=UTC)
    env = environment(language)
    monkeypatch.setenv("MAILFLOW_DATA_DIR", str(tmp_path))
    for zone, shown in (
        ("Europe/Paris", "2026-03-01 13:30 CET"),
        ("America/New_York", "2026-03-01 07:30 EST"),
        ("Asia/Tokyo", "2026-03-01 21:30 JST"),
    ):
        monkeypatch.setenv("MAILFLOW_ADMIN_TIME_ZONE", zone)
        config.reset_settings()
        assert env.from_string("{{ at|utc_instant }}").render(at=at) == shown
        assert env.from_string("{{ at|admin_instant }}").render(at=at) == shown
    config.reset_settings()
    # Readers see the instant in their language and time zone (13:30 in Paris).
    shown = env.from_string("{{ at|instant(tz) }}").render(at=at, tz="Europe/Paris")
    assert shown == format_instant(at, language, "Europe/Paris")
    assert "30" in shown and "(Europe/Paris)" in shown
