"""The IMAP poller's health, written to the database every few seconds so the admin pages can
show it whichever process runs the poller (``mailflow run`` or ``mailflow imap``)."""

from __future__ import annotations

import logging
import threading

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.status_rows import status_row

log = logging.getLogger(__name__)
NAME = "imap"


def write_health(settings: Settings, data: dict) -> None:
    with session_scope(settings) as session:
        row = status_row(session, NAME, data=data, updated_at=now())
        row.data, row.updated_at = data, now()


def report_health_forever(
    poller, settings: Settings, stop: threading.Event, interval: float = 5.0
) -> threading.Thread:
    def loop() -> None:
        while True:
            try:
                write_health(settings, poller.health.as_dict())
            except Exception:  # the database may be down; the poller itself goes on
                log.warning("could not record IMAP health", exc_info=True)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name="imap-health", daemon=True)
    thread.start()
    return thread
