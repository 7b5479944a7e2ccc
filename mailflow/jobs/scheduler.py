"""The scheduler loop: ``mailflow.schedule.run_sweep`` every few seconds, in a thread."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from mailflow.clock import now as clock_now
from mailflow.config import Settings
from mailflow.db import log_failure
from mailflow.schedule import run_sweep

log = logging.getLogger(__name__)


class SchedulerThread(threading.Thread):
    """Runs the sweep every ``settings.sweep_interval`` seconds until stopped."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        super().__init__(name="mailflow-scheduler", daemon=True)
        self.settings = settings
        self.stop_event = stop
        self.last_run: datetime | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                run_sweep(self.settings)
                self.last_run = clock_now()
            except Exception:
                log_failure(log, "sweep failed")
            self.stop_event.wait(self.settings.sweep_interval)
