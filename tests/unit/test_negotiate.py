"""Accept-Language negotiation: q-values, regions, unsupported and malformed headers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.i18n import DEFAULT_LANGUAGE, LANGUAGES, accepted_languages, negotiate


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr", "fr"),
        ("de-AT", "de"),
        ("de_AT", "de"),
        ("PL-pl", "pl"),
        # The first element is not the most wanted one: the weights decide.
        ("en;q=0.1, fr;q=0.9", "fr"),
        ("fr;q=0.2, de-AT;q=0.9, en;q=0.5", "de"),
        ("en-US,en;q=0.9,de;q=0.8", "en"),
        # Unsupported languages are skipped, not mapped to English at once.
        ("ja, zh-CN;q=0.9, pl;q=0.5", "pl"),
        ("es;q=1, fr;q=0.001", "fr"),
        # q=0 means "not this one".
        ("fr;q=0, de;q=0.3", "de"),
        ("ja", DEFAULT_LANGUAGE),
        ("*", DEFAULT_LANGUAGE),
        ("", DEFAULT_LANGUAGE),
        (None, DEFAULT_LANGUAGE),
        ("garbage;;;", DEFAULT_LANGUAGE),
        ("fr;q=2", DEFAULT_LANGUAGE),
        ("fr;q=abc, de", "de"),
        ("\x00\xff, ;q=, -", DEFAULT_LANGUAGE),
    ],
)
def test_negotiate_reads_the_header_by_its_weights(header, expected):
    assert negotiate(header) == expected


def test_ties_keep_the_order_of_the_header():
    assert accepted_languages("de;q=0.5, fr;q=0.5, pl") == ["pl", "de", "fr"]


def test_a_supported_hint_wins_over_the_header():
    assert negotiate("fr", "de") == "de"
    assert negotiate("fr", None, "", "pl-PL") == "pl"


def test_unsupported_hints_fall_through_to_the_header():
    assert negotiate("fr;q=0.5, de", "ja", None) == "de"


@settings(max_examples=500, deadline=None)
@given(st.text(), st.lists(st.one_of(st.none(), st.text()), max_size=3))
def test_any_header_and_hints_give_a_supported_language(header, hints):
    assert negotiate(header, *hints) in LANGUAGES


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["en", "fr", "de", "pl", "ja", "es", "de-AT", "fr-CA", "*"]),
            st.integers(min_value=0, max_value=1000),
        ),
        max_size=6,
    )
)
def test_the_heaviest_supported_language_wins(elements):
    header = ", ".join(f"{tag};q={weight / 1000:.3f}" for tag, weight in elements)
    supported = [
        (weight, -position, tag.split("-")[0])
        for position, (tag, weight) in enumerate(elements)
        if weight > 0 and tag.split("-")[0] in LANGUAGES
    ]
    expected = max(supported)[2] if supported else DEFAULT_LANGUAGE
    assert negotiate(header) == expected
