"""The one Jinja environment of the web pages (link pages, dashboard, survey, admin): one
loader, autoescaping, the gettext catalogs of the emails, and every filter registered once."""

from __future__ import annotations

from functools import cache

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailflow.config import get_settings
from mailflow.i18n import format_instant, format_number, format_phone, pick_language, translations
from mailflow.resources import templates_dir
from mailflow.web.csrf import FIELD as CSRF_FIELD
from mailflow.web.formats import format_admin_instant, format_age, format_duration, to_json


@cache
def environment(language: str) -> Environment:
    """The page environment for ``language``; the admin pages use the English one."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir() / "web")),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)
    # Pages for installers and customers: an instant in the reader's language and time zone.
    env.filters["instant"] = lambda value, tz: format_instant(value, language, tz)
    # Admin pages: instants in the console's time zone (MAILFLOW_ADMIN_TIME_ZONE), read when
    # the page is rendered; ``utc_instant`` is the name the admin templates have always used.
    env.filters["admin_instant"] = format_admin_instant
    env.filters["utc_instant"] = format_admin_instant
    env.filters["age"] = format_age
    env.filters["duration"] = format_duration
    env.filters["pretty_json"] = to_json
    # Numbers with the reader's separators (68,5 · 12.500,5), phones as people write them.
    env.filters["number"] = lambda value, digits=2: format_number(value, language, digits)
    env.filters["phone"] = format_phone
    env.globals["language"] = language
    env.globals["csrf_field_name"] = CSRF_FIELD
    return env


def render_page(
    template: str, language: str | None, status_code: int = 200, **context
) -> HTMLResponse:
    language = pick_language(language)
    context.setdefault("brand", get_settings().brand)
    html = environment(language).get_template(template).render(**context)
    # The security headers come from web/security.py (one policy per path prefix).
    return HTMLResponse(html, status_code=status_code)
