"""Sweep job: tiers recomputed nightly."""

from __future__ import annotations

from datetime import datetime

from mailflow.config import Settings
from mailflow.scheduler import sweep_job


@sweep_job("tiers")
def _nightly(settings: Settings, at: datetime) -> int:
    from mailflow.ratings.service import nightly_recompute

    return nightly_recompute(settings, at)
