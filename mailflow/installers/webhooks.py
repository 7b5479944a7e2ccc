"""An installer's webhook: the URL their leads are POSTed to (their CRM, a Zapier or Make hook,
their own server) and the secret the requests are signed with.

The URL is set by the installer on their dashboard settings or by an admin on the installer's
page; both go through :func:`set_webhook`. The secret is made for them the first time a URL is
set (and again on request) and shown once, to whoever set it: only its date is shown later.
Removing the URL removes the secret. What is sent, and how it is signed: docs/webhooks.md.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from mailflow.domain.effects import NOTHING, Outcome, QueueWebhook, outcome
from mailflow.domain.events import LeadAccepted, LeadAssigned, LeadClaimed
from mailflow.models import Installer
from mailflow.outbound.names import N_
from mailflow.outbound.webhooks import new_secret

MAX_URL_LENGTH = 300
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class WebhookInvalid(ValueError):
    """The URL cannot be used; ``message`` is a msgid (with ``params``) for the reader."""

    def __init__(self, message: str, **params) -> None:
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


def _private(host: str) -> bool:
    if host in LOCAL_HOSTS or host.endswith(".localhost") or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: its address is the receiver's business
    return not address.is_global


def check_url(raw: str, *, allow_local: bool = False) -> str:
    """The URL to store, or :class:`WebhookInvalid`: https:// to a public host, at most
    ``MAX_URL_LENGTH`` characters, no user name or password in it. With ``allow_local``
    (MAILFLOW_WEBHOOK_ALLOW_LOCAL) http:// to this machine and private addresses are allowed
    too (tests, local receivers)."""
    url = (raw or "").strip()
    if not url:
        raise WebhookInvalid(N_("Enter the address of your webhook."))
    if len(url) > MAX_URL_LENGTH:
        raise WebhookInvalid(
            N_("The address can be %(count)s characters long at most."), count=MAX_URL_LENGTH
        )
    if not url.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise WebhookInvalid(N_("This is not a valid web address."))
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise WebhookInvalid(N_("This is not a valid web address.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        raise WebhookInvalid(N_("The address must start with https://."))
    if parts.username is not None or parts.password is not None:
        raise WebhookInvalid(N_("The address must not contain a user name or a password."))
    if _private(host) and not allow_local:
        raise WebhookInvalid(
            N_("The address must be reachable from the internet (no local or private address).")
        )
    if scheme == "http" and not (allow_local and host in LOCAL_HOSTS):
        raise WebhookInvalid(N_("The address must start with https://."))
    return url


@dataclass(frozen=True)
class WebhookChange:
    """What changed: ``change`` is set, changed, unchanged, removed or new_secret; ``secret``
    is the new secret, to be shown once (None when the secret did not change)."""

    change: str
    url: str | None
    secret: str | None = None


def set_webhook(
    installer: Installer, raw_url: str, *, now: datetime, allow_local: bool
) -> WebhookChange:
    """Set (or change) the URL; a secret is made when the installer has none."""
    url = check_url(raw_url, allow_local=allow_local)
    if installer.webhook_url == url and installer.webhook_secret:
        return WebhookChange("unchanged", url)
    change = "changed" if installer.webhook_url else "set"
    installer.webhook_url = url
    secret = None
    if not installer.webhook_secret:
        secret = installer.webhook_secret = new_secret()
        installer.webhook_secret_at = now
    return WebhookChange(change, url, secret)


def new_webhook_secret(installer: Installer, *, now: datetime) -> WebhookChange | None:
    """A new secret replaces the old at once (deliveries from now on are signed with it)."""
    if not installer.webhook_url:
        return None
    installer.webhook_secret = new_secret()
    installer.webhook_secret_at = now
    return WebhookChange("new_secret", installer.webhook_url, installer.webhook_secret)


def remove_webhook(installer: Installer) -> WebhookChange | None:
    """No more deliveries; the ones still queued fail ("no webhook any more")."""
    if not installer.webhook_url and not installer.webhook_secret:
        return None
    url = installer.webhook_url
    installer.webhook_url = installer.webhook_secret = installer.webhook_secret_at = None
    return WebhookChange("removed", url)


# ------------------------------------------------------------------ reaction ---------------
VIA = {LeadAccepted: "accepted", LeadAssigned: "assigned", LeadClaimed: "claimed"}


def lead_to_webhook(uow, event: LeadAccepted | LeadAssigned | LeadClaimed) -> Outcome:
    """Reaction: a lead with a new holder goes to the holder's own tools, if they set a
    webhook (one outbox row, written with the acceptance)."""
    installer = uow.session.get(Installer, event.installer_id)
    if installer is None or not installer.webhook_url:
        return NOTHING
    return outcome(QueueWebhook(event.lead_id, event.installer_id, VIA[type(event)]))
