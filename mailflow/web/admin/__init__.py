"""Admin pages (password login, CSRF-protected forms).

``install(app)`` mounts everything the pages need: the routes under ``/admin``, the session
cookie (``mailflow_admin``, path ``/admin``, signed with ``MAILFLOW_SECRET_KEYS``), and the
handlers that turn "not signed in" into a redirect to the login form and refusals into a 403
page. The security headers come from :mod:`mailflow.web.security`, for every path.
"""

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from mailflow.config import get_settings
from mailflow.outbound.names import N_
from mailflow.web.admin import (
    audit,
    data,
    imports,
    installer_webhooks,
    installers,
    leads,
    login,
    monitor,
    people,
    reports,
    returns,
    review,
    rules,
)
from mailflow.web.admin.auth import CSRF_REFUSED, LoginRequired, Refused, login_url
from mailflow.web.admin.rendering import console_language, render, tr
from mailflow.web.admin.security import AdminSessionMiddleware


def install(app: FastAPI) -> None:
    """Mount the admin pages and what they need (sessions) on the app."""
    settings = get_settings()
    if not settings.signing_keys:
        raise RuntimeError("MAILFLOW_SECRET_KEYS holds no key: the admin session cannot be signed")
    for router in [*page_routers(), *console_routers(), *account_routers()]:
        app.include_router(router)
    app.add_middleware(
        AdminSessionMiddleware,
        signing_keys=settings.signing_keys,
        https_only=settings.base_url.lower().startswith("https://"),
    )

    @app.exception_handler(LoginRequired)
    async def _login_required(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        return refusal_page(request, exc)


def refusal_page(request: Request, exc: Refused) -> Response:
    # A refusal's message is an English msgid (marked N_): shown in the reader's language.
    language = console_language(request, exc.admin)
    return render(
        request,
        "admin/error.html",
        admin=exc.admin,
        status_code=exc.status_code,
        title=tr(language, N_("Not allowed")),
        message=tr(language, exc.message),
    )


def csrf_refusal_page(request: Request) -> Response:
    """A form of the admin pages whose CSRF token does not match (see :mod:`mailflow.web.csrf`)."""
    return refusal_page(request, Refused(403, CSRF_REFUSED))


def page_routers() -> list:
    """The sign-in, the mail-queue monitor (outbox, inbound) and the extraction rules."""
    return [login.router, monitor.router, rules.router]


def console_routers() -> list:
    """The admin console's routers (pipeline, leads, installers, data, audit), in matching
    order: fixed paths such as ``/admin/leads/export.csv`` before ``/admin/leads/{lead_id}``."""
    return [
        data.router,
        imports.router,
        leads.router,
        installers.router,
        installer_webhooks.router,
        audit.router,
        review.router,
        reports.router,
        returns.router,
    ]


def account_routers() -> list:
    """The admin users' pages (``/admin/users``: admins only, viewers refused), everyone's own
    preferences (viewers too) and the invitation and reset link pages (no session: the link
    is the credential). Their access rules differ from the console's (where a viewer reads
    every page): tests/integration/test_admin_users.py checks them."""
    return [people.router]
