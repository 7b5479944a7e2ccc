"""The wiring tables are complete: every domain event someone raises has its reactions listed,
every email kind an effect names has a composer and a template folder, and a unit of work
refuses to run unwired."""

from __future__ import annotations

import ast
import importlib.resources
from pathlib import Path

import pytest

from mailflow.app import uow as uow_module
from mailflow.app.emails import EMAILS
from mailflow.domain import events
from mailflow.reactions import REACTIONS

PACKAGE = Path(__file__).resolve().parents[2] / "mailflow"


def _names_used(kind: str) -> set[str]:
    """Names of ``kind(...)`` calls in the package (QueueEmail("offer", ...) → "offer")."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == kind
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_every_email_kind_queued_has_a_composer_and_a_template():
    queued = _names_used("QueueEmail")
    assert queued, "the scan found no QueueEmail: the test would prove nothing"
    assert queued <= set(EMAILS), queued - set(EMAILS)
    templates = importlib.resources.files("mailflow.templates") / "email"
    for kind in EMAILS:
        assert (templates / kind / "subject.txt").is_file(), kind


def test_every_event_raised_has_reactions():
    defined = {
        name
        for name, value in vars(events).items()
        if isinstance(value, type) and value.__module__ == events.__name__
    }
    raised = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in defined:
                raised.add(node.func.id)
    # OfferMade is a fact for the record: nothing follows it yet.
    unhandled = {name for name in raised if getattr(events, name) not in REACTIONS} - {"OfferMade"}
    assert raised >= {"LeadAccepted", "LeadNeedsInstaller"}, raised
    assert not unhandled, unhandled


def test_a_unit_of_work_refuses_to_run_unwired(monkeypatch):
    monkeypatch.setattr(uow_module, "_wiring", None)
    with pytest.raises(uow_module.NotWired):
        uow_module.UnitOfWork(session=None, settings=None, now=None)
