"""An admin sets an installer's webhook for them (their leads are POSTed to their own tools):
set or change the URL, make a new signing secret, remove it. A new secret is shown once, on
the page that answers the change, to be handed to the installer; every change is audited
(the URL, never the secret)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.installers.webhooks import (
    MAX_URL_LENGTH,
    WebhookInvalid,
    new_webhook_secret,
    remove_webhook,
    set_webhook,
)
from mailflow.models import Installer
from mailflow.outbound.names import N_
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, require_action
from mailflow.web.admin.common import field, not_found, redirect, valid_id
from mailflow.web.admin.rendering import flash, render, tr

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

ACTIONS = ("save", "secret", "remove")
DONE = {
    "set": N_("Webhook set: %(email)s's leads are sent to it."),
    "changed": N_("Webhook address changed: %(email)s's leads are sent to the new one."),
    "unchanged": N_("Nothing changed."),
    "removed": N_("Webhook removed: %(email)s's leads are no longer sent to it."),
}


@router.post("/installers/{installer_id}/webhook")
def installer_webhook(
    request: Request, installer_id: int, action: Action = Depends(require_action)
) -> Response:
    admin = action.admin
    what = tr(admin, N_("installer #%(id)s"), id=installer_id)
    if not valid_id(installer_id):
        return not_found(request, admin, what)
    kind = field(action.form, "action", 16)
    if kind not in ACTIONS:
        kind = "save"
    raw_url = field(action.form, "webhook_url", MAX_URL_LENGTH * 4)
    here = f"/admin/installers/{installer_id}"
    with session_scope() as session:
        installer = session.get(Installer, installer_id)
        if installer is None:
            return not_found(request, admin, what)
        email = installer.email
        try:
            if kind == "remove":
                change = remove_webhook(installer)
            elif kind == "secret":
                change = new_webhook_secret(installer, now=now())
            else:
                change = set_webhook(
                    installer,
                    raw_url,
                    now=now(),
                    allow_local=get_settings().webhook_allow_local,
                )
        except WebhookInvalid as invalid:
            flash(
                request,
                tr(
                    admin,
                    N_("Webhook not saved: %(error)s"),
                    error=tr(admin, invalid.message, **invalid.params),
                ),
                "error",
            )
            return redirect(f"{here}#webhook")
        if change is None:
            flash(request, tr(admin, N_("%(email)s has no webhook."), email=email), "error")
            return redirect(f"{here}#webhook")
        if change.change != "unchanged":
            installer.updated_at = now()
            record_web(
                session,
                request,
                admin,
                "installer.webhook",
                object_type="installer",
                object_id=installer_id,
                summary=email,
                data={
                    "change": change.change,
                    "url": change.url,
                    "new_secret": bool(change.secret),
                },
            )
            log.info(
                "admin %s: webhook of installer %s %s", admin.email, installer_id, change.change
            )
        name = installer.name
    if change.secret:
        return render(
            request,
            "admin/installer_webhook_secret.html",
            admin=admin,
            installer_id=installer_id,
            installer_email=email,
            installer_name=name,
            url=change.url,
            secret=change.secret,
        )
    flash(request, tr(admin, DONE[change.change], email=email))
    return redirect(f"{here}#webhook")
