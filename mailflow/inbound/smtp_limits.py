"""What keeps one client from taking the SMTP intake down: connection caps per client address
and in total, and warnings logged once per interval instead of once per attempt."""

from __future__ import annotations

import errno
import logging
import resource
import time
from collections import Counter

log = logging.getLogger(__name__)

# Open files the process needs besides SMTP sessions: database and broker connections, blob
# files, logs, the metrics server.
RESERVED_FILES = 100


def connection_cap(configured: int) -> int:
    """The configured total, but never so high that sessions exhaust the open-file limit
    (accept() then fails for everyone, the storing threads cannot open files either)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - RESERVED_FILES))


class ThrottledLog:
    """A warning logged at most once per ``interval`` seconds per kind, with the number of
    occurrences since the last line: a flood stays a few lines."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self.logger = logger
        self.interval = interval
        self.last: dict[str, float] = {}
        self.counts: Counter[str] = Counter()

    def warn(self, kind: str, message: str, *args) -> None:
        self.counts[kind] += 1
        at = time.monotonic()
        if kind in self.last and at - self.last[kind] < self.interval:
            return
        self.last[kind] = at
        count = self.counts.pop(kind)
        if count > 1:
            message += f" ({count} times since the last such warning)"
        self.logger.warning(message, *args)


class ConnectionLimits:
    """Counts open sessions per client address and in total (on the event loop's thread)."""

    def __init__(self, total: int, per_client: int, warnings: ThrottledLog) -> None:
        self.total = total
        self.per_client = per_client
        self.open: Counter[str] = Counter()
        self.count = 0
        self.warnings = warnings

    def admit(self, client: str) -> bool:
        if self.count >= self.total:
            self.warnings.warn(
                "total", "SMTP intake full: %d connections open, refusing new ones", self.total
            )
            return False
        if self.open[client] >= self.per_client:
            self.warnings.warn(
                f"client:{client}",
                "SMTP client %s has %d connections open, refusing more",
                client,
                self.per_client,
            )
            return False
        self.open[client] += 1
        self.count += 1
        return True

    def release(self, client: str) -> None:
        self.count -= 1
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def quiet_accept_errors(warnings: ThrottledLog):
    """An event loop exception handler: asyncio logs a failed accept() (no file descriptors
    left) with a traceback each time it retries; one line per interval says the same."""

    def handler(loop, context) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in OUT_OF_RESOURCES:
            warnings.warn("accept", "SMTP intake cannot accept connections: %s", error)
            return
        loop.default_exception_handler(context)

    return handler
