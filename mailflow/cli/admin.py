"""``mailflow admin``: the admin users of the web pages."""

from __future__ import annotations

import click

from mailflow.cli import common
from mailflow.clock import now


@click.group()
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

    settings = common.settings()
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

    settings = common.settings()
    upgrade(settings)
    broker = common.setup_jobs(settings) if emails else None
    try:
        with session_scope(settings) as session:
            message = change(session, settings, accounts)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if broker is not None:
            common.close_embedded_redis(broker)
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
