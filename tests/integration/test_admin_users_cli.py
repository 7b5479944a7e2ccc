"""``mailflow admin list|invite|role|reset-password|deactivate|activate`` (issue #19): what
each command changes, its message and exit code, and its audit entry (actor ``cli``)."""

from __future__ import annotations

import re

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow.cli import main
from mailflow.db import session_scope
from mailflow.models import AdminUser, AuditEntry
from mailflow.web.app import create_app
from support.factories import make_admin
from support.offers import emails_to
from support.web import csrf, login

LINK = re.compile(r"https?://\S+(/admin/(?:welcome|reset)/[A-Za-z0-9_\-.]+)")


def run(*args: str):
    return CliRunner().invoke(main, ["admin", *args])


def row(settings, email: str) -> AdminUser:
    with session_scope(settings) as s:
        user = s.scalar(select(AdminUser).where(AdminUser.email == email))
        s.expunge(user)
        return user


def cli_audit(settings) -> list[tuple[str, str | None]]:
    with session_scope(settings) as s:
        return [
            (e.action, e.data.get("email"))
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.actor == "cli").order_by(AuditEntry.id)
            )
        ]


def set_password(path: str, password: str) -> int:
    with TestClient(create_app()) as client:
        token = csrf(client, path)
        return client.post(
            path,
            data={"csrf_token": token, "password": password, "password_again": password},
            follow_redirects=False,
        ).status_code


def test_list(settings):
    assert run("list").output.strip() == "no admin users"
    make_admin(settings, email="b@example.com", role="viewer")
    make_admin(settings, email="a@example.com")
    result = run("list")
    assert result.exit_code == 0
    lines = [line.split("\t") for line in result.output.strip().splitlines()]
    assert [line[:4] for line in lines] == [
        ["a@example.com", "admin", "active", "en"],
        ["b@example.com", "viewer", "active", "en"],
    ]
    assert lines[0][4] == "never"


def test_invite_prints_and_emails_the_link(settings, broker):
    result = run("invite", "New@Example.com", "--role", "viewer", "--language", "de")
    assert result.exit_code == 0, result.output
    assert "invited new@example.com as viewer" in result.output
    path = LINK.search(result.output).group(1)
    (mail,) = emails_to(settings, "new@example.com", "admin_invitation")
    assert mail.language == "de" and path in mail.body_text
    assert "Verwaltungskonsole" in mail.subject
    assert "new@example.com\tviewer\tinvited\tde" in run("list").output
    assert set_password(path, "the chosen password") == 303
    assert (
        login(TestClient(create_app()), "new@example.com", "the chosen password").status_code == 303
    )
    # Inviting an existing account is refused.
    again = run("invite", "new@example.com")
    assert again.exit_code == 1 and "already exists" in again.output
    bad = run("invite", "not-an-email")
    assert bad.exit_code == 1 and "not an email address" in bad.output
    assert cli_audit(settings) == [("admin_user.invite", "new@example.com")]


def test_role(settings):
    make_admin(settings, email="a@example.com")
    make_admin(settings, email="b@example.com", role="viewer")
    result = run("role", "b@example.com", "admin")
    assert result.exit_code == 0 and "b@example.com is now admin" in result.output
    assert row(settings, "b@example.com").role == "admin"
    assert "already admin" in run("role", "b@example.com", "admin").output
    assert run("role", "b@example.com", "boss").exit_code == 2  # click refuses the choice
    missing = run("role", "nobody@example.com", "viewer")
    assert missing.exit_code == 1 and "There is no admin user nobody@example.com" in missing.output
    assert run("role", "a@example.com", "viewer").exit_code == 0
    last = run("role", "b@example.com", "viewer")
    assert last.exit_code == 1 and "last active admin" in last.output
    assert row(settings, "b@example.com").role == "admin"
    assert cli_audit(settings) == [
        ("admin_user.role", "b@example.com"),
        ("admin_user.role", "a@example.com"),
    ]


def test_reset_password(settings, broker):
    make_admin(settings, email="a@example.com")
    make_admin(settings, email="b@example.com", role="viewer")
    result = run("reset-password", "b@example.com")
    assert result.exit_code == 0 and "password of b@example.com reset" in result.output
    path = LINK.search(result.output).group(1)
    assert path.startswith("/admin/reset/")
    assert emails_to(settings, "b@example.com", "admin_password_reset")
    assert login(TestClient(create_app()), "b@example.com").status_code == 401
    assert set_password(path, "a brand new password") == 303
    assert (
        login(TestClient(create_app()), "b@example.com", "a brand new password").status_code == 303
    )
    assert run("reset-password", "nobody@example.com").exit_code == 1
    assert cli_audit(settings) == [("admin_user.reset_password", "b@example.com")]


def test_deactivate_and_activate(settings):
    make_admin(settings, email="a@example.com")
    make_admin(settings, email="b@example.com")
    with TestClient(create_app()) as client:
        assert login(client, "b@example.com").status_code == 303
        result = run("deactivate", "b@example.com")
        assert result.exit_code == 0 and "b@example.com deactivated" in result.output
        assert client.get("/admin/", follow_redirects=False).status_code == 303
    assert "already deactivated" in run("deactivate", "b@example.com").output
    last = run("deactivate", "a@example.com")
    assert last.exit_code == 1 and "last active admin" in last.output
    assert row(settings, "a@example.com").active
    result = run("activate", "b@example.com")
    assert result.exit_code == 0 and "b@example.com activated" in result.output
    assert login(TestClient(create_app()), "b@example.com").status_code == 303
    assert "already active" in run("activate", "b@example.com").output
    assert cli_audit(settings) == [
        ("admin_user.deactivate", "b@example.com"),
        ("admin_user.activate", "b@example.com"),
    ]


def test_create_is_audited(settings):
    result = run("create", "c@example.com", "--password", "a long password", "--role", "viewer")
    assert result.exit_code == 0 and "created viewer c@example.com" in result.output
    assert cli_audit(settings) == [("admin_user.create", "c@example.com")]
