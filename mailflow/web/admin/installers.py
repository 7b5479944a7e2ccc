"""The installer pages of the admin console: the list (tier, score, capacity, open leads,
active/vacation/bounce flags, service areas), create, edit, deactivate and reactivate, and
clearing the flag of an address that bounced.
Import and export live in ``data.py``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from mailflow.clock import now
from mailflow.config import get_settings
from mailflow.db import session_scope
from mailflow.domain.calendar import parse_working_hours
from mailflow.domain.intake.schema import error_map
from mailflow.installers.io import TIERS, InstallerRow
from mailflow.intake.bounces import bounce_history, clear_bounce_flag
from mailflow.models import HELD_STATUSES, Installer, Lead, Offer, TierChange
from mailflow.outbound.names import N_
from mailflow.ratings.service import pin_tier
from mailflow.routing.standing import installer_standing
from mailflow.routing.withdrawals import withdraw_open_offers_of
from mailflow.web.admin import lead_queries as lq
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, CurrentAdmin, require_action
from mailflow.web.admin.common import field, not_found, redirect, valid_id
from mailflow.web.admin.rendering import flash, render, tr

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

FIELDS = (
    "email",
    "name",
    "company",
    "phone",
    "language",
    "country",
    "timezone",
    "postcodes",
    "tier",
    "capacity",
    "cap_day",
    "cap_week",
    "cap_month",
)
STATES = ("active", "inactive", "vacation", "bounced")
PAGE_SIZE = 100


def _flags(installer: Installer, at) -> list[str]:
    flags = []
    if not installer.active:
        flags.append("inactive")
    if (
        installer.vacation_from is not None
        and installer.vacation_until is not None
        and installer.vacation_until > at
    ):
        flags.append("vacation" if installer.vacation_from <= at else "vacation planned")
    if installer.bounced_at is not None:
        flags.append("bounced")
    if installer.tier_pinned:
        flags.append("tier pinned")
    return flags


@router.get("/installers")
def installer_list(
    request: Request,
    admin: CurrentAdmin,
    q: str | None = None,
    country: str | None = None,
    tier: str | None = None,
    state: str | None = None,
    page: int = 1,
) -> Response:
    at = now()
    q = (q or "").strip()[:100]
    country = (country or "").strip().upper()[:2]
    tier = tier if tier in TIERS else ""
    state = state if state in STATES else ""
    page = min(max(page, 1), 10_000)
    query = select(Installer)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            or_(
                func.lower(Installer.email).like(like),
                func.lower(Installer.name).like(like),
                func.lower(Installer.company).like(like),
                Installer.postcodes.like(f"%{q.upper()}%"),
            )
        )
    if country:
        query = query.where(Installer.country == country)
    if tier:
        query = query.where(Installer.tier == tier)
    if state == "active":
        query = query.where(Installer.active.is_(True))
    elif state == "inactive":
        query = query.where(Installer.active.is_(False))
    elif state == "vacation":
        query = query.where(Installer.vacation_until > at, Installer.vacation_from.is_not(None))
    elif state == "bounced":
        query = query.where(Installer.bounced_at.is_not(None))
    with session_scope() as session:
        rows = list(
            session.scalars(
                query.order_by(Installer.email).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
            )
        )
        held = lq.open_leads_by_installer(session, [i.id for i in rows])
        countries = list(
            session.scalars(select(Installer.country).distinct().order_by(Installer.country))
        )
        total = session.scalar(select(func.count()).select_from(Installer)) or 0
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    params = {"q": q, "country": country, "tier": tier, "state": state}
    return render(
        request,
        "admin/installers_list.html",
        admin=admin,
        rows=[(i, held.get(i.id, 0), _flags(i, at)) for i in rows],
        params=params,
        tiers=TIERS,
        states=STATES,
        countries=countries,
        total=total,
        page=page,
        prev_url=lq.url_with("/admin/installers", {**params, "page": page - 1})
        if page > 1
        else None,
        next_url=lq.url_with("/admin/installers", {**params, "page": page + 1})
        if has_next
        else None,
    )


def _form_values(installer: Installer | None) -> dict[str, str]:
    if installer is None:
        return {
            "language": "en",
            "timezone": "Europe/Paris",
            "tier": "bronze",
            "capacity": "10",
            "country": "FR",
        }
    return {
        name: "" if getattr(installer, name) is None else str(getattr(installer, name))
        for name in (*FIELDS, "working_hours")
    }


def _form_page(request, admin, installer, values, errors, status_code=200, **extra) -> Response:
    settings = get_settings()
    if installer is not None and "standing" not in extra:
        with session_scope() as session:
            row = session.get(Installer, installer.id)
            extra["standing"] = (
                installer_standing(session, row, now(), settings) if row is not None else None
            )
    return render(
        request,
        "admin/installer_detail.html",
        admin=admin,
        status_code=status_code,
        installer=installer,
        values=values,
        errors=errors,
        tiers=TIERS,
        held=extra.pop("held", []),
        offers=extra.pop("offers", []),
        changes=extra.pop("changes", []),
        open_leads=extra.pop("open_leads", 0),
        flags=extra.pop("flags", []),
        bounces=extra.pop("bounces", []),
        standing=extra.pop("standing", None),
        default_working_hours=settings.working_hours,
        max_pending_offers=settings.max_pending_offers,
        pacing_day_percent=f"{settings.pacing_day_percent:g}",
        pacing_week_percent=f"{settings.pacing_week_percent:g}",
        admin_digest_minutes=f"{settings.admin_digest_minutes:g}",
        **extra,
    )


def _working_hours(text: str) -> str | None:
    """The form's working hours, normalised as the import does (``mon-fri 08:00-18:00``);
    empty = None (the MAILFLOW_WORKING_HOURS setting). ValueError if they do not parse."""
    return str(parse_working_hours(text)) if text.strip() else None


def _validate(
    form, admin
) -> tuple[InstallerRow | None, str | None, dict[str, str], dict[str, str]]:
    """The form's row and working hours, the values as typed, and the errors by field."""
    values = {name: field(form, name, 5000) for name in (*FIELDS, "working_hours")}
    data = {k: v for k, v in values.items() if v != "" and k != "working_hours"}
    errors: dict[str, str] = {}
    hours = None
    try:
        hours = _working_hours(values["working_hours"])
    except ValueError:
        errors["working_hours"] = tr(
            admin,
            N_(
                "not understood: write the days, then the hours, e.g. “mon-fri 08:00-18:00” or "
                "“mon,tue,thu 07:30-16:00” (days mon to sun, the end after the start); leave "
                "empty for the default"
            ),
        )
    try:
        row = InstallerRow.model_validate(data)
    except ValidationError as exc:
        return None, hours, values, {**error_map(exc), **errors}
    return (None if errors else row), hours, values, errors


