"""``mailflow web``: the web app and API."""

from __future__ import annotations

import click
import uvicorn

from mailflow.cli.common import settings, setup_jobs
from mailflow.web.app import create_app
from mailflow.web.server import uvicorn_config


@click.command()
def web() -> None:
    """Serve the web app and API (uvicorn)."""
    current = settings()
    setup_jobs(current)

    uvicorn.Server(uvicorn_config(create_app(), current, log_level="info")).run()
