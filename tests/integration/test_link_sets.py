"""Links of one email that differ only by what they carry share one nonce row (#21: a
reminder's status steps were nine rows and nine key derivations)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mailflow import clock
from mailflow.db import session_scope
from mailflow.links import tokens
from mailflow.models import LinkNonce
from support.factories import make_lead


def test_a_set_of_links_shares_one_nonce_and_each_carries_its_own_step(settings):
    now = clock.now()
    with session_scope(settings) as s:
        lead = make_lead(s)
        s.flush()
        steps = [{"s": "contact_attempted"}, {"s": "first_contact"}, {"s": "failed"}]
        signed = tokens.issue_set(s, settings, "status", steps, now=now, lead_id=lead.id)
        assert len(set(signed)) == 3
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(LinkNonce)) == 1
        read = [tokens.verify(s, settings, "status", token, now=now) for token in signed]
        assert [link.extra for link in read] == steps
        assert {link.nonce for link in read} == {s.scalar(select(LinkNonce.nonce))}
        assert {link.lead_id for link in read} == {lead.id}
        # each is a link of its purpose only, and expires with its row
        with pytest.raises(tokens.LinkInvalid):
            tokens.verify(s, settings, "vacation", signed[0], now=now)
        with pytest.raises(tokens.LinkExpired):
            tokens.verify(s, settings, "status", signed[0], now=now + timedelta(days=400))


def test_one_time_links_are_never_a_set(settings):
    with session_scope(settings) as s, pytest.raises(ValueError, match="one-time"):
        tokens.issue_set(s, settings, "accept", [{}, {}], now=clock.now())
