"""Resolving the labels of lead emails (English, French, German, Polish) to field keys; the
vocabularies and keyword rules themselves are data in :mod:`mailflow.domain.intake.label_data`
and :mod:`mailflow.domain.intake.label_rules`.

A label is compared in its normalised form (lower-case, accents stripped, punctuation collapsed:
``"Intéressé par une solution de stockage ?"`` → ``"interesse par une solution de stockage"``).
Resolution tries, in order: the exact vocabulary, the label without units and parentheses, then
scores every keyword rule and every vocabulary phrase found in the label and takes the reading
that explains most of it (not the first rule that matches: "Surface de toit disponible" is the
roof area, not the availability its last word suggests). Each vocabulary entry carries the
language(s) it belongs to, so the labels of a lead also tell its language.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from mailflow.domain.intake.label_data import (
    ANY,
    IGNORED,
    MONTHLY_CONSUMPTION,
    SUBJECT,
    VOCABULARY,
)
from mailflow.domain.intake.label_rules import (
    COMBINED_KEYS,
    COST_WORDS,
    MATCH_QUALITY,
    MIN_PHRASE_WORD,
    OTHER_ORDER,
    PERIOD_20Y,
    PERIOD_MONTH,
    PERIOD_YEAR,
    RULES,
    SAVINGS_WORDS,
    STOPWORDS,
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


@dataclass(frozen=True)
class Candidate:
    """One reading of a label: the field ``key``, how much of the label it explains
    (``score``: the letters of its words found in the label, weighted by how they were found),
    and which of the label's words it explains."""

    key: str
    score: float
    words: frozenset[int]
    languages: frozenset[str] = frozenset()


def _match(words: tuple[str, ...], tokens: list[str]) -> tuple[float, frozenset[int]] | None:
    """Score of a rule's ``words`` against a label's ``tokens``: None unless every word occurs.

    A word counts by its letters, times how it was found: a whole token (1.0), the start of a
    token (0.9: "telefon" in "telefonnummer"), inside a token (0.8: German compounds,
    "verbrauch" in "jahresstromverbrauch"). Words of up to four letters, and words written
    ``"=word"``, count as whole tokens only.
    """
    score = 0.0
    used: set[int] = set()
    for written in words:
        word = written.lstrip("=")
        whole = written.startswith("=") or len(word) <= 4
        best: tuple[float, int] | None = None
        for index, token in enumerate(tokens):
            if token == word:
                quality = MATCH_QUALITY["token"]
            elif whole:
                continue
            elif token.startswith(word):
                quality = MATCH_QUALITY["prefix"]
            elif word in token:
                quality = MATCH_QUALITY["inside"]
            else:
                continue
            if best is None or quality > best[0]:
                best = (quality, index)
        if best is None:
            return None
        score += len(word) * best[0]
        used.add(best[1])
    return score, frozenset(used)


def _build_phrases() -> tuple[tuple[tuple[str, ...], str, frozenset[str]], ...]:
    """The vocabulary as rules: a label that contains a known label's words ("Surface de toit
    disponible" holds "surface de toit") may mean what that one means. Stop words are left out;
    single short words ("Name", "Ort", "Tel") are too common inside other labels to count."""
    phrases = []
    for label, (key, languages) in LOOKUP.items():
        if key in (IGNORED, SUBJECT):
            continue
        words = tuple(word for word in label.split() if word not in STOPWORDS)
        if not words or (len(words) == 1 and len(words[0]) < MIN_PHRASE_WORD):
            continue
        phrases.append((words, key, languages))
    return tuple(phrases)


PHRASES = _build_phrases()
# every rule and phrase as (words, key, languages), and which of them each word occurs in: a
# label is scored against the few whose words it holds, not against all of them
_READINGS: tuple[tuple[tuple[str, ...], str, frozenset[str]], ...] = (
    *((words, key, frozenset()) for words, key in RULES),
    *PHRASES,
)
_IS_PHRASE = tuple(index >= len(RULES) for index in range(len(_READINGS)))


