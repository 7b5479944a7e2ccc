"""Sweep jobs of the lifecycle (timers and the query-based rules)."""

from __future__ import annotations

from datetime import datetime

from mailflow.config import Settings
from mailflow.scheduler import sweep_job


@sweep_job("timers")
def _timers(settings: Settings, at: datetime) -> int:
    import mailflow.lifecycle.service  # noqa: F401  (registers the timer handlers)
    import mailflow.lifecycle.visits  # noqa: F401
    import mailflow.ratings.service  # noqa: F401
    from mailflow.lifecycle.timers import run_due

    return run_due(settings, at)


@sweep_job("expiry")
def _expiry(settings: Settings, at: datetime) -> int:
    from mailflow.lifecycle.service import expire_stale_leads

    return expire_stale_leads(settings, at)


@sweep_job("inactive_installers")
def _inactive(settings: Settings, at: datetime) -> int:
    from mailflow.lifecycle.service import deactivate_silent_installers

    return deactivate_silent_installers(settings, at)


@sweep_job("digests")
def _digests(settings: Settings, at: datetime) -> int:
    from mailflow.lifecycle.service import send_digests

    return send_digests(settings, at)
