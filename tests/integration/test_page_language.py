"""Pages whose reader is not known yet speak the best language of Accept-Language by its
q-values (the first element of the header is not necessarily the most wanted one)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mailflow.web.app import create_app

WEIGHTED = "en;q=0.1, ja, de-AT;q=0.8, fr;q=0.5"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/l/accept/not-a-token", '<html lang="de">'),
        ("/dashboard/signin", '<html lang="de">'),
        ("/", "Installateur-Dashboard"),
    ],
)
def test_pages_follow_the_weights_of_accept_language(settings, path, expected):
    with TestClient(create_app()) as client:
        page = client.get(path, headers={"Accept-Language": WEIGHTED})
    assert expected in page.text


def test_an_explicit_lang_parameter_wins_over_the_header(settings):
    with TestClient(create_app()) as client:
        page = client.get("/dashboard/signin?lang=pl", headers={"Accept-Language": WEIGHTED})
    assert '<html lang="pl">' in page.text
