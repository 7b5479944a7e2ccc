"""Admin users managed from the console (issue #19): invite by email, choose a password through
the one-time link, change a role, reset a password, deactivate and reactivate; refusals (the
last admin, oneself, viewers); every change in the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.cli import main
from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.models import AdminUser, AuditEntry
from mailflow.web.app import create_app
from support.factories import make_admin
from support.offers import emails_to
from support.web import CSRF_RE, csrf, login, post, signed_in_client

NEW = "new.admin@example.com"
NEW_PASSWORD = "a long new password"
LINK = re.compile(r"https?://[^\s\"<>]+/admin/(welcome|reset)/([A-Za-z0-9_\-.]+)")


def link_path(settings, address: str, template: str) -> str:
    mails = emails_to(settings, address, template)
    assert mails, f"no {template} email to {address}"
    kind, token = LINK.search(mails[-1].body_text).groups()
    assert LINK.search(mails[-1].body_html).group(2) == token
    return f"/admin/{kind}/{token}"


def choose(client: TestClient, path: str, password: str = NEW_PASSWORD, again: str | None = None):
    page = client.get(path)
    # A link that cannot act shows no form: the session's token from the login page.
    token = CSRF_RE.search(page.text).group(1) if page.status_code == 200 else csrf(client)
    return client.post(
        path,
        data={"csrf_token": token, "password": password, "password_again": again or password},
        follow_redirects=False,
    )


def audit(settings, action: str) -> list[AuditEntry]:
    with session_scope(settings) as s:
        return list(
            s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        )


def user(settings, email: str) -> AdminUser:
    with session_scope(settings) as s:
        row = s.scalar(select(AdminUser).where(AdminUser.email == email))
        s.expunge(row)
        return row


def user_id(settings, email: str) -> int:
    return user(settings, email).id


def test_invite_set_password_and_sign_in(settings):
    with signed_in_client(settings) as admin:
        answer = post(admin, "/admin/users/invite", {"email": NEW, "role": "viewer"})
        assert answer.status_code == 303
        page = admin.get("/admin/users").text
        assert f"Invitation sent to {NEW}" in page
        assert NEW in page and "invited, no password yet" in page
    path = link_path(settings, NEW, "admin_invitation")
    (mail,) = emails_to(settings, NEW, "admin_invitation")
    assert "viewer" in mail.body_text and "72 hours" in mail.body_text
    # The invitee cannot sign in before choosing a password (nor with an empty one).
    with TestClient(create_app()) as client:
        assert login(client, NEW, "").status_code == 401
        form = client.get(path)
        assert form.status_code == 200 and NEW in form.text
        assert path.split("/")[-1] not in form.text  # the page never shows the token
        short = choose(client, path, "short")
        assert short.status_code == 400 and "at least 10 characters" in short.text
        differ = choose(client, path, NEW_PASSWORD, "another long password")
        assert differ.status_code == 400 and "not the same" in differ.text
        done = choose(client, path)
        assert done.status_code == 303 and done.headers["location"].startswith("/admin/login")
        assert "Your password is saved" in client.get(done.headers["location"]).text
        assert login(client, NEW, NEW_PASSWORD).status_code == 303
        home = client.get("/admin/")
        assert home.status_code == 200 and "read-only" in home.text
        # Used once: the same link is refused with a page that says so.
        again = client.get(path)
        assert again.status_code == 409 and "already been used" in again.text
        assert choose(client, path, "yet another password").status_code == 409
    assert login(TestClient(create_app()), NEW, "yet another password").status_code == 401
    (invited,) = audit(settings, "admin_user.invite")
    assert invited.actor == "admin@example.com" and invited.data["role"] == "viewer"
    (chosen,) = audit(settings, "admin_user.password_set")
    assert chosen.actor == NEW and chosen.object_id == str(user_id(settings, NEW))


def test_an_expired_link_is_refused_with_a_clear_page(settings):
    with signed_in_client(settings) as admin:
        post(admin, "/admin/users/invite", {"email": NEW, "role": "admin"})
    path = link_path(settings, NEW, "admin_invitation")
    with time_machine.travel(now() + timedelta(hours=72, minutes=1), tick=False):
        with TestClient(create_app()) as client:
            page = client.get(path)
            assert page.status_code == 410 and "This link has expired" in page.text
            assert "Ask an admin" in page.text
            assert choose(client, path).status_code == 410
    with TestClient(create_app()) as client:
        assert client.get("/admin/welcome/not-a-token").status_code == 400
    assert user(settings, NEW).password_hash.startswith("!")


def test_a_new_invitation_makes_the_older_link_worthless(settings):
    with signed_in_client(settings) as admin:
        post(admin, "/admin/users/invite", {"email": NEW, "role": "admin"})
        first = link_path(settings, NEW, "admin_invitation")
        post(admin, f"/admin/users/{user_id(settings, NEW)}/reset")
        second = link_path(settings, NEW, "admin_invitation")
    assert first != second
    with TestClient(create_app()) as client:
        assert client.get(first).status_code == 409
        assert choose(client, second).status_code == 303


def test_role_change_takes_effect_and_is_audited(settings):
    make_admin(settings, email="viewer@example.com", role="viewer")
    with TestClient(create_app()) as viewer, signed_in_client(settings) as admin:
        assert login(viewer, "viewer@example.com").status_code == 303
        # A viewer is refused on the users page and on its forms.
        refused = viewer.get("/admin/users")
        assert refused.status_code == 403 and "Only admins" in refused.text
        assert 'href="/admin/users"' not in viewer.get("/admin/").text
        assert post(viewer, "/admin/users/invite", {"email": NEW}).status_code == 403
        assert emails_to(settings, NEW) == []

        target = user_id(settings, "viewer@example.com")
        assert post(admin, f"/admin/users/{target}/role", {"role": "admin"}).status_code == 303
        # The same session is an admin now.
        assert viewer.get("/admin/users").status_code == 200
        assert post(viewer, f"/admin/users/{target}/role", {"role": "viewer"}).status_code == 303
        assert "cannot demote yourself" in viewer.get("/admin/users").text
        assert user(settings, "viewer@example.com").role == "admin"
        assert post(admin, f"/admin/users/{target}/role", {"role": "boss"}).status_code == 303
        assert "must be admin or viewer" in admin.get("/admin/users").text
    (entry,) = audit(settings, "admin_user.role")
    assert entry.actor == "admin@example.com"
    assert (entry.data["old"], entry.data["new"]) == ("viewer", "admin")


def test_deactivation_signs_out_and_the_last_admin_stays(settings):
    make_admin(settings, email="other@example.com", role="admin")
    with TestClient(create_app()) as other, signed_in_client(settings) as admin:
        assert login(other, "other@example.com").status_code == 303
        assert other.get("/admin/", follow_redirects=False).status_code == 200
        target = user_id(settings, "other@example.com")
        assert post(admin, f"/admin/users/{target}/deactivate").status_code == 303
        # Their open session ends at once; they can no longer sign in.
        assert other.get("/admin/", follow_redirects=False).status_code == 303
        assert login(other, "other@example.com").status_code == 401
        # Now only one active admin: they cannot deactivate or demote themselves.
        me = user_id(settings, "admin@example.com")
        assert post(admin, f"/admin/users/{me}/deactivate").status_code == 303
        assert "cannot deactivate yourself" in admin.get("/admin/users").text
        assert user(settings, "admin@example.com").active
        assert post(admin, f"/admin/users/{target}/activate").status_code == 303
        assert login(other, "other@example.com").status_code == 303
    (off,) = audit(settings, "admin_user.deactivate")
    (on,) = audit(settings, "admin_user.activate")
    assert off.object_id == on.object_id == str(target)


def test_the_last_active_admin_cannot_be_deactivated_by_anyone(settings):
    make_admin(settings, email="other@example.com", role="admin")
    with signed_in_client(settings) as admin:
        other = user_id(settings, "other@example.com")
        assert post(admin, f"/admin/users/{other}/role", {"role": "viewer"}).status_code == 303
    # From the CLI (no "yourself"): the remaining admin is the last one.
    result = CliRunner().invoke(main, ["admin", "deactivate", "admin@example.com"])
    assert result.exit_code == 1 and "last active admin" in result.output
    assert user(settings, "admin@example.com").active


def test_reset_password_signs_out_and_sends_a_link(settings):
    make_admin(settings, email="other@example.com", role="viewer")
    with TestClient(create_app()) as other, signed_in_client(settings) as admin:
        assert login(other, "other@example.com").status_code == 303
        target = user_id(settings, "other@example.com")
        assert post(admin, f"/admin/users/{target}/reset").status_code == 303
        assert other.get("/admin/", follow_redirects=False).status_code == 303
        assert login(other, "other@example.com").status_code == 401  # the old password
        path = link_path(settings, "other@example.com", "admin_password_reset")
        assert path.startswith("/admin/reset/")
        assert choose(other, path).status_code == 303
        assert login(other, "other@example.com", NEW_PASSWORD).status_code == 303
        # The outbox page shows the email, never its live link.
        outbox = admin.get("/admin/outbox").text + admin.get("/admin/outbox?q=reset").text
        assert path.split("/")[-1] not in outbox
    (entry,) = audit(settings, "admin_user.reset_password")
    assert entry.actor == "admin@example.com" and entry.object_id == str(target)


def test_odd_input_is_a_4xx(settings):
    with signed_in_client(settings) as admin:
        assert post(admin, "/admin/users/999999/deactivate").status_code == 303
        assert "no such admin user" in admin.get("/admin/users").text
        assert post(admin, "/admin/users/1/explode").status_code == 404
        assert post(admin, "/admin/users/99999999999/role").status_code in (404, 422)
        assert (
            post(
                admin, "/admin/users/invite", {"email": "not an email", "role": "admin"}
            ).status_code
            == 303
        )
        assert "is not an email address" in admin.get("/admin/users").text
        assert (
            post(
                admin, "/admin/users/invite", {"email": "admin@example.com", "role": "admin"}
            ).status_code
            == 303
        )
        assert "already exists" in admin.get("/admin/users").text


def test_signed_out_nothing_is_reachable_but_the_link_pages(settings):
    admin_id = make_admin(settings)
    with TestClient(create_app()) as client:
        for path in ("/admin/users", "/admin/preferences"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"].startswith(
                "/admin/login"
            )
        token = csrf(client)  # an anonymous session's token does not make an admin
        for path in (
            "/admin/users/invite",
            f"/admin/users/{admin_id}/role",
            f"/admin/users/{admin_id}/reset",
            f"/admin/users/{admin_id}/deactivate",
            f"/admin/users/{admin_id}/activate",
            "/admin/preferences",
        ):
            answer = client.post(
                path,
                data={"csrf_token": token, "email": NEW, "role": "viewer", "language": "de"},
                follow_redirects=False,
            )
            assert answer.status_code == 403, path
    assert emails_to(settings, NEW) == []
    assert audit(settings, "admin_user.invite") == audit(settings, "admin_user.language") == []
    assert user(settings, "admin@example.com").active
