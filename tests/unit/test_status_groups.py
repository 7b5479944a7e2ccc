"""The pipeline's four stages hold every lead status exactly once (the kanban and the pipeline
page group their columns by them: a status missing here would vanish from both)."""

from __future__ import annotations

from collections import Counter

from mailflow.domain.statuses import STATUS_GROUPS, LeadStatus


def test_every_status_is_in_exactly_one_stage():
    counted = Counter(status for statuses in STATUS_GROUPS.values() for status in statuses)
    assert set(counted) == set(LeadStatus)
    assert set(counted.values()) == {1}
    assert list(STATUS_GROUPS) == ["open", "in_progress", "won", "lost"]
    assert LeadStatus.INSTALLED in STATUS_GROUPS["won"]
    assert LeadStatus.FAILED in STATUS_GROUPS["lost"]
