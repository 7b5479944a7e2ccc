"""The lead pages of the admin console: the pipeline summary, the lead list (table, grid and
kanban views with filters, search, sorting, chosen columns), the lead detail with its actions
(assign/reassign, back to rotation, close, archive, spam, edit, erase), internal notes and
documents; a new lead entered by hand (``create``).

Pages need a signed-in admin (``require_admin``); every POST needs the session's CSRF token and
the ``admin`` role (``require_action``): a viewer sees everything and changes nothing. Every
action is written to the audit log."""

from __future__ import annotations

from fastapi import APIRouter

from mailflow.web.admin.leads import (
    actions,
    bulk,
    create,
    detail,
    edit,
    files,
    pipeline,
    saved,
    waiting,
)

# One router holding every route of the modules, in this order (specific paths before the
# ones with parameters; FastAPI matches in order).
router = APIRouter(prefix="/admin", include_in_schema=False)
for _module in (pipeline, bulk, saved, create, waiting, detail, actions, edit, files):
    router.routes.extend(_module.router.routes)
