"""`mailflow run` with MAILFLOW_IMAP_URL: leads from a real Dovecot mailbox, health recorded."""

from __future__ import annotations

import sqlite3

from support.paths import CORPUS
from support.servers.process import MailflowProcess
from support.waiting import wait_for


def test_run_polls_imap_and_reports_health(tmp_path, service_db, dovecot):
    service = MailflowProcess(
        tmp_path / "var", service_db, extra_env={"MAILFLOW_IMAP_URL": dovecot.url}
    ).start()
    try:
        dovecot.append((CORPUS / "leads" / "qcells_de_latin1.eml").read_bytes())
        item = wait_for(
            lambda: next(
                (i for i in service.api("/api/inbound")["items"] if i["outcome"] == "lead"), None
            ),
            timeout=30,
        )
        assert item["channel"] == "imap"
        lead = service.api(f"/api/leads/{item['lead_id']}")
        assert lead["customer"]["name"] == "Jonas Hartmann"
        assert "imap" in service.output() and dovecot.password not in service.output()

        if service_db is None:
            db = sqlite3.connect(service.data_dir / "mailflow.db")

            def health():
                row = db.execute("select data from service_status where name = 'imap'").fetchone()
                return row and '"connected": true' in row[0] and row[0]

            assert '"messages_stored": 1' in wait_for(health, timeout=20)
    finally:
        assert service.stop() == 0
