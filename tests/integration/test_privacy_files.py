"""Files with personal data are the service user's own: the data directory and every directory
under it 0700, the SQLite database, raw messages, documents and import uploads 0600, whatever
the umask of the process that creates them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mailflow import db as mf_db
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.infra import blobs
from mailflow.migrate import upgrade
from mailflow.models import LeadDocument
from support.offers import new_lead
from support.web import post, signed_in_client


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The usual 022 umask, under which plain open() makes files others can read."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_fresh_data_directory_and_sqlite_database_are_private(tmp_path, open_umask):
    data = tmp_path / "srv" / "var"
    settings = Settings(
        data_dir=data, secret_keys="k", webhook_secret="w", api_token="t", database_url=None
    )
    try:
        upgrade(settings)
        with session_scope(settings):
            pass
    finally:
        mf_db.dispose_engines()
    assert mode(data) == 0o700
    assert mode(data / "mailflow.db") == 0o600
    for journal in data.glob("mailflow.db-*"):  # WAL and shared memory, when present
        assert mode(journal) & 0o077 == 0, journal
    path = data / blobs.write(settings, b"Subject: lead\r\n\r\nClaire Dubois\r\n")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700


def test_an_existing_open_data_directory_is_closed(tmp_path, open_umask):
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "mailflow.db").touch()
    os.chmod(data / "mailflow.db", 0o644)
    settings = Settings(data_dir=data, secret_keys="k", webhook_secret="w", api_token="t")
    try:
        upgrade(settings)
    finally:
        mf_db.dispose_engines()
    assert mode(data) == 0o700 and mode(data / "mailflow.db") == 0o600


def test_documents_and_import_uploads_are_private(settings, open_umask):
    lead_id = new_lead(settings)
    with signed_in_client(settings) as client:
        done = post(
            client,
            f"/admin/leads/{lead_id}/documents",
            files={"file": ("facture.pdf", b"%PDF bill of Claire", "application/pdf")},
        )
        assert done.status_code == 303
        post(
            client,
            "/admin/leads/import",
            files={"file": ("leads.csv", b"name,email,postcode\nClaire,c@example.fr,75010\n")},
        )
    with session_scope(settings) as s:
        document = s.query(LeadDocument).one()
    folder = settings.data_path / "documents" / str(lead_id)
    assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    assert mode(folder / document.stored_name) == 0o600
    uploads = list((settings.data_path / "imports").iterdir())
    assert uploads and all(mode(u) == 0o600 for u in uploads)
    assert mode(settings.data_path / "imports") == 0o700
