"""Every status change of a lead, an offer or an import job goes through its transition table
(``mailflow.domain.lead.move`` / ``offer.move`` / ``import_job.move``)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from mailflow.domain import import_job
from mailflow.domain import lead as lead_rules
from mailflow.domain import offer as offer_rules
from mailflow.domain.statuses import Actor, LeadStatus, OfferStatus

PACKAGE = Path(__file__).resolve().parents[2] / "mailflow"
# Assignments to a ``status`` attribute that are not a lead's or an offer's status.
NOT_A_STATUS_WRITE = {"web/admin/lead_queries.py"}  # a filter form's field


def test_no_status_is_written_outside_the_machines():
    writes = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("domain/", "migrations/")) or relative in NOT_A_STATUS_WRITE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                writes += [
                    f"{relative}:{node.lineno}"
                    for name in names
                    if isinstance(name, ast.Attribute) and name.attr == "status"
                ]
    assert writes == []


@pytest.mark.parametrize(
    ("current", "wanted", "by"),
    [
        (LeadStatus.INSTALLED, LeadStatus.NEW, Actor.ADMIN),  # installed is final
        (LeadStatus.FAILED, LeadStatus.FAILED, Actor.ADMIN),  # closed already
        (LeadStatus.NEW, LeadStatus.ACCEPTED, Actor.SYSTEM),  # accepted only from an offer
        (LeadStatus.OFFERED, LeadStatus.QUOTE_SENT, Actor.INSTALLER),  # not accepted yet
        (LeadStatus.INSTALLED, LeadStatus.FAILED, Actor.INSTALLER),
    ],
)
def test_a_move_the_table_does_not_allow_is_refused_and_changes_nothing(current, wanted, by):
    lead = SimpleNamespace(status=current)
    with pytest.raises(lead_rules.Refused):
        lead_rules.move(lead, wanted, by=by)
    assert lead.status == current


@pytest.mark.parametrize(
    ("current", "wanted", "by"),
    [
        (LeadStatus.NEW, LeadStatus.OFFERED, Actor.SYSTEM),
        (LeadStatus.POOL, LeadStatus.POOL, Actor.SYSTEM),
        (LeadStatus.OFFERED, LeadStatus.ACCEPTED, Actor.SYSTEM),
        (LeadStatus.ACCEPTED, LeadStatus.QUOTE_SENT, Actor.INSTALLER),
        (LeadStatus.NEW, LeadStatus.HELD, Actor.SYSTEM),
        (LeadStatus.HELD, LeadStatus.NEW, Actor.ADMIN),
        (LeadStatus.FAILED, LeadStatus.NEW, Actor.ADMIN),  # an admin reopens a closed lead
        (LeadStatus.ORDER_PLACED, LeadStatus.FAILED, Actor.ADMIN),
    ],
)
def test_allowed_moves(current, wanted, by):
    lead = SimpleNamespace(status=current)
    lead_rules.move(lead, wanted, by=by)
    assert lead.status == wanted


@pytest.mark.parametrize("answered", [s for s in OfferStatus if s != OfferStatus.OFFERED])
def test_an_answered_offer_never_changes_again(answered):
    offer = SimpleNamespace(status=answered)
    for wanted in OfferStatus:
        with pytest.raises(offer_rules.Refused):
            offer_rules.move(offer, wanted)
    assert offer.status == answered
    open_offer = SimpleNamespace(status=OfferStatus.OFFERED)
    if answered == OfferStatus.CLAIMED:
        # Born claimed (a lead taken from the exchange): no open offer ever becomes one.
        with pytest.raises(offer_rules.Refused):
            offer_rules.move(open_offer, answered)
        return
    offer_rules.move(open_offer, answered)
    assert open_offer.status == answered


def test_an_import_job_moves_only_forward_and_an_ended_one_never_again():
    job = SimpleNamespace(status=import_job.QUEUED)
    import_job.move(job, import_job.RUNNING)
    import_job.move(job, import_job.RUNNING)  # a retry resumes
    import_job.move(job, import_job.DONE)
    for wanted in import_job.STATES:
        with pytest.raises(import_job.Refused):
            import_job.move(job, wanted)
    assert job.status == import_job.DONE
    failed = SimpleNamespace(status=import_job.QUEUED)
    import_job.move(failed, import_job.FAILED)  # the file was gone before it started
    with pytest.raises(import_job.Refused):
        import_job.move(failed, import_job.RUNNING)
