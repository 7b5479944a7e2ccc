"""What the lead pages share."""

from __future__ import annotations

import logging

from mailflow.leads import admin_actions

log = logging.getLogger(__name__)


VIEWS = ("table", "grid", "kanban")
MAX_NOTE = 10_000
EDIT_FIELDS = (*admin_actions.EDITABLE_CUSTOMER, *admin_actions.EDITABLE_LEAD)
