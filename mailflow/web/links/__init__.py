"""Link pages ``/l/...`` reached from email: offers (accept, decline, reveal), status steps,
the customer's survey, sign-in and vacation. Their plumbing is shared: CSRF in
:mod:`mailflow.web.csrf`, language in :mod:`mailflow.web.deps`, problem pages in
:mod:`mailflow.web.errors`."""

from fastapi import APIRouter

from mailflow.web.links import offers, returns, status, survey, vacation

# One router, in matching order: the fixed first segments (status, survey, signin, vacation)
# before the generic ``/l/{action}/{token}`` of the offers.
router = APIRouter()
for _module in (status, returns, survey, vacation, offers):
    router.routes.extend(_module.router.routes)
