"""The installer dashboard ``/dashboard/`` (PRODUCT.md §5 and §7).

Installers have no password: ``/dashboard/signin`` emails a one-time sign-in link
(``/l/signin/<token>``, handled in :mod:`mailflow.web.links.vacation`), whose ``POST`` starts a
session. Sessions are rows of ``installer_sessions`` (server side: signing out or expiry ends
them for good); the cookie holds only the row's random id, signed with itsdangerous under every
configured key (newest signs, older ones still verify). Each session has its own CSRF token,
which every dashboard form echoes. The sign-in form itself, shown before there is a session,
uses a double-submit cookie limited to ``/dashboard``.

Pages: the leads in tabs (new, in progress, follow-up, finished), one lead with the customer's
contact details, progress, timeline and the status form, and the settings (vacation, language,
weekly summary). A lead page exists only for the installer who holds the lead: anyone else gets
the same 404 as for a lead that does not exist."""

from __future__ import annotations

from fastapi import APIRouter

from mailflow.web.dashboard import exchange, home, lead, returns, score, settings, signin, visits

# One router holding every route of the modules, in this order (specific paths before the
# ones with parameters; FastAPI matches in order).
router = APIRouter()
for _module in (signin, home, exchange, lead, returns, settings, score, visits):
    router.routes.extend(_module.router.routes)
