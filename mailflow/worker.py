"""Dramatiq entry point: sets the broker, then imports every actor.

``dramatiq mailflow.worker`` (or ``mailflow worker``) runs workers against the configured
broker; ``mailflow run`` runs worker threads in-process.
"""

from mailflow.broker import setup_broker

broker = setup_broker()

from mailflow.actors import *  # noqa: E402,F403  (registers every actor on the broker)
