"""A pending timer of a kind no handler acts on is never marked done unacted, and a process that
would sweep it refuses to start with a clear message (a lost reminder is silent otherwise)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from click.testing import CliRunner

from mailflow.cli import main
from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.infra.timers import schedule
from mailflow.models import Timer, TimerStatus
from mailflow.schedule import UnknownTimerKinds, check_timer_kinds, run_due_timers


def _timer_of_kind(settings, kind: str) -> int:
    with session_scope(settings) as session:
        timer = schedule(session, kind, now() - timedelta(minutes=5), data={}, now=now())
        session.flush()
        return timer.id


def _status(settings, timer_id: int) -> str:
    with session_scope(settings) as session:
        return session.get(Timer, timer_id).status


def test_a_known_kind_passes_the_check(settings):
    _timer_of_kind(settings, "survey_reminder")
    check_timer_kinds(settings)


def test_an_unknown_kind_stays_pending_and_stops_the_start(settings):
    timer_id = _timer_of_kind(settings, "call_back_reminder_v9")
    assert run_due_timers(settings, now()) == 0
    assert _status(settings, timer_id) == TimerStatus.PENDING

    with pytest.raises(UnknownTimerKinds, match="call_back_reminder_v9"):
        check_timer_kinds(settings)
    for command in (["sweep"], ["scheduler"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, result.output
        assert "unknown kind call_back_reminder_v9" in result.output
        assert "Not starting" in result.output
    assert _status(settings, timer_id) == TimerStatus.PENDING


def test_a_fresh_process_knows_every_kind_the_features_schedule(settings):
    """The start-up check runs before any sweep has imported anything: every feature's timer
    handlers must be registered by then (the soak caught ``status_reminder`` missing)."""
    with session_scope(settings) as session:
        for kind in ("status_reminder", "follow_up_reminder", "reservation_lapse"):
            schedule(session, kind, now() + timedelta(days=30), data={}, now=now())
        for kind in ("visit_reminder", "survey", "survey_reminder"):
            schedule(session, kind, now() + timedelta(days=30), data={}, now=now())
    result = subprocess.run(
        [sys.executable, "-m", "mailflow.cli", "sweep"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=settings.data_path.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unknown kind" not in result.stdout + result.stderr
