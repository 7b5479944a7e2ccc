"""Bad-lead reports ("returns", #20): the rules, pure.

After accepting a lead an installer may report it within a window (``return_window_hours``)
with a reason; a quota per month (``return_quota_percent`` of the leads they accepted that
month, at least one) limits abuse. An admin approves or rejects the report, or a rule approves
it at once (the customer's address bounced; the system sees the installer already had the
customer). An approved report does not count against the installer's caps or score (their
offer is marked returned) and the lead goes back to rotation, or is closed as invalid when its
data was fake. Each source gets a quality figure: the share of its leads reported and approved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailflow.domain.statuses import LeadStatus as S


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


UNREACHABLE = "unreachable"
FAKE = "fake"
DUPLICATE = "duplicate"
OUTSIDE_AREA = "outside_area"
HAS_INSTALLER = "has_installer"
REASONS = (UNREACHABLE, FAKE, DUPLICATE, OUTSIDE_AREA, HAS_INSTALLER)
REASON_LABELS = {
    UNREACHABLE: N_("Customer unreachable after several attempts"),
    FAKE: N_("Fake or wrong contact data"),
    DUPLICATE: N_("Duplicate of a lead I already had"),
    OUTSIDE_AREA: N_("Outside my area"),
    HAS_INSTALLER: N_("The customer already has an installer"),
}

# Why a report is refused, shown to the installer in their language (``ReportRefused.code``).
REFUSALS = {
    "reason": N_("Please choose a reason."),
    "attempts": N_(
        "Report a customer as unreachable only after at least %(attempts)s contact attempts."
    ),
    "window": N_("Too late: a lead can be reported only within %(hours)s hours of accepting it."),
    "quota": N_(
        "You have reached this month's limit of %(quota)s bad-lead reports (a share of the "
        "leads you accepted this month). Nothing was reported."
    ),
    "already": N_("You have already reported this lead."),
    "status": N_("This lead can no longer be reported."),
}
STATUS_LABELS = {
    "pending": N_("Reported: waiting for an administrator's decision."),
    "approved": N_("Report approved: the lead does not count against your limits or your score."),
    "rejected": N_("Report not approved: the lead stays yours and counts as usual."),
}

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
REPORT_STATUSES = (PENDING, APPROVED, REJECTED)
# Where an approved report sends the lead.
ROTATION, CLOSED = "rotation", "closed"
# Rules that approve a report without waiting for an admin.
RULE_BOUNCED, RULE_DUPLICATE = "bounced_customer_email", "visible_duplicate"

# The statuses in which the holder may report a lead: theirs, and nothing decisive recorded yet
# (an order placed or an installation is no bad lead).
REPORTABLE = frozenset(
    {S.ACCEPTED, S.CONTACT_ATTEMPTED, S.FIRST_CONTACT, S.QUOTE_SENT, S.FOLLOW_UP}
)


class ReportRefused(Exception):
    """A report that cannot be made; ``code`` names the message shown (in the installer's
    language): ``reason``, ``attempts``, ``window``, ``quota``, ``already``, ``status``."""

    def __init__(self, code: str, **values: object) -> None:
        super().__init__(code)
        self.code, self.values = code, values


def window_end(accepted_at: datetime, hours: float) -> datetime:
    return accepted_at + timedelta(hours=hours)


def monthly_quota(accepted_this_month: int, percent: float) -> int:
    """Reports an installer may make in a month: ``percent`` of the leads they accepted that
    month (rounded down), at least one."""
    return max(1, math.floor(accepted_this_month * percent / 100 + 1e-9))


def check_report(
    *,
    status: S,
    reason: str,
    attempts: int | None,
    min_attempts: int,
    accepted_at: datetime | None,
    now: datetime,
    window_hours: float,
    reports_this_month: int,
    accepted_this_month: int,
    quota_percent: float,
    already_reported: bool,
) -> None:
    """Raise :class:`ReportRefused` for a report the rules do not allow."""
    if reason not in REASONS:
        raise ReportRefused("reason")
    if already_reported:
        raise ReportRefused("already")
    if status not in REPORTABLE or accepted_at is None:
        raise ReportRefused("status")
    if now > window_end(accepted_at, window_hours):
        raise ReportRefused("window", hours=f"{window_hours:g}")
    if reason == UNREACHABLE and (attempts is None or attempts < min_attempts):
        raise ReportRefused("attempts", attempts=min_attempts)
    quota = monthly_quota(accepted_this_month, quota_percent)
    if reports_this_month >= quota:
        raise ReportRefused("quota", quota=quota)


def automatic_rule(
    reason: str, *, customer_email_bounced: bool, duplicate_seen: bool
) -> str | None:
    """The rule that approves the report at once, if any."""
    if reason in (UNREACHABLE, FAKE) and customer_email_bounced:
        return RULE_BOUNCED
    if reason == DUPLICATE and duplicate_seen:
        return RULE_DUPLICATE
    return None


def outcome_for(reason: str) -> str:
    """Fake data closes the lead as invalid; every other approved report puts it back into
    rotation (the reporting installer is never offered it again)."""
    return CLOSED if reason == FAKE else ROTATION


@dataclass(frozen=True)
class SourceQuality:
    source: str
    leads: int
    reported: int
    approved: int

    @property
    def reported_share(self) -> float | None:
        return self.reported / self.leads if self.leads else None

    @property
    def approved_share(self) -> float | None:
        """The quality figure: the share of the source's leads reported as bad and approved."""
        return self.approved / self.leads if self.leads else None


def source_quality(
    leads: Iterable[tuple[str | None, int]], reports: Iterable[tuple[str | None, int, str]]
) -> list[SourceQuality]:
    """Per source: ``leads`` gives (source, lead id) of the leads counted, ``reports`` gives
    (source, lead id, report status) of their reports. A lead counts once as reported (however
    many reports) and once as approved; sources sorted by name."""
    counted: dict[str, set[int]] = {}
    for source, lead_id in leads:
        counted.setdefault(source or "", set()).add(lead_id)
    reported: dict[str, set[int]] = {}
    approved: dict[str, set[int]] = {}
    for source, lead_id, status in reports:
        key = source or ""
        if lead_id not in counted.get(key, ()):
            continue
        reported.setdefault(key, set()).add(lead_id)
        if status == APPROVED:
            approved.setdefault(key, set()).add(lead_id)
    return [
        SourceQuality(
            source, len(ids), len(reported.get(source, ())), len(approved.get(source, ()))
        )
        for source, ids in sorted(counted.items())
    ]