@router.get("/installers/new")
def installer_new_form(request: Request, admin: CurrentAdmin) -> Response:
    return _form_page(request, admin, None, _form_values(None), {})


@router.post("/installers/new")
def installer_create(request: Request, action: Action = Depends(require_action)) -> Response:
    row, hours, values, errors = _validate(action.form, action.admin)
    if row is not None:
        with session_scope() as session:
            if session.scalar(select(Installer.id).where(Installer.email == row.email)):
                errors = {"email": "an installer with this email exists already"}
            else:
                at = now()
                installer = Installer(
                    **row.model_dump(),
                    working_hours=hours,
                    created_at=at,
                    updated_at=at,
                    last_action_at=at,
                )
                session.add(installer)
                session.flush()
                installer_id = installer.id
                record_web(
                    session,
                    request,
                    action.admin,
                    "installer.create",
                    object_type="installer",
                    object_id=installer_id,
                    summary=row.email,
                )
    if errors:
        return _form_page(request, action.admin, None, values, errors, 422)
    flash(request, tr(action.admin, N_("Installer %(email)s created."), email=row.email))
    return redirect(f"/admin/installers/{installer_id}")


@router.get("/installers/{installer_id}")
def installer_detail(request: Request, installer_id: int, admin: CurrentAdmin) -> Response:
    if not valid_id(installer_id):
        return not_found(request, admin, tr(admin, N_("installer #%(id)s"), id=installer_id))
    with session_scope() as session:
        installer = session.get(Installer, installer_id)
        if installer is None:
            return not_found(request, admin, tr(admin, N_("installer #%(id)s"), id=installer_id))
        held = list(
            session.execute(
                select(Lead.id, Lead.status, Lead.postcode, Lead.city, Lead.accepted_at)
                .where(Lead.assigned_installer_id == installer.id, Lead.status.in_(HELD_STATUSES))
                .order_by(Lead.id.desc())
                .limit(100)
            )
        )
        offers = list(
            session.scalars(
                select(Offer)
                .where(Offer.installer_id == installer.id)
                .options(joinedload(Offer.lead))
                .order_by(Offer.id.desc())
                .limit(30)
            )
        )
        changes = list(
            session.scalars(
                select(TierChange)
                .where(TierChange.installer_id == installer.id)
                .order_by(TierChange.id.desc())
                .limit(20)
            )
        )
        open_leads = lq.open_leads_by_installer(session, [installer.id]).get(installer.id, 0)
        bounces = bounce_history(session, installer.id)
    return _form_page(
        request,
        admin,
        installer,
        _form_values(installer),
        {},
        held=held,
        offers=offers,
        changes=changes,
        open_leads=open_leads,
        flags=_flags(installer, now()),
        bounces=bounces,
    )


