"""The installer's score, tier and ratings."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain.score import compute
from mailflow.i18n import pick_language
from mailflow.models import Survey
from mailflow.outbound.emails import ADVICE, N_
from mailflow.ratings.service import history_for, weights_of
from mailflow.web.dashboard.common import _t, _tz, _when
from mailflow.web.dashboard.labels import PREFIX
from mailflow.web.dashboard.rendering import _page
from mailflow.web.dashboard.sessions import _to_signin, signed_in

log = logging.getLogger(__name__)
router = APIRouter()


@router.get(f"{PREFIX}/score", include_in_schema=False)
def score_page(request: Request) -> Response:
    """The installer's score, tier, ratings and what counts (PRODUCT.md §6)."""

    settings, at = get_settings(), now()
    with session_scope(settings) as session:
        who = signed_in(session, request, settings, at)
        if who is None:
            return _to_signin(request)
        installer = who.installer
        language = pick_language(installer.language)
        weights, thresholds = weights_of(settings)
        result = compute(history_for(session, installer.id, now=at), weights, thresholds)
        ratings = list(
            session.scalars(
                select(Survey)
                .where(Survey.installer_id == installer.id, Survey.submitted_at.is_not(None))
                .order_by(Survey.submitted_at.desc())
                .limit(50)
            )
        )
        parts = [
            (_t(language, label), round(100 * result.parts[key]), getattr(weights, key))
            for key, label in (
                ("rating", N_("Customer ratings")),
                ("acceptance", N_("Offers accepted")),
                ("responsiveness", N_("Time to answer")),
                ("diligence", N_("Progress recorded")),
            )
        ]
        return _page(
            "score.html",
            who,
            language=language,
            section="score",
            tier=installer.tier,
            pinned=installer.tier_pinned,
            score=result.score,
            stored_score=installer.score,
            parts=parts,
            thresholds={"silver": thresholds.silver, "gold": thresholds.gold},
            advice=[_t(language, ADVICE[a]) for a in result.advice if a in ADVICE],
            rating=installer.rating,
            ratings=[
                {
                    "when": _when(r.submitted_at, language, _tz(installer)),
                    "lead": r.lead_id,
                    "service": r.service,
                    "installation": r.installation,
                    "communication": r.communication,
                    "comment": r.comment,
                }
                for r in ratings
            ],
        )
