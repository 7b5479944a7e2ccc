"""A worker compiles the offer email's templates and loads every language's catalog at start
(#21): its first leads then find them compiled, in every language."""

from __future__ import annotations

from mailflow.i18n import LANGUAGES
from mailflow.outbound import templates


def _compiled(language: str, html: bool) -> set[str]:
    env = templates._environment(language, html=html)
    return {name for _loader, name in env.cache._mapping}


def test_warm_up_compiles_the_offer_email_in_every_language():
    templates._environment.cache_clear()
    templates.warm_up()
    for language in LANGUAGES:
        assert {
            "email/offer/subject.txt",
            "email/offer/body.txt",
            "email/_base/base.txt",
        } <= _compiled(language, False)
        assert {
            "email/offer/body.html",
            "email/_base/base.html",
            "email/_base/macros.html",
        } <= _compiled(language, True)
    # One environment per language and kind, the ones render_email asks for.
    assert templates._environment.cache_info().currsize == 2 * len(LANGUAGES)
