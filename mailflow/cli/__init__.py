"""The ``mailflow`` command.

Each command lives in its own module of this package, imported only when that command runs or
shows its help (``LazyGroup``): ``mailflow --help`` and ``mailflow status`` import neither the
database layer's ORM nor the web framework nor Dramatiq."""

from __future__ import annotations

import logging

import click

from mailflow.cli.lazy import Lazy, LazyGroup

COMMANDS: dict[str, Lazy] = {
    "run": Lazy(
        "mailflow.cli.run",
        "run",
        "Run everything in one process: database, embedded Redis, SMTP intake, web, workers, "
        "scheduler (and the IMAP poller when MAILFLOW_IMAP_URL is set).",
    ),
    "web": Lazy("mailflow.cli.web", "web", "Serve the web app and API (uvicorn)."),
    "smtp": Lazy("mailflow.cli.smtp", "smtp", "Run the SMTP intake server."),
    "imap": Lazy("mailflow.cli.imap", "imap", "Run the IMAP poller for MAILFLOW_IMAP_URL."),
    "scheduler": Lazy(
        "mailflow.cli.scheduler",
        "scheduler",
        "Run the scheduler: sweeps due timers every few seconds.",
    ),
    "sweep": Lazy(
        "mailflow.cli.scheduler", "sweep", "Run every timer that is due at that instant, once."
    ),
    "worker": Lazy(
        "mailflow.cli.worker",
        "worker",
        "Run a Dramatiq worker process (same as `dramatiq mailflow.worker`).",
    ),
    "status": Lazy(
        "mailflow.cli.status",
        "status",
        "Database, broker, outbox, timers and leads at a glance; exit code 1 when the "
        "database is unreachable or not at the code's migration.",
    ),
    "db": Lazy("mailflow.cli.db", "db", "Database schema."),
    "installers": Lazy(
        "mailflow.cli.data", "installers", "Import and export installers (CSV or XLSX)."
    ),
    "leads": Lazy("mailflow.cli.data", "leads", "Import and export leads (CSV or XLSX)."),
    "admin": Lazy("mailflow.cli.admin", "admin", "Admin users of the web pages (/admin)."),
    "tiers": Lazy("mailflow.cli.tiers", "tiers", "Installer scores and tiers."),
}


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # uvicorn's access log prints full URLs; link tokens must never reach the logs.
    logging.getLogger("uvicorn.access").disabled = True
    # aiosmtpd logs every SMTP command at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # Alembic narrates its plugins and every migration it checks; -v shows it.
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="mailflow")
def main(verbose: bool) -> None:
    """mailflow: distributes sales leads to installers by email.

    Settings come from MAILFLOW_* environment variables (and a .env file); see the README.
    """
    _setup_logging(verbose)
