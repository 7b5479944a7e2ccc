"""The admin console in English, French or German, by the admin's choice (issue #19): chosen on
``/admin/preferences``, kept on the account (so it survives signing out and in), used by every
console page; the login page follows the browser's Accept-Language."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from mailflow.web.app import create_app
from support.factories import make_admin, make_inbound, make_outbox
from support.web import login, post, signed_in_client

# A known label per page, in each language (from the catalogs, as an admin reads them).
PAGES = {
    "/admin/": {"en": "Worker queues", "fr": "Files des workers", "de": "Worker-Warteschlangen"},
    "/admin/outbox": {
        "en": "Filter by state",
        "fr": "Filtrer par état",
        "de": "Nach Status filtern",
    },
    "/admin/inbound": {
        "en": "Inbound messages",
        "fr": "Messages entrants",
        "de": "Eingehende Nachrichten",
    },
    "/admin/audit": {
        "en": "what admins did, newest first",
        "fr": "ce que les admins ont fait, les plus récents d’abord",
        "de": "was Admins getan haben, Neueste zuerst",
    },
    "/admin/installers": {
        "en": "Search email, name, company, postcode",
        "fr": "Rechercher e-mail, nom, entreprise, code postal",
        "de": "E-Mail, Name, Firma, PLZ suchen",
    },
    "/admin/review": {"en": "Held leads", "fr": "Leads retenus", "de": "Zurückgehaltene Leads"},
    "/admin/rules": {
        "en": "Extraction rules",
        "fr": "Règles d'extraction",
        "de": "Extraktionsregeln",
    },
    "/admin/users": {
        "en": "Invite an admin user",
        "fr": "Inviter un utilisateur admin",
        "de": "Admin-Benutzer einladen",
    },
    "/admin/preferences": {
        "en": "Language of the console",
        "fr": "Langue de la console",
        "de": "Sprache der Konsole",
    },
}
# The header of every console page.
HEADER = {"en": "Sign out", "fr": "Se déconnecter", "de": "Abmelden"}


def choose(client: TestClient, language: str):
    return post(client, "/admin/preferences", {"language": language}, page="/admin/preferences")


@pytest.mark.parametrize("language", ["fr", "de"])
def test_the_console_speaks_the_chosen_language_and_keeps_it(settings, language):
    make_outbox(settings, "failed", last_error="550 no such user")
    make_inbound(settings, "quarantined", reason="no postcode")
    with signed_in_client(settings) as client:
        for path, label in PAGES.items():
            page = client.get(path)
            assert page.status_code == 200 and label["en"] in page.text, path
        assert 'href="/admin/preferences"' in client.get("/admin/").text  # linked from the header
        assert choose(client, language).status_code == 303
        for path, label in PAGES.items():
            page = client.get(path)
            assert page.status_code == 200, path
            text = html.unescape(page.text)
            assert f'<html lang="{language}">' in text
            assert label[language] in text and label["en"] not in text, path
            assert HEADER[language] in text, path
        # Signed out and in again (another browser): still in that language.
        client.post("/admin/logout", data={"csrf_token": "x"})
    with TestClient(create_app()) as again:
        assert login(again).status_code == 303
        assert PAGES["/admin/audit"][language] in again.get("/admin/audit").text
        assert choose(again, "en").status_code == 303
        assert PAGES["/admin/audit"]["en"] in again.get("/admin/audit").text


def test_flash_and_refusals_in_the_admins_language(settings):
    make_admin(settings, email="viewer@example.com", role="viewer")
    with signed_in_client(settings) as admin, TestClient(create_app()) as viewer:
        choose(admin, "de")
        assert (
            post(
                admin, "/admin/users/invite", {"email": "x@example.com", "role": "viewer"}
            ).status_code
            == 303
        )
        assert "Einladung an x@example.com gesendet." in admin.get("/admin/users").text
        assert login(viewer, "viewer@example.com").status_code == 303
        # A viewer chooses a language too (read-only accounts may set their own preferences).
        assert choose(viewer, "fr").status_code == 303
        refused = viewer.get("/admin/users")
        assert refused.status_code == 403
        assert "Seuls les admins peuvent gérer les utilisateurs admin." in refused.text
        assert "Non autorisé" in refused.text


def test_an_unoffered_language_is_refused(settings):
    with signed_in_client(settings) as client:
        assert choose(client, "pl").status_code == 303
        assert "This language is not offered." in client.get("/admin/preferences").text
        assert '<html lang="en">' in client.get("/admin/").text


def test_the_login_page_follows_accept_language(settings):
    with TestClient(create_app()) as client:
        german = client.get("/admin/login", headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})
        assert '<html lang="de">' in german.text and "Passwort" in german.text
        polish = client.get("/admin/login", headers={"Accept-Language": "pl"})
        assert '<html lang="en">' in polish.text  # the console is offered in en, fr, de
        french = client.get("/admin/login", headers={"Accept-Language": "fr"})
        assert "Mot de passe" in french.text
