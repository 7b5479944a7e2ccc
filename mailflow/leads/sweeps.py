"""Sweep jobs of the admin console's data: the retention purge and the lead search index
(imported by ``mailflow.actors`` so that every scheduler runs them)."""

from __future__ import annotations

from datetime import datetime

from mailflow.config import Settings
from mailflow.scheduler import sweep_job


@sweep_job("retention")
def retention(settings: Settings, at: datetime) -> int:
    """Raw inbound messages and sent mail bodies older than the retention periods."""
    from mailflow.leads.retention import purge

    return purge(settings, at)


@sweep_job("lead_search")
def lead_search(settings: Settings, at: datetime) -> int:
    """Search terms of new (or edited) leads."""
    from mailflow.leads.search import index_pending

    return index_pending(settings, limit=10_000)
