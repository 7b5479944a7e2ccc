"""Dramatiq worker threads on this process's broker (``mailflow worker``, ``mailflow run``)."""

from __future__ import annotations

import logging

import dramatiq
from sqlalchemy import select

from mailflow.config import Settings
from mailflow.db import session_scope
from mailflow.i18n import DEFAULT_LANGUAGE, LANGUAGES
from mailflow.models import Installer
from mailflow.outbound.templates import warm_up

log = logging.getLogger(__name__)


def languages_in_use(settings: Settings) -> tuple[str, ...]:
    """The installers' languages and the default one: those the offer emails are written in.
    Each language warmed up holds a few MB of catalog, locale data and compiled templates for
    the process's lifetime; one nobody reads would be held for nothing (another language is
    loaded by its first email)."""
    with session_scope(settings) as session:
        found = set(session.scalars(select(Installer.language).distinct()))
    return tuple(language for language in LANGUAGES if language in found | {DEFAULT_LANGUAGE})


def start_worker(
    broker: dramatiq.Broker,
    settings: Settings,
    *,
    threads: int | None = None,
    queues: set[str] | None = None,
) -> dramatiq.Worker:
    """Start worker threads (``settings.worker_threads`` unless ``threads``) on ``queues``
    (default: all); ``stop()`` the returned worker. The offer email's templates, the
    catalogs and the locale data of the languages in use are loaded first, so the first leads
    do not wait for them."""
    try:
        warm_up(languages=languages_in_use(settings))
    except Exception:  # a warm-up only: the first lead would load them (and fail) anyway
        log.warning("warm-up failed; templates load on first use", exc_info=True)
    worker = dramatiq.Worker(
        broker,
        worker_threads=threads or settings.worker_threads,
        worker_timeout=settings.worker_idle_poll_ms,
        queues=queues,
    )
    worker.start()
    return worker
