"""An installer's working hours on the admin installer form (#20): valid hours are saved in
the import's normal form and routing counts them; empty means MAILFLOW_WORKING_HOURS; hours
that do not parse give the form back with an error in the admin's language (422, never a 500,
nothing saved); a viewer may read them but not change them; every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailflow.db import session_scope
from mailflow.domain.calendar import is_working_time
from mailflow.models import AuditEntry, Installer
from mailflow.routing.speed import working_hours_of
from support.web import choose_language, post, signed_in_client

EMAIL = "sonne@solar.example"
FORM = {
    "email": EMAIL,
    "name": "Sonne Solar",
    "language": "de",
    "country": "DE",
    "timezone": "Europe/Berlin",
    "postcodes": "10 12",
    "tier": "silver",
    "capacity": "5",
}
# A Saturday at 10:00 in Berlin (09:00 UTC in winter): working time only for "mon-sat".
SATURDAY_MORNING = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def installer_id(settings) -> int:
    with session_scope(settings) as s:
        row = Installer(**{**FORM, "capacity": 5}, working_hours="mon-fri 09:00-17:00")
        s.add(row)
        s.flush()
        return row.id


def stored(settings, installer_id: int) -> Installer:
    with session_scope(settings) as s:
        row = s.get(Installer, installer_id)
        s.expunge(row)
        return row


def edits(settings) -> list[list[str]]:
    with session_scope(settings) as s:
        return [
            e.data["fields"]
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "installer.edit")
                .order_by(AuditEntry.id)
            )
        ]


def test_valid_hours_are_saved_normalised_audited_and_used_by_routing(settings, installer_id):
    client = signed_in_client(settings)
    page = client.get(f"/admin/installers/{installer_id}").text
    assert 'name="working_hours" value="mon-fri 09:00-17:00"' in page
    assert "empty: mon-fri 08:00-18:00" in page  # the setting's default, shown as the hint
    saved = post(
        client,
        f"/admin/installers/{installer_id}",
        {**FORM, "working_hours": " Mon-Sat 7:30-17:00 "},
    )
    assert saved.status_code == 303
    installer = stored(settings, installer_id)
    assert installer.working_hours == "mon-sat 07:30-17:00"  # as the import writes them
    hours = working_hours_of(installer, settings)
    assert is_working_time(SATURDAY_MORNING, hours, "DE", "Europe/Berlin")
    assert edits(settings) == [["working_hours"]]
    assert 'value="mon-sat 07:30-17:00"' in client.get(f"/admin/installers/{installer_id}").text

    # Empty: the installer follows MAILFLOW_WORKING_HOURS (Monday to Friday) again.
    assert (
        post(client, f"/admin/installers/{installer_id}", {**FORM, "working_hours": ""}).status_code
        == 303
    )
    installer = stored(settings, installer_id)
    assert installer.working_hours is None
    hours = working_hours_of(installer, settings)
    assert not is_working_time(SATURDAY_MORNING, hours, "DE", "Europe/Berlin")
    # A form without the field (an older page) leaves the hours alone.
    post(client, f"/admin/installers/{installer_id}", {**FORM, "working_hours": "sat 10:00-12:00"})
    post(client, f"/admin/installers/{installer_id}", {**FORM, "capacity": "6"})
    assert stored(settings, installer_id).working_hours == "sat 10:00-12:00"
    assert edits(settings)[-1] == ["capacity"]


def test_new_installer_with_hours(settings):
    client = signed_in_client(settings)
    created = post(
        client, "/admin/installers/new", {**FORM, "working_hours": "mon,wed,fri 8:00-12:00"}
    )
    assert created.status_code == 303
    with session_scope(settings) as s:
        row = s.scalars(select(Installer).where(Installer.email == EMAIL)).one()
        assert row.working_hours == "mon,wed,fri 08:00-12:00"


@pytest.mark.parametrize(
    "bad", ["weekdays 8-18", "mon-fri 18:00-08:00", "mon-fri", "mon-fri 25:00-26:00", "x" * 300]
)
def test_hours_that_do_not_parse_are_refused_in_words(settings, installer_id, bad):
    client = signed_in_client(settings)
    refused = post(
        client, f"/admin/installers/{installer_id}", {**FORM, "working_hours": bad, "capacity": "9"}
    )
    assert refused.status_code == 422
    assert "not understood: write the days, then the hours" in refused.text
    assert 'name="working_hours" value="' in refused.text and 'aria-invalid="true"' in refused.text
    installer = stored(settings, installer_id)
    assert (installer.working_hours, installer.capacity) == (
        "mon-fri 09:00-17:00",
        5,
    )  # nothing saved
    assert edits(settings) == []
    created = post(
        client, "/admin/installers/new", {**FORM, "email": "x@solar.example", "working_hours": bad}
    )
    assert created.status_code == 422


def test_the_error_is_in_the_admins_language(settings, installer_id):
    client = signed_in_client(settings)
    choose_language(client, "fr")
    refused = post(
        client, f"/admin/installers/{installer_id}", {**FORM, "working_hours": "lundi 8h"}
    )
    assert refused.status_code == 422
    assert "pas compris" in refused.text
    choose_language(client, "de")
    refused = post(
        client, f"/admin/installers/{installer_id}", {**FORM, "working_hours": "Montag 8 Uhr"}
    )
    assert refused.status_code == 422
    assert "nicht verstanden" in refused.text


def test_a_viewer_reads_the_hours_but_cannot_change_them(settings, installer_id):
    viewer = signed_in_client(settings, role="viewer", email="viewer@example.com")
    page = viewer.get(f"/admin/installers/{installer_id}").text
    assert 'name="working_hours" value="mon-fri 09:00-17:00" readonly' in page
    refused = post(
        viewer,
        f"/admin/installers/{installer_id}",
        {**FORM, "working_hours": "mon-sun 00:00-23:59"},
    )
    assert refused.status_code == 403
    assert stored(settings, installer_id).working_hours == "mon-fri 09:00-17:00"
    assert edits(settings) == []
