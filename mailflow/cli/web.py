"""``mailflow web``: the web app and API."""

from __future__ import annotations

import click

from mailflow.cli import common


@click.command()
def web() -> None:
    """Serve the web app and API (uvicorn)."""
    import uvicorn

    from mailflow.web.app import create_app
    from mailflow.web.server import uvicorn_config

    settings = common.settings()
    common.setup_jobs(settings)

    uvicorn.Server(uvicorn_config(create_app(), settings, log_level="info")).run()
