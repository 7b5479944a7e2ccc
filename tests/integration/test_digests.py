"""The weekly digest: the leads waiting on an installer, with a link that turns it off."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailflow.lifecycle.service import send_digests
from support.lifecycle import accepted_lead
from support.offers import emails_to
from support.people import GOLD_PARIS

PARIS = ZoneInfo("Europe/Paris")


def test_the_digest_lists_the_waiting_leads_once_a_week(settings, worker):
    accepted_at = datetime(2026, 9, 1, 10, 0, tzinfo=PARIS)
    lead_id = accepted_lead(settings, accepted_at)
    assert send_digests(settings, accepted_at + timedelta(hours=1)) >= 1
    (mail,) = emails_to(settings, GOLD_PARIS, "digest")
    # The status in the installer's words (French), never the raw value.
    assert re.search(rf"- #{lead_id} \S+.*\(Accepté, aucun suivi enregistré\)", mail.body_text)
    assert "(accepted)" not in mail.body_text
    assert re.search(r"/l/vacation/\S+", mail.body_text)
    send_digests(settings, accepted_at + timedelta(days=6))
    assert len(emails_to(settings, GOLD_PARIS, "digest")) == 1  # not again within the week
    send_digests(settings, accepted_at + timedelta(days=7, hours=1))
    assert len(emails_to(settings, GOLD_PARIS, "digest")) == 2