def _index_words() -> dict[str, tuple[int, ...]]:
    by_word: dict[str, list[int]] = {}
    for index, (words, _key, _languages) in enumerate(_READINGS):
        for word in set(words):
            by_word.setdefault(word, []).append(index)
    return {word: tuple(indexes) for word, indexes in by_word.items()}


_BY_WORD = _index_words()
# words found as whole tokens only, and words also found inside longer ones
_SHORT_WORDS = frozenset(word for word in _BY_WORD if len(word) <= 4 or word.startswith("="))
_LONG_WORDS = tuple(word for word in _BY_WORD if word not in _SHORT_WORDS)


def candidates(text: str) -> list[Candidate]:
    """Every reading of a normalised label by the keyword rules and the vocabulary's phrases."""
    tokens = text.split()
    token_set = set(tokens)
    content = [i for i, token in enumerate(tokens) if token not in STOPWORDS]
    present = {word for word in _SHORT_WORDS if word.lstrip("=") in token_set} | {
        word for word in _LONG_WORDS if word in text
    }
    indexes = sorted({index for word in present for index in _BY_WORD[word]})
    found: list[Candidate] = []
    for index in indexes:
        words, key, languages = _READINGS[index]
        if not present.issuperset(words):
            continue
        matched = _match(words, tokens)
        if not matched:
            continue
        if not _IS_PHRASE[index]:
            found.append(Candidate(key, *matched))
            continue
        # a phrase explains at least a third of the label's words: "Wie viele Personen leben
        # im Haushalt" holds "Personen im Haushalt", a long question holding "Projet" does not
        if len(matched[1]) * 3 < len(content):
            continue
        score, used = matched
        positions = [tokens.index(word) if word in tokens else -1 for word in words]
        if positions != sorted(positions):
            # the words in another order ("adresse e-mail" read by the German "E-Mail-Adresse"):
            # the field may be right, the language is not that phrase's
            score, languages = score * OTHER_ORDER, frozenset()
        found.append(Candidate(key, score, used, languages))
    return found


def best_reading(found: list[Candidate]) -> Candidate | None:
    """The candidate that explains most of the label; two that explain different words of it
    and together name one field ("Ulica" + "numer domu": the street with its number) beat both.
    On a tie the earlier rule wins."""
    if not found:
        return None
    best = max(found, key=lambda c: (c.score, len(c.words)))  # max keeps the first of equals
    for first in found:
        for second in found:
            combined = COMBINED_KEYS.get(frozenset((first.key, second.key)))
            if combined is None or first.words & second.words:
                continue
            score = first.score + second.score
            if score > best.score:
                best = Candidate(combined, score, first.words | second.words)
    return best


@functools.lru_cache(maxsize=4096)
def resolve(label: str, heading: str = "") -> Resolved | None:
    """The field a label means (``"PLZ"`` → postcode), or None for an unknown label.

    ``heading`` is the section or column heading above the label, used for cost and savings
    tables. The exact vocabulary first, then the label without units and parentheses, then the
    best-scored reading of every keyword rule and vocabulary phrase (:func:`best_reading`).
    """
    resolved = _resolve(label, heading)
    if resolved is not None and _is_field_name(label):
        # "full_name", "PHONE_NUMBER": a platform's field names (ad lead forms, exports) are in
        # English whatever the customer's language; they do not vote for a language
        return Resolved(resolved.key, frozenset())
    return resolved


def _is_field_name(label: str) -> bool:
    stripped = label.strip().rstrip("?:")
    return "_" in stripped and not any(ch.isspace() for ch in stripped)


def _resolve(label: str, heading: str) -> Resolved | None:
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
    reading = best_reading(candidates(text))
    if reading is None:
        return None
    if reading.key == "annual_consumption_kwh" and _period(text) == "monthly":
        return Resolved(MONTHLY_CONSUMPTION, reading.languages)  # "Monthly usage": × 12
    return Resolved(reading.key, reading.languages)


def vote_language(votes: Mapping[str, float]) -> str | None:
    """The language most labels were written in, if one leads."""
    ranked = Counter(votes).most_common(2)
    if not ranked or ranked[0][1] <= 0:
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]