@router.post("/installers/{installer_id}")
def installer_update(
    request: Request, installer_id: int, action: Action = Depends(require_action)
) -> Response:
    if not valid_id(installer_id):
        return not_found(
            request, action.admin, tr(action.admin, N_("installer #%(id)s"), id=installer_id)
        )
    row, hours, values, errors = _validate(action.form, action.admin)
    pin = field(action.form, "tier_pinned") == "yes"
    with session_scope() as session:
        installer = session.get(Installer, installer_id)
        if installer is None:
            return not_found(
                request, action.admin, tr(action.admin, N_("installer #%(id)s"), id=installer_id)
            )
        if (
            row is not None
            and row.email != installer.email
            and session.scalar(select(Installer.id).where(Installer.email == row.email))
        ):
            errors = {"email": "an installer with this email exists already"}
        if errors:
            session.expunge(installer)
        else:
            at = now()
            changed = []
            for name, value in row.model_dump().items():
                if getattr(installer, name) != value:
                    changed.append(name)
                    if name == "tier":
                        # Recorded, pinned (a tier set by hand stays until an admin unpins
                        # it) and told to the installer, as any tier change.
                        pin_tier(
                            session,
                            installer,
                            value,
                            admin=action.admin.email,
                            now=at,
                            settings=get_settings(),
                        )
                        continue
                    setattr(installer, name, value)
            # A form without the field (an older page) leaves the hours as they are.
            if "working_hours" in action.form and installer.working_hours != hours:
                installer.working_hours = hours
                changed.append("working_hours")
            if "tier" in changed and not pin:
                pin = True  # a tier set by hand stays until an admin unpins it
            if installer.tier_pinned != pin:
                installer.tier_pinned = pin
                changed.append("tier_pinned")
            if changed:
                installer.updated_at = at
                record_web(
                    session,
                    request,
                    action.admin,
                    "installer.edit",
                    object_type="installer",
                    object_id=installer.id,
                    summary=installer.email,
                    data={"fields": changed},
                )
    if errors:
        return _form_page(request, action.admin, installer, values, errors, 422)
    flash(
        request,
        tr(action.admin, N_("Saved: %(fields)s."), fields=", ".join(changed))
        if changed
        else tr(action.admin, N_("Nothing changed.")),
    )
    return redirect(f"/admin/installers/{installer_id}")


