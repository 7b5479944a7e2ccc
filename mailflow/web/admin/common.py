"""Small helpers shared by the admin console's pages (leads, installers, data)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from mailflow.outbound.names import N_
from mailflow.web.admin.auth import Action, AdminIdentity, Refused, safe_next
from mailflow.web.admin.rendering import render, tr

MAX_ID = 2**31 - 1
# Names a document or an import file may not have: path separators, control and shell/Windows
# special characters, leading dots (hidden files), "..", Windows device names.
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_WINDOWS_DEVICES = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
MAX_FILENAME = 200


def field(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def after(action: Action, default: str) -> RedirectResponse:
    return redirect(safe_next(field(action.form, "next"), default=default))


def problem(
    request: Request, admin: AdminIdentity | None, status_code: int, title: str, message: str
) -> Response:
    return render(
        request,
        "admin/error.html",
        admin=admin,
        status_code=status_code,
        # Titles and messages are English msgids (marked N_) or already in the admin's words.
        title=tr(admin, title),
        message=tr(admin, message),
    )


def not_found(request: Request, admin: AdminIdentity, what: str) -> Response:
    return problem(
        request, admin, 404, N_("Not found"), tr(admin, N_("There is no %(what)s."), what=what)
    )


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def safe_filename(name: Any) -> str | None:
    """The name as given when it is safe to show and send back, else None (refused)."""
    if not isinstance(name, str):
        return None
    name = unicodedata.normalize("NFC", name)
    if not name or len(name) > MAX_FILENAME or _UNSAFE_NAME.search(name):
        return None
    if name != name.strip() or name.startswith(".") or name.endswith(".") or ".." in name:
        return None
    if name.split(".")[0].upper() in _WINDOWS_DEVICES:
        return None
    return name


def upload(form: FormData, name: str = "file") -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) else None


def check_content_length(request: Request, limit: int) -> None:
    """Refuse an upload larger than ``limit`` (plus form overhead) before reading it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise Refused(413, f"The file is too large: at most {limit // (1024 * 1024)} MB.")
