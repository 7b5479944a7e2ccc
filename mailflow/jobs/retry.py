"""Jobs ride out a database outage: retried by Dramatiq with its backoff, logged in one line."""

from __future__ import annotations

import functools
import logging

import dramatiq

from mailflow.db import describe_unavailable, is_database_unavailable

log = logging.getLogger(__name__)


def retry_while_database_unavailable(fn):
    """For an actor's function: an outage of the database (see ``is_database_unavailable``)
    becomes ``dramatiq.Retry``, which the Retries middleware retries with its backoff and the
    worker does not log as a crash; this logs one line instead of a traceback. Any other error
    keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            log.warning(
                "%s%r: database unavailable, retried later (%s)",
                fn.__name__,
                args,
                describe_unavailable(exc),
            )
            raise dramatiq.Retry(describe_unavailable(exc)) from exc

    return wrapper
