"""What each lead source is worth: per source (the lead's ``source``: calculator, leadgen,
webhook, email, import, manual), the leads created in the range and what became of them.

- leads: every lead created (duplicates and quarantined ones included);
- duplicates: leads recorded as duplicates of an earlier one;
- quarantined: leads held for review or quarantined (never reached an installer unchecked);
- accepted: leads an installer accepted or claimed (``accepted_at`` set);
- won: leads ordered (order placed, installation scheduled, installed);
- quoted value: the installers' quotes on these leads, added up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields

from sqlalchemy.orm import Session

from mailflow.app.reports.common import WON, ReportFilters, leads_in_range, rate
from mailflow.domain.statuses import LeadStatus

QUARANTINE = (LeadStatus.QUARANTINED, LeadStatus.HELD)


@dataclass(frozen=True)
class SourceRow:
    source: str
    leads: int
    duplicates: int
    quarantined: int
    accepted: int
    won: int
    quoted_value: float
    acceptance_rate: float | None  # percent of the leads that were not duplicates/quarantined
    won_rate: float | None


SOURCE_COLUMNS = tuple(f.name for f in fields(SourceRow))


def source_rows(session: Session, f: ReportFilters) -> list[SourceRow]:
    groups = defaultdict(list)
    for lead in leads_in_range(session, f):
        groups[lead.source or "unknown"].append(lead)
    rows = []
    for source, leads in sorted(groups.items()):
        duplicates = sum(1 for lead in leads if lead.duplicate)
        quarantined = sum(1 for lead in leads if lead.status in QUARANTINE)
        accepted = sum(1 for lead in leads if lead.accepted_at is not None)
        won = sum(1 for lead in leads if lead.status in WON)
        usable = sum(1 for lead in leads if not lead.duplicate and lead.status not in QUARANTINE)
        rows.append(
            SourceRow(
                source=source,
                leads=len(leads),
                duplicates=duplicates,
                quarantined=quarantined,
                accepted=accepted,
                won=won,
                quoted_value=round(sum(lead.quote for lead in leads), 2),
                acceptance_rate=rate(accepted, usable),
                won_rate=rate(won, usable),
            )
        )
    rows.sort(key=lambda r: (-r.leads, r.source))
    return rows
