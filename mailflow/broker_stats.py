"""Dramatiq queue depths and dead letters, for the admin pages (Redis broker layout:
``dramatiq:<queue>`` list of pending ids, ``dramatiq:<queue>.DQ`` delayed, ``.XQ`` dead)."""

from __future__ import annotations

import dramatiq


def queue_stats(broker: dramatiq.Broker | None = None) -> list[dict]:
    broker = broker or dramatiq.get_broker()
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
