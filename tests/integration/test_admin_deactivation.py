"""An admin's deactivation is not the 8-week inactivity pause (issue #14): the installer can
end the pause from the dashboard, but not an admin's decision; they are told whom to ask."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailflow import clock
from mailflow.config import reset_settings
from mailflow.db import session_scope
from mailflow.lifecycle.service import deactivate_silent_installers
from mailflow.links import tokens
from mailflow.models import Installer
from mailflow.web.app import create_app
from support.offers import csrf_of, load_installers
from support.people import GOLD_PARIS
from support.web import post, signed_in_client


def installer(settings) -> Installer:
    with session_scope(settings) as s:
        return s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))


def signed_in_installer(settings) -> TestClient:
    """Signed in through a sign-in link, as the deactivation email offers one."""
    with session_scope(settings) as s:
        who = s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))
        token = tokens.issue(
            s, settings, "signin", now=clock.now(), subject_id=who.id, installer_id=who.id
        )
    client = TestClient(create_app())
    path = f"/l/signin/{token}"
    page = client.get(path)
    done = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    return client


def reactivate(client: TestClient):
    page = client.get("/dashboard/settings")
    return client.post(
        "/dashboard/reactivate",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


@pytest.fixture
def admin(settings):
    load_installers(settings)
    with signed_in_client(settings) as client:
        yield client


def test_the_installer_cannot_undo_an_admins_deactivation(settings, admin, monkeypatch):
    monkeypatch.setenv("MAILFLOW_ADMIN_EMAIL", "support@mailflow.example")

    reset_settings()
    installer_id = installer(settings).id
    assert post(admin, f"/admin/installers/{installer_id}/deactivate").status_code == 303
    assert not installer(settings).active

    with signed_in_installer(settings) as client:
        home = client.get("/dashboard/?lang=en").text
        assert 'id="paused"' in home
        assert "/dashboard/reactivate" not in home  # no button that cannot work
        assert "support@mailflow.example" in home
        refused = reactivate(client)
        assert refused.status_code == 403
        assert "support@mailflow.example" in refused.text
    row = installer(settings)
    assert not row.active and row.deactivated_by_admin

    # Only an admin ends it.
    assert "paused (inactive)" not in admin.get(f"/admin/installers/{installer_id}").text
    assert post(admin, f"/admin/installers/{installer_id}/activate").status_code == 303
    row = installer(settings)
    assert row.active and not row.deactivated_by_admin


def test_the_inactivity_pause_stays_self_service(settings, admin):
    with session_scope(settings) as s:
        row = s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))
        row.last_action_at = clock.now() - timedelta(weeks=9)
        row.created_at = clock.now() - timedelta(weeks=10)
    assert deactivate_silent_installers(settings, clock.now()) >= 1
    row = installer(settings)
    assert not row.active and not row.deactivated_by_admin
    assert "paused (inactive)" in admin.get(f"/admin/installers/{row.id}").text

    with signed_in_installer(settings) as client:
        assert "/dashboard/reactivate" in client.get("/dashboard/").text
        done = reactivate(client)
        assert done.status_code == 303 and done.headers["location"].endswith("reactivated")
    assert installer(settings).active


def test_an_admin_can_turn_a_pause_into_a_deactivation(settings, admin):
    with session_scope(settings) as s:
        row = s.scalar(select(Installer).where(Installer.email == GOLD_PARIS))
        row.active, row.deactivated_at = False, clock.now()
    assert post(admin, f"/admin/installers/{installer(settings).id}/deactivate").status_code == 303
    row = installer(settings)
    assert not row.active and row.deactivated_by_admin
