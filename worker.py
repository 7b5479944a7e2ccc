"""Dramatiq entry point for a checkout: ``dramatiq worker``. See mailflow/worker.py."""

from mailflow.worker import *  # noqa: F403
