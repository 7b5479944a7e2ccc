"""Resolving the labels of lead emails (English, French, German, Polish) to field keys; the
vocabularies and keyword rules themselves are data in :mod:`mailflow.domain.intake.label_data`
and :mod:`mailflow.domain.intake.label_rules`.

A label is compared in its normalised form (lower-case, accents stripped, punctuation collapsed:
``"Intéressé par une solution de stockage ?"`` → ``"interesse par une solution de stockage"``).
Resolution tries, in order: the exact vocabulary, the label without units and parentheses, then
keyword rules for the many ways forms phrase the same question. Each vocabulary entry carries
the language(s) it belongs to, so the labels of a lead also tell its language.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from mailflow.domain.intake.label_data import ANY, VOCABULARY
from mailflow.domain.intake.label_rules import (
    COST_WORDS,
    PERIOD_20Y,
    PERIOD_MONTH,
    PERIOD_YEAR,
    RULES,
    SAVINGS_WORDS,
    UNITS,
    WITH_PV,
    WITHOUT_PV,
)
from mailflow.domain.intake.values import normalise_words


def _build_lookup() -> dict[str, tuple[str, frozenset[str]]]:
    lookup: dict[str, tuple[str, set[str]]] = {}
    for key, by_language in VOCABULARY.items():
        # the schema's own field names ("postcode", "annual_consumption_kwh") are labels too:
        # they are what flat JSON attachments use
        own = normalise_words(key.replace("_", " "))
        lookup.setdefault(own, (key, set()))
        for language, labels in by_language.items():
            for label in labels:
                normalised = normalise_words(label)
                known_key, languages = lookup.setdefault(normalised, (key, set()))
                if known_key != key:
                    raise ValueError(f"label {label!r} means both {known_key} and {key}")
                if language != ANY:
                    languages.add(language)
    return {label: (key, frozenset(languages)) for label, (key, languages) in lookup.items()}


LOOKUP = _build_lookup()


def _word_in(word: str, tokens: list[str]) -> bool:
    if len(word) <= 4:
        return word in tokens
    return any(word in token for token in tokens)


def _period(text: str) -> str | None:
    if PERIOD_20Y.search(text):
        return "20y"
    if PERIOD_MONTH.search(text):
        return "monthly"
    if PERIOD_YEAR.search(text):
        return "yearly"
    return None


def _money_key(label: str, heading: str) -> str | None:
    """cost_monthly_with_pv … savings_20y for a cost/savings label under ``heading``."""
    tokens = label.split()
    both = f"{label} {heading}"
    savings = any(_word_in(word, tokens) for word in SAVINGS_WORDS)
    cost = not savings and any(_word_in(word, both.split()) for word in COST_WORDS)
    with_pv = bool(WITH_PV.search(label))
    without_pv = bool(WITHOUT_PV.search(label))
    if not savings and not cost and not (with_pv or without_pv):
        return None
    period = _period(label) or _period(heading)
    if savings:
        return {"monthly": "savings_monthly", "yearly": "savings_yearly", "20y": "savings_20y"}.get(
            period or ""
        )
    if (cost or with_pv or without_pv) and period == "monthly" and (cost or _period(heading)):
        if without_pv:
            return "cost_monthly_without_pv"
        if with_pv:
            return "cost_monthly_with_pv"
    return None


def is_money_label(label: str) -> bool:
    """Whether a label belongs to a cost/savings table (its meaning depends on the heading)."""
    tokens = label.split()
    return any(_word_in(word, tokens) for word in SAVINGS_WORDS + COST_WORDS) or bool(
        WITH_PV.search(label) or WITHOUT_PV.search(label)
    )


@dataclass(frozen=True)
class Resolved:
    key: str
    languages: frozenset[str]


@functools.lru_cache(maxsize=4096)
def resolve(label: str, heading: str = "") -> Resolved | None:
    """The field a label means (``"PLZ"`` → postcode), or None for an unknown label.

    ``heading`` is the section or column heading above the label, used for cost and savings
    tables.
    """
    text = normalise_words(label)
    if not text or len(text) > 80:
        return None
    hit = LOOKUP.get(text)
    if hit:
        return Resolved(*hit)
    bare = UNITS.sub(" ", normalise_words(re.sub(r"\(.*?\)", " ", label)))
    bare = " ".join(bare.split())
    if bare and bare in LOOKUP:
        return Resolved(*LOOKUP[bare])
    if "co2" not in text.split():
        money = _money_key(text, normalise_words(heading))
        if money:
            return Resolved(money, frozenset())
        if is_money_label(text):
            return None  # a cost figure this schema has no key for: keep it under extra
    tokens = text.split()
    for words, key in RULES:
        if all(_word_in(word, tokens) for word in words):
            return Resolved(key, frozenset())
    return None


def vote_language(votes: Mapping[str, float]) -> str | None:
    """The language most labels were written in, if one leads."""
    ranked = Counter(votes).most_common(2)
    if not ranked or ranked[0][1] <= 0:
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]
