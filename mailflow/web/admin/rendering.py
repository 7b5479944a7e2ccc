"""Server-side rendering of the admin pages (Jinja2, autoescaped, templates in
``templates/web/``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from mailflow.clock import as_utc, now
from mailflow.resources import templates_dir
from mailflow.web.admin.auth import CSRF_FIELD, AdminIdentity, csrf_token
from mailflow.web.admin.redaction import redact_text


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def format_instant(value: Any) -> str:
    instant = _instant(value)
    if instant is None:
        return "—" if value in (None, "") else str(value)
    return instant.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    days, rest = divmod(seconds, 86400)
    return f"{days} d {rest // 3600} h" if rest >= 3600 else f"{days} d"


def format_age(value: Any) -> str:
    instant = _instant(value)
    if instant is None:
        return "—"
    delta = (now() - instant).total_seconds()
    if delta < 0:
        return "in " + format_duration(-delta)
    return format_duration(delta) + " ago"


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir() / "web")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["instant"] = format_instant
    env.filters["age"] = format_age
    env.filters["duration"] = format_duration
    env.filters["pretty_json"] = to_json
    env.globals["csrf_field_name"] = CSRF_FIELD
    return env


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message shown once, on the next page (after the redirect of a POST)."""
    request.session["flash"] = [*request.session.get("flash", []), {"kind": kind, "text": text}]


def current_url(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def render(
    request: Request,
    template: str,
    *,
    admin: AdminIdentity | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    flashes = request.session.pop("flash", []) if admin is not None else []
    html = (
        environment()
        .get_template(template)
        .render(
            admin=admin,
            csrf_token=csrf_token(request),
            flashes=flashes,
            here=current_url(request),
            path=request.url.path,
            **context,
        )
    )
    # Pages that show email content redact it at the source (MIME bodies must be decoded
    # first); this pass catches a token in any other field (a bounce reason quoting our
    # message, an event's data, a relay's error text).
    return HTMLResponse(redact_text(html), status_code=status_code, headers=headers)
