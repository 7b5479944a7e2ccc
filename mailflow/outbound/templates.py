"""Email templates: ``templates/email/<name>/{subject.txt, body.txt, body.html}``, each
extending a shared base layout, translated with gettext. Text is rendered without HTML
autoescaping; HTML with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailflow.config import Brand
from mailflow.i18n import (
    LANGUAGES,
    format_day,
    format_instant,
    format_number,
    format_phone,
    pick_language,
    translations,
)
from mailflow.resources import templates_dir


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _environment(language: str, html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)
    env.filters["instant"] = lambda value, tz: format_instant(value, language, tz)
    env.filters["day"] = lambda value: format_day(value, language)
    # Numbers with the reader's separators (68,5 · 12.500,5), phones as people write them.
    env.filters["number"] = lambda value, digits=2: format_number(value, language, digits)
    env.filters["phone"] = format_phone
    env.globals["language"] = language
    return env


# The emails of every lead's way (the offer), compiled when a worker starts.
HOT_TEMPLATES = ("offer",)


def warm_up(names: tuple[str, ...] = HOT_TEMPLATES, languages: tuple[str, ...] = LANGUAGES) -> None:
    """Load these languages' catalogs and locale data and compile ``names`` (and the layouts
    they extend) in each, so that a worker's first leads do not pay for it (#21). Renders
    nothing and touches no database."""
    sample = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for language in languages:
        text_env = _environment(language, html=False)
        html_env = _environment(language, html=True)
        for name in names:
            text_env.get_template(f"email/{name}/subject.txt")
            text_env.get_template(f"email/{name}/body.txt")
            html_env.get_template(f"email/{name}/body.html")
        text_env.get_template("email/_base/base.txt")
        html_env.get_template("email/_base/base.html")
        html_env.get_template("email/_base/macros.html")
        # Babel's locale data is loaded on first use.
        format_instant(sample, language, "Europe/Paris")
        format_day(sample, language)
        format_number(1234.5, language)


def template_names() -> list[str]:
    root = templates_dir() / "email"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


def render_email(
    name: str,
    language: str,
    context: dict,
    *,
    brand: Brand = Brand(),
    audience: str = "installer",
) -> Rendered:
    language = pick_language(language)
    text_env = _environment(language, html=False)
    html_env = _environment(language, html=True)
    context = {"brand": brand, "audience": audience, **context}
    subject = text_env.get_template(f"email/{name}/subject.txt").render(context)
    text = text_env.get_template(f"email/{name}/body.txt").render(context)
    html = html_env.get_template(f"email/{name}/body.html").render(context)
    return Rendered(" ".join(subject.split()), text.strip() + "\n", html)
