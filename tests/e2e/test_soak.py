"""The fault-injection soak (``bench/soak.py``) in its short CI form.

PostgreSQL, a ``redis-server``, 2 ``mailflow smtp``, 3 ``mailflow worker``, 2 ``mailflow
scheduler`` and one ``mailflow web`` on loopback; a simulated installer network answers the
offer emails, and three installers claim leads of the open exchange from their dashboards
(signed in through the emailed link; two at once on the same lead; some claims worked on,
others left to lapse at the time jumps); midway a worker is SIGKILLed, Redis restarts with
its data wiped and PostgreSQL refuses connections for 10 seconds. The soak runs once for this
module; each invariant it checks is one test here, so a failure names the promise that was
broken (the printout of the whole run is in the captured output).

The long form is run by hand: ``python bench/soak.py --leads 5000 --minutes 10``.
"""

from __future__ import annotations

import os
import sys

import pytest

from support.paths import BENCH

sys.path.insert(0, str(BENCH))

import soak  # noqa: E402
from topology import missing_binaries  # noqa: E402

MISSING = missing_binaries()
pytestmark = [
    pytest.mark.real_clock,
    pytest.mark.slow,
    pytest.mark.timeout(480),
    pytest.mark.skipif(bool(MISSING), reason=f"the soak needs {'; '.join(MISSING)}"),
    # scripts/test runs the suite twice (SQLite, then PostgreSQL); the soak always starts its
    # own PostgreSQL, so once is enough.
    pytest.mark.skipif(
        bool(
            os.environ.get("MAILFLOW_TEST_POSTGRES") or os.environ.get("MAILFLOW_TEST_DATABASE_URL")
        ),
        reason="the soak runs on its own PostgreSQL cluster in the SQLite pass",
    ),
]

# A few hundred submissions (leads, re-sends, replays, twins, replies) in 36 seconds, with the
# three faults inside the lead stream; about two and a half minutes on a 2-core machine.
SHORT = soak.SoakConfig(
    leads=160, minutes=0.6, installers=24, seed=8, settle_jumps=2, twins=0.25, keep=True
)

# Invariants failing for a known, described product problem, marked xfail with the description
# until fixed (none at the moment: the ones the soak found are fixed, see docs/deploy.md).
KNOWN_BUGS: dict[str, str] = {}

INVARIANTS = [
    "intake",  # every message answered 250 (webhook 201/200) is a lead, duplicate, quarantined
    "holders",  # at most one holder per lead, one accepted offer per holding period
    "offer_emails",  # no offer email sent twice, none missing
    "deadlines",  # every deadline that passed was acted on
    "outbox",  # empty or only permanent failures
    "duplicates",  # one original lead per customer, even when two submissions race
    "vacation",  # no offers to installers on vacation
    "caps",  # no capped installer offered more leads in a day, week or month than its cap
    "links",  # one winner per double click, late clicks refused
    "exchange",  # claims from the exchange: one holder, one winner per race, lapses go back
    "exchange_privacy",  # no customer identity on the Available leads page
    "emails",  # no email queued twice for the same event (two schedulers at one instant)
    "bounces",  # forged bounces (headers, guessed or badly signed VERP) disable nobody
    "errors",  # no exception in the logs but connection errors during the faults
    "processes",  # no process died; all recovered (a lead after the faults is offered at once)
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    lines: list[str] = []
    config = soak.SoakConfig(**{**SHORT.__dict__, "root": tmp_path_factory.mktemp("soak")})
    result = soak.run_soak(config, log=lines.append)
    print(result.text())
    return result


def test_the_soak_checked_every_invariant(report):
    assert [c.id for c in report.checks] == INVARIANTS


@pytest.mark.parametrize(
    "invariant",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=False, reason=KNOWN_BUGS[name]))
        if name in KNOWN_BUGS
        else name
        for name in INVARIANTS
    ],
)
def test_invariant(report, invariant):
    check = report.check(invariant)
    assert check.ok, f"{check.name}: {check.detail}\n" + "\n".join(check.problems[:30])
