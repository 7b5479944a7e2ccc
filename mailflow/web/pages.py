"""Pages for installers and customers (link pages, later the dashboard and the survey):
Jinja2 with autoescaping, translated with the same gettext catalogs as the emails."""

from __future__ import annotations

from functools import cache

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailflow.i18n import format_instant, pick_language, translations
from mailflow.resources import templates_dir


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir() / "web")),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)
    env.filters["instant"] = lambda value, tz: format_instant(value, language, tz)
    env.globals["language"] = language
    return env


def render_page(
    template: str, language: str | None, status_code: int = 200, **context
) -> HTMLResponse:
    language = pick_language(language)
    html = environment(language).get_template(template).render(**context)
    # The security headers come from web/security.py (one policy per path prefix).
    return HTMLResponse(html, status_code=status_code)
