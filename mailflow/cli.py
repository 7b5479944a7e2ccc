"""The ``mailflow`` command."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

import click

from mailflow.clock import as_utc


def _settings():
    from mailflow.config import get_settings

    return get_settings()


def _setup_jobs(settings):
    """This process's broker, with every actor declared on it (jobs are sent through it)."""
    from mailflow.jobs.broker import setup

    return setup(settings)


def _close_embedded_redis(broker) -> None:
    from mailflow.jobs.broker import close_embedded_redis

    close_embedded_redis(broker)


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


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1):
        pass


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="mailflow")
def main(verbose: bool) -> None:
    """mailflow: distributes sales leads to installers by email.

    Settings come from MAILFLOW_* environment variables (and a .env file); see the README.
    """
    _setup_logging(verbose)


# ----------------------------------------------------------------------- run ---------------
@main.command()
def run() -> None:
    """Run everything in one process: database, embedded Redis, SMTP intake, web, workers,
    scheduler (and the IMAP poller when MAILFLOW_IMAP_URL is set)."""
    from mailflow.runtime import EmbeddedService
    from mailflow.schedule import UnknownTimerKinds

    try:
        EmbeddedService(_settings()).run()
    except UnknownTimerKinds as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
def web() -> None:
    """Serve the web app and API (uvicorn)."""
    import uvicorn

    from mailflow.web.app import create_app
    from mailflow.web.server import uvicorn_config

    settings = _settings()
    _setup_jobs(settings)

    uvicorn.Server(uvicorn_config(create_app(), settings, log_level="info")).run()


def _serve_metrics(settings):
    from mailflow.metrics import serve_process_metrics

    try:
        server = serve_process_metrics(settings.metrics_listen)
    except OSError as exc:
        raise click.UsageError(
            f"MAILFLOW_METRICS_LISTEN={settings.metrics_listen}: {exc}"
        ) from None
    if server is not None:
        click.echo(f"metrics at http://{settings.metrics_listen}/metrics")
    return server


def _stop_metrics(server) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


@main.command()
def smtp() -> None:
    """Run the SMTP intake server."""
    from mailflow.inbound.smtp import IntakeController

    settings = _settings()
    broker = _setup_jobs(settings)

    controller = IntakeController(settings)
    controller.start()
    metrics = _serve_metrics(settings)
    click.echo(f"SMTP intake listening on {controller.hostname}:{controller.port}")
    try:
        _wait_for_signal()
    finally:
        controller.stop()
        _stop_metrics(metrics)
        _close_embedded_redis(broker)