def _set_active(request: Request, installer_id: int, action: Action, active: bool) -> Response:
    if not valid_id(installer_id):
        return not_found(
            request, action.admin, tr(action.admin, N_("installer #%(id)s"), id=installer_id)
        )
    at = now()
    with session_scope() as session:
        installer = session.get(Installer, installer_id)
        if installer is None:
            return not_found(
                request, action.admin, tr(action.admin, N_("installer #%(id)s"), id=installer_id)
            )
        email = installer.email
        # An installer paused for inactivity can still be deactivated by an admin (which the
        # installer cannot undo from the dashboard, unlike the pause).
        if installer.active == active and (active or installer.deactivated_by_admin):
            flash(
                request,
                tr(action.admin, N_("%(email)s is active already."), email=email)
                if active
                else tr(action.admin, N_("%(email)s is deactivated already."), email=email),
                "error",
            )
            return redirect(f"/admin/installers/{installer_id}")
        installer.active = active
        installer.deactivated_by_admin = not active
        installer.updated_at = at
        if active:
            # A fresh start: the 8-week silence rule counts from now.
            installer.deactivated_at, installer.last_action_at = None, at
        else:
            installer.deactivated_at = at
            # Their open offers go to the next installers at once (one email tells them).
            withdrawn = withdraw_open_offers_of(session, installer, now=at, settings=get_settings())
        held = lq.open_leads_by_installer(session, [installer_id]).get(installer_id, 0)
        record_web(
            session,
            request,
            action.admin,
            "installer.activate" if active else "installer.deactivate",
            object_type="installer",
            object_id=installer_id,
            summary=email,
        )
    if active:
        flash(
            request,
            tr(action.admin, N_("%(email)s is active again: they get offers."), email=email),
        )
    else:
        flash(
            request,
            tr(action.admin, N_("%(email)s is deactivated: no more offers."), email=email)
            + (
                " "
                + tr(
                    action.admin,
                    N_("%(count)s open offer(s) withdrawn and offered to others."),
                    count=len(withdrawn),
                )
                if withdrawn
                else ""
            )
            + (
                " "
                + tr(
                    action.admin,
                    N_("They still hold %(count)s lead(s): reassign them from the lead pages."),
                    count=held,
                )
                if held
                else ""
            ),
        )
    return redirect(f"/admin/installers/{installer_id}")


@router.post("/installers/{installer_id}/deactivate")
def installer_deactivate(
    request: Request, installer_id: int, action: Action = Depends(require_action)
) -> Response:
    return _set_active(request, installer_id, action, False)


@router.post("/installers/{installer_id}/activate")
def installer_activate(
    request: Request, installer_id: int, action: Action = Depends(require_action)
) -> Response:
    return _set_active(request, installer_id, action, True)


@router.post("/installers/{installer_id}/clear-bounce")
def installer_clear_bounce(
    request: Request, installer_id: int, action: Action = Depends(require_action)
) -> Response:
    """The address works again (the installer fixed their mailbox): offers go to it again,
    and only bounces from now on count towards the next flag."""
    if not valid_id(installer_id):
        return not_found(
            request, action.admin, tr(action.admin, N_("installer #%(id)s"), id=installer_id)
        )
    with session_scope() as session:
        installer = session.get(Installer, installer_id)
        if installer is None:
            return not_found(
                request, action.admin, tr(action.admin, N_("installer #%(id)s"), id=installer_id)
            )
        email, reason = installer.email, installer.bounce_reason
        cleared = clear_bounce_flag(installer, now=now())
        if cleared:
            record_web(
                session,
                request,
                action.admin,
                "installer.clear_bounce",
                object_type="installer",
                object_id=installer_id,
                summary=email,
                data={"bounce_reason": reason},
            )
    if cleared:
        flash(
            request,
            tr(
                action.admin,
                N_("%(email)s: bounce flag cleared, offers go to this address again."),
                email=email,
            ),
        )
    else:
        flash(
            request,
            tr(action.admin, N_("%(email)s is not flagged as bouncing."), email=email),
            "error",
        )
    return redirect(f"/admin/installers/{installer_id}")
