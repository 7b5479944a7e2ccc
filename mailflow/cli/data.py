"""``mailflow installers`` and ``mailflow leads``: import, export, erase."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailflow.cli import common
from mailflow.clock import now


@click.group()
def installers() -> None:
    """Import and export installers (CSV or XLSX)."""


@installers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def installers_import(file: Path) -> None:
    """Create or update installers from FILE (columns: email,name,company,language,country,
    timezone,postcodes,tier,capacity)."""
    from mailflow.installers.io import import_installers
    from mailflow.migrate import upgrade

    settings = common.settings()
    upgrade(settings)
    report = import_installers(file, settings, progress=common.progress_line("installers"))
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

    count = export_installers(file, common.settings())
    click.echo(f"exported {count} installers to {file}")


@click.group()
def leads() -> None:
    """Import and export leads (CSV or XLSX)."""


@leads.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def leads_import(file: Path) -> None:
    """Create leads from FILE, with a per-row report (created, duplicate, rejected and why)."""
    from mailflow.leads.io import import_leads
    from mailflow.migrate import upgrade

    settings = common.settings()
    common.setup_jobs(settings)

    upgrade(settings)
    report = import_leads(file, settings, progress=common.progress_line("leads"))
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

    count = export_leads(file, common.settings())
    click.echo(f"exported {count} leads to {file}")


@leads.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def leads_erase(email: str, yes: bool) -> None:
    """Erase the personal data of the customer with EMAIL (a data protection request).

    Their leads (same email, or a phone number of those leads) are anonymised and the raw
    inbound messages that brought them emptied; status, offers, timeline and figures stay
    for the statistics. Written to the audit log (without the email)."""
    from mailflow.db import session_scope
    from mailflow.leads.privacy import customer_leads, erase_customer, forget_on_disk
    from mailflow.migrate import upgrade
    from mailflow.web.admin.audit import record

    settings = common.settings()
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
            data=result.audit_data(),
        )
    forget_on_disk(settings)
    click.echo(f"{result.summary()}.")