@main.command()
def imap() -> None:
    """Run the IMAP poller for MAILFLOW_IMAP_URL."""
    from mailflow.inbound.imap import ImapPoller

    settings = _settings()
    if not settings.imap_url:
        raise click.UsageError("MAILFLOW_IMAP_URL is not set")
    _setup_jobs(settings)

    try:
        poller = ImapPoller(settings)
    except ValueError as exc:
        raise click.UsageError(f"MAILFLOW_IMAP_URL: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from mailflow.inbound.imap_status import report_health_forever

    report_health_forever(poller, settings, stop)
    metrics = _serve_metrics(settings)
    try:
        poller.run(stop)
    finally:
        _stop_metrics(metrics)


def _refuse_unknown_timers(settings, broker) -> None:
    from mailflow.schedule import UnknownTimerKinds, check_timer_kinds

    try:
        check_timer_kinds(settings)
    except UnknownTimerKinds as exc:
        _close_embedded_redis(broker)
        raise click.ClickException(str(exc)) from None


@main.command()
def scheduler() -> None:
    """Run the scheduler: sweeps due timers every few seconds."""
    from mailflow.jobs.scheduler import SchedulerThread

    settings = _settings()
    broker = _setup_jobs(settings)

    _refuse_unknown_timers(settings, broker)
    stop = threading.Event()
    thread = SchedulerThread(settings, stop)
    thread.start()
    metrics = _serve_metrics(settings)
    try:
        _wait_for_signal()
    finally:
        stop.set()
        thread.join(10)
        _stop_metrics(metrics)
        _close_embedded_redis(broker)


@main.command()
@click.option("--threads", default=None, type=int, help="Worker threads (default from settings).")
@click.option("--queues", default=None, help="Comma-separated queues (default: all).")
def worker(threads: int | None, queues: str | None) -> None:
    """Run a Dramatiq worker process (same as `dramatiq mailflow.worker`)."""
    from mailflow.jobs.worker import start_worker
    from mailflow.worker import broker

    settings = _settings()
    w = start_worker(
        broker, settings, threads=threads, queues=set(queues.split(",")) if queues else None
    )
    metrics = _serve_metrics(settings)
    click.echo(f"worker running with {w.worker_threads} threads")
    try:
        _wait_for_signal()
    finally:
        w.stop()
        _stop_metrics(metrics)
        _close_embedded_redis(broker)


@main.command()
@click.option("--at", "at", default=None, help="ISO-8601 instant (default: now).")
def sweep(at: str | None) -> None:
    """Run every timer that is due at that instant, once."""
    from mailflow.schedule import run_sweep

    settings = _settings()
    broker = _setup_jobs(settings)

    _refuse_unknown_timers(settings, broker)
    instant = None
    if at:
        try:
            instant = as_utc(datetime.fromisoformat(at.replace("Z", "+00:00")))
        except ValueError:
            raise click.BadParameter(f"not an ISO-8601 instant: {at}", param_hint="--at") from None
    try:
        results = run_sweep(settings, instant)
    finally:
        _close_embedded_redis(broker)
    for name, count in results.items():
        click.echo(f"{name}: {count}")


# ----------------------------------------------------------------------- db ----------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from mailflow.migrate import upgrade

    upgrade(_settings(), revision)
    click.echo("database is up to date")


# ----------------------------------------------------------------------- data --------------
def _progress_line(what: str):
    """A progress line on stderr (rewritten in place on a terminal, every 100 rows otherwise)."""
    interactive = sys.stderr.isatty()

    def progress(done: int) -> None:
        if interactive:
            click.echo(f"\r{what}: {done} rows done", nl=False, err=True)
        elif done % 100 == 0:
            click.echo(f"{what}: {done} rows done", err=True)

    return progress


@main.group()
def installers() -> None:
    """Import and export installers (CSV or XLSX)."""


@installers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def installers_import(file: Path) -> None:
    """Create or update installers from FILE (columns: email,name,company,language,country,
    timezone,postcodes,tier,capacity)."""
    from mailflow.installers.io import import_installers
    from mailflow.migrate import upgrade

    settings = _settings()
    upgrade(settings)
    report = import_installers(file, settings, progress=_progress_line("installers"))
    if sys.stderr.isatty():
        click.echo(err=True)
    for row in report.rows:
        click.echo(
            f"row {row.row}: {row.outcome}{' ' + row.email if row.email else ''}"
            f"{' — ' + row.reason if row.reason else ''}"
        )
    click.echo(report.summary())
    if report.rejected:
        sys.exit(1)


@installers.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def installers_export(file: Path) -> None:
    """Write every installer to FILE (.csv or .xlsx)."""
    from mailflow.installers.io import export_installers

    count = export_installers(file, _settings())
    click.echo(f"exported {count} installers to {file}")


@main.group()
def leads() -> None:
    """Import and export leads (CSV or XLSX)."""


@leads.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def leads_import(file: Path) -> None:
    """Create leads from FILE, with a per-row report (created, duplicate, rejected and why)."""
    from mailflow.leads.io import import_leads
    from mailflow.migrate import upgrade

    settings = _settings()
    _setup_jobs(settings)

    upgrade(settings)
    report = import_leads(file, settings, progress=_progress_line("leads"))
    if sys.stderr.isatty():
        click.echo(err=True)
    for row in report.rows:
        click.echo(
            f"row {row.row}: {row.outcome}"
            f"{f' lead {row.lead_id}' if row.lead_id else ''}"
            f"{' — ' + row.reason if row.reason else ''}"
        )
    click.echo(report.summary())


@leads.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def leads_export(file: Path) -> None:
    """Write every lead to FILE (.csv or .xlsx)."""
    from mailflow.leads.io import export_leads

    count = export_leads(file, _settings())
    click.echo(f"exported {count} leads to {file}")


@leads.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def leads_erase(email: str, yes: bool) -> None:
    """Erase the personal data of the customer with EMAIL (a data protection request).

    Their leads (same email, or a phone number of those leads) are anonymised and the raw
    inbound messages that brought them emptied; status, offers, timeline and figures stay
    for the statistics. Written to the audit log (without the email)."""
    from mailflow.clock import now
    from mailflow.db import session_scope
    from mailflow.leads.privacy import customer_leads, erase_customer, forget_on_disk
    from mailflow.migrate import upgrade
    from mailflow.web.admin.audit import record

    settings = _settings()
    upgrade(settings)
    with session_scope(settings) as session:
        ids = [lead.id for lead in customer_leads(session, email=email)]
    if not ids:
        click.echo(f"No lead has the email {email}; stored messages from it are erased too.")
    elif not yes:
        click.confirm(
            f"Erase the personal data of {len(ids)} lead(s): {', '.join(map(str, ids))}?",
            abort=True,
        )
    with session_scope(settings) as session:
        result = erase_customer(session, email=email, by="cli", now=now(), settings=settings)
        record(
            session,
            "cli",
            "customer.erase",
            summary=result.summary(),
            data={
                "leads": result.leads,
                "inbound": result.inbound,
                "outbox": result.outbox,
                "notes": result.notes,
                "documents": result.documents,
            },
        )
    forget_on_disk(settings)
    click.echo(f"{result.summary()}.")


# ----------------------------------------------------------------------- admin -------------
@main.group()
def admin() -> None:
    """Admin users of the web pages (/admin)."""


@admin.command("create")
@click.argument("email")
@click.option(
    "--password",
    default=None,
    help="The password (prompted for, with confirmation, when omitted; prefer the "
    "prompt: a command line is visible to other users and kept in shell history).",
)
@click.option(
    "--role",
    type=click.Choice(["admin", "viewer"]),
    default="admin",
    show_default=True,
    help="viewer: sees every page but cannot change anything.",
)
def admin_create(email: str, password: str | None, role: str) -> None:
    """Create an admin user who signs in at /admin/login with EMAIL and a password."""
    from mailflow.db import session_scope
    from mailflow.migrate import upgrade
    from mailflow.web.admin.audit import record
    from mailflow.web.admin.users import create_admin_user

    settings = _settings()
    upgrade(settings)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(settings) as session:
            user = create_admin_user(session, email, password, role)
            created = user.email
            record(
                session,
                "cli",
                "admin_user.create",
                object_type="admin_user",
                object_id=user.id,
                summary=f"created {role} {created}",
                data={"email": created, "role": role},
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {created}")


def _account_change(change, *, emails: bool = False) -> None:
    """Run ``change(session, settings, accounts)`` in one transaction (with its audit entry);
    a refused change is a clear message and exit code 1. ``emails``: the change queues an
    email (sent by a job, so this process needs the broker)."""
    from mailflow.db import session_scope
    from mailflow.migrate import upgrade
    from mailflow.web.admin import accounts

    settings = _settings()
    upgrade(settings)
    broker = _setup_jobs(settings) if emails else None
    try:
        with session_scope(settings) as session:
            message = change(session, settings, accounts)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if broker is not None:
            _close_embedded_redis(broker)
    click.echo(message)


@admin.command("list")
def admin_list() -> None:
    """List the admin users: email, role, status (active, invited, deactivated), language,
    last sign-in."""

    def show(session, _settings, accounts) -> str:
        lines = [
            f"{user.email}\t{user.role}\t{accounts.status(user)}\t{user.language}\t"
            f"{user.last_login_at.isoformat(timespec='minutes') if user.last_login_at else 'never'}"
            for user in accounts.all_users(session)
        ]
        return "\n".join(lines) if lines else "no admin users"

    _account_change(show)


@admin.command("invite")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin", show_default=True)
@click.option(
    "--language",
    type=click.Choice(["en", "fr", "de"]),
    default="en",
    show_default=True,
    help="The language of the email and of their console.",
)
def admin_invite(email: str, role: str, language: str) -> None:
    """Invite EMAIL: an email with a one-time link (72 hours) to choose a password. The link
    is printed too. Inviting again someone who has no password yet sends a new link."""
    from mailflow.clock import now

    def invite(session, settings, accounts) -> str:
        user, url = accounts.invite(
            session,
            settings,
            email,
            role=role,
            language=language,
            actor=accounts.Actor.cli(),
            at=now(),
        )
        return f"invited {user.email} as {role}; the link (also emailed): {url}"

    _account_change(invite, emails=True)


@admin.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(["admin", "viewer"]))
def admin_role(email: str, role: str) -> None:
    """Give EMAIL the role ROLE (admin or viewer). The last active admin stays admin."""

    def change(session, _settings, accounts) -> str:
        user = accounts.find(session, email)
        changed = accounts.change_role(session, user, role, actor=accounts.Actor.cli())
        return f"{user.email} is {'now' if changed else 'already'} {role}"

    _account_change(change)


@admin.command("reset-password")
@click.argument("email")
def admin_reset_password(email: str) -> None:
    """Reset EMAIL's password: the old one stops working, their sessions end, and an email
    brings a one-time link (72 hours, printed too) to choose a new one."""
    from mailflow.clock import now

    def reset(session, settings, accounts) -> str:
        user = accounts.find(session, email)
        url = accounts.reset_password(session, settings, user, actor=accounts.Actor.cli(), at=now())
        return f"password of {user.email} reset; the link (also emailed): {url}"

    _account_change(reset, emails=True)


@admin.command("deactivate")
@click.argument("email")
def admin_deactivate(email: str) -> None:
    """Deactivate EMAIL: they are signed out and can no longer sign in (not the last admin)."""

    def change(session, _settings, accounts) -> str:
        user = accounts.find(session, email)
        changed = accounts.deactivate(session, user, actor=accounts.Actor.cli())
        return f"{user.email} {'deactivated' if changed else 'was already deactivated'}"

    _account_change(change)


@admin.command("activate")
@click.argument("email")
def admin_activate(email: str) -> None:
    """Reactivate EMAIL (they sign in with their password as before)."""

    def change(session, _settings, accounts) -> str:
        user = accounts.find(session, email)
        changed = accounts.activate(session, user, actor=accounts.Actor.cli())
        return f"{user.email} {'activated' if changed else 'was already active'}"

    _account_change(change)


@main.group()
def tiers() -> None:
    """Installer scores and tiers."""


@tiers.command("recompute")
def tiers_recompute() -> None:
    """Recompute every installer's score and tier now (the scheduler does it nightly)."""
    from mailflow.clock import now
    from mailflow.ratings.service import recompute_all

    settings = _settings()
    broker = _setup_jobs(settings)

    try:
        changes = recompute_all(settings, now())
    finally:
        _close_embedded_redis(broker)
    for change in changes:
        click.echo(
            f"installer {change.installer_id}: {change.old_tier} -> {change.new_tier} "
            f"(score {change.score})"
        )
    click.echo(f"{len(changes)} tier changes")


if __name__ == "__main__":
    main()
