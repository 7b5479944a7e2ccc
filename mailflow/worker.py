"""Dramatiq entry point: sets up the broker with every actor declared on it.

``dramatiq mailflow.worker`` (or ``mailflow worker``) runs workers against the configured
broker; ``mailflow run`` runs worker threads in-process.
"""

from mailflow.jobs.broker import setup

broker = setup()
