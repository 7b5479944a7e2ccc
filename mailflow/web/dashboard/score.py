"""The installer's score, tier and ratings."""

from __future__ import annotations

import logging
from datetime import timedelta

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from mailflow.app.reports.speed import installer_speed
from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain.score import (
    MIN_ANSWERED_OFFERS,
    MIN_RATINGS,
    RATING_PRIOR,
    TIER_MARGIN,
    Thresholds,
    TierDecision,
    compute,
    decide_tier,
)
from mailflow.i18n import format_duration, pick_language
from mailflow.models import Survey
from mailflow.outbound.emails import ADVICE, N_
from mailflow.outbound.names import TIER_NAMES
from mailflow.ratings.service import history_for, weights_of
from mailflow.web.dashboard.common import _t, _tz, _when
from mailflow.web.dashboard.labels import PREFIX
from mailflow.web.dashboard.rendering import _page
from mailflow.web.dashboard.sessions import _to_signin, signed_in

log = logging.getLogger(__name__)
router = APIRouter()
SPEED_DAYS = 30


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
        history = history_for(session, installer.id, now=at)
        result = compute(history, weights, thresholds)
        decision = decide_tier(
            installer.tier, history, weights, thresholds, pinned=installer.tier_pinned
        )
        ratings = list(
            session.scalars(
                select(Survey)
                .where(Survey.installer_id == installer.id, Survey.submitted_at.is_not(None))
                .order_by(Survey.submitted_at.desc())
                .limit(50)
            )
        )
        speed = installer_speed(session, installer.id, since=at - timedelta(days=SPEED_DAYS))
        parts = [
            (
                _t(language, label),
                format_decimal(round(100 * result.parts[key]), locale=language),
                format_decimal(getattr(weights, key), locale=language),
            )
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
            tier=_t(language, TIER_NAMES[installer.tier]),
            tier_key=installer.tier,
            pinned=installer.tier_pinned,
            score=format_decimal(result.score, format="0.#", locale=language),
            explanation=_explain(decision, installer.tier, thresholds, language),
            no_ratings=not history.ratings,
            prior=format_decimal(RATING_PRIOR, locale=language),
            parts=parts,
            thresholds={
                "silver": format_decimal(thresholds.silver, format="0.#", locale=language),
                "gold": format_decimal(thresholds.gold, format="0.#", locale=language),
            },
            advice=[_t(language, ADVICE[a]) for a in result.advice if a in ADVICE],
            speed={
                "days": SPEED_DAYS,
                "to_acceptance": _spoken(speed.to_acceptance.median, language),
                "to_first_contact": _spoken(speed.to_first_contact.median, language),
                "accepted": speed.to_acceptance.count,
                "contacted": speed.to_first_contact.count,
            },
            rating=(
                format_decimal(installer.rating, format="0.0#", locale=language)
                if installer.rating
                else None
            ),
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


def _spoken(value: timedelta | None, language: str) -> str | None:
    return None if value is None else format_duration(value, language)


def _explain(decision: TierDecision, tier: str, thresholds: Thresholds, language: str) -> str:
    """Why the tier shown is the tier it is, in words that agree with the figures."""
    name = _t(language, TIER_NAMES[tier])
    if decision.why == "pinned":
        return _t(language, N_("Set by an administrator: your score does not change it."))
    if decision.why == "little_history":
        return _t(
            language,
            N_(
                "Your tier stays %(tier)s until you have answered %(offers)s offers or received "
                "%(ratings)s customer ratings: a few answers alone do not move it."
            ),
            tier=name,
            offers=MIN_ANSWERED_OFFERS,
            ratings=MIN_RATINGS,
        )
    if decision.why == "margin":
        threshold = getattr(thresholds, tier)
        return _t(
            language,
            N_(
                "Your score is under the %(tier)s threshold (%(threshold)s), but you keep "
                "%(tier)s as long as it stays at %(floor)s or more."
            ),
            tier=name,
            threshold=format_decimal(threshold, format="0.#", locale=language),
            floor=format_decimal(threshold - TIER_MARGIN, format="0.#", locale=language),
        )
    if decision.why == "one_rating":
        return _t(
            language,
            N_(
                "Your latest customer rating alone would change your tier: it changes only if "
                "the next ones point the same way."
            ),
        )
    if decision.tier != tier:
        return _t(
            language,
            N_("From tonight's update, your tier is %(tier)s."),
            tier=_t(language, TIER_NAMES[decision.tier]),
        )
    return _t(language, N_("Your tier follows your score."))
