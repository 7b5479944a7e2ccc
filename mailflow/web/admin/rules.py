"""Reading a quarantined message by hand, and the extraction rules learned from it.

``/admin/inbound/{id}/read``: the message's decoded text with what was recognised highlighted,
the lead's fields pre-filled with what the parser found; "Create lead", optionally "and read
this sender's mail like this" (a rule). ``/admin/rules``: the rules with how many messages each
read; edit, delete, and re-run on the quarantined messages a rule matches (preview, confirm).
Viewers see the rules, not the messages' text; every change needs the admin role and CSRF.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.datastructures import FormData

from mailflow.clock import now
from mailflow.db import session_scope
from mailflow.domain.intake.extraction import (
    FIELDS,
    decoded_lines_of,
    highlight,
    locators_from_json,
)
from mailflow.domain.intake.schema import BuildingType, GridConnection, Product
from mailflow.infra import blobs
from mailflow.intake import corrections
from mailflow.models import ExtractionRule, InboundMessage
from mailflow.outbound.names import N_
from mailflow.web.admin.audit import record_web
from mailflow.web.admin.auth import Action, AdminIdentity, CurrentAdmin, require_action
from mailflow.web.admin.common import field, not_found, problem, redirect, valid_id
from mailflow.web.admin.redaction import redact_text
from mailflow.web.admin.rendering import flash, render, tr
from mailflow.web.deps import SettingsDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)

CHOICES = {
    "product": [p.value for p in Product],
    "building_type": [b.value for b in BuildingType],
    "grid_connection": [g.value for g in GridConnection],
}
LABELS = {
    "name": "Name",
    "email": "Email",
    "phone": "Phone",
    "street": "Street",
    "postcode": "Postcode",
    "city": "City",
    "country": "Country (ISO code)",
    "language": "Language",
    "reachability": "Reachability",
    "external_id": "External id",
    "product": "Product",
    "building_type": "Building type",
    "grid_connection": "Grid connection",
    "message": "Message",
}


def _form_values(form: FormData) -> dict[str, str]:
    return {name: field(form, name, 20000) for name in FIELDS if field(form, name, 20000)}


def _draft(form: FormData, sender_default: str) -> corrections.RuleDraft:
    scope = field(form, "rule_scope")
    sender = field(form, "rule_sender", 320) or sender_default
    if scope == "domain" and "@" in sender and not sender.startswith("@"):
        sender = "@" + sender.rpartition("@")[2]
    constants = frozenset(name for name in FIELDS if field(form, f"constant_{name}") == "on")
    return corrections.RuleDraft(sender, field(form, "rule_subject", 1000) or None, constants)


def _read_page(
    request: Request,
    admin: AdminIdentity,
    row: InboundMessage,
    raw: bytes,
    values: dict[str, str],
    errors: dict[str, str],
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    # hostile input: the template escapes every piece; links in it are redacted first
    lines = [redact_text(line) for line in decoded_lines_of(raw)] if raw else []
    sender = corrections.default_sender(raw)
    return render(
        request,
        "admin/inbound_read.html",
        admin=admin,
        status_code=status_code,
        row=row,
        lines=highlight(lines, values),
        values=values,
        errors=errors,
        fields=FIELDS,
        labels=LABELS,
        choices=CHOICES,
        sender=sender,
        domain="@" + sender.rpartition("@")[2] if "@" in sender else "",
        form=form or {},
    )


def _load(settings, inbound_id: int) -> tuple[InboundMessage | None, bytes]:
    with session_scope(settings) as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None:
            return None, b""
        raw = blobs.read(settings, row) or b""
        session.expunge(row)
        row.raw = None
    return row, raw


@router.get("/inbound/{inbound_id}/read")
def inbound_read(
    request: Request, inbound_id: int, admin: CurrentAdmin, settings: SettingsDep
) -> Response:
    if not valid_id(inbound_id):
        return not_found(request, admin, tr(admin, N_("inbound message #%(id)s"), id=inbound_id))
    if not admin.can_act:  # the message's text is personal data, as the raw source
        return problem(request, admin, 403, N_("Not allowed"), N_("Messages are for admins only."))
    row, raw = _load(settings, inbound_id)
    if row is None:
        return not_found(request, admin, tr(admin, N_("inbound message #%(id)s"), id=inbound_id))
    if not corrections.readable(row):
        flash(
            request,
            tr(admin, N_("Message #%(id)s is not a quarantined email."), id=inbound_id),
            "error",
        )
        return redirect(f"/admin/inbound/{inbound_id}")
    return _read_page(request, admin, row, raw, corrections.prefill(row.parsed), {})


@router.post("/inbound/{inbound_id}/read")
def inbound_create_lead(
    request: Request,
    inbound_id: int,
    settings: SettingsDep,
    action: Action = Depends(require_action),
) -> Response:
    admin, form = action.admin, action.form
    if not valid_id(inbound_id):
        return not_found(request, admin, tr(admin, N_("inbound message #%(id)s"), id=inbound_id))
    values = _form_values(form)
    row, raw = _load(settings, inbound_id)
    if row is None:
        return not_found(request, admin, tr(admin, N_("inbound message #%(id)s"), id=inbound_id))
    save_rule = field(form, "save_rule") == "1"
    draft = _draft(form, corrections.default_sender(raw)) if save_rule else None
    try:
        with session_scope(settings) as session:
            created = corrections.create_from_quarantine(
                session,
                inbound_id,
                values,
                draft=draft,
                by=admin.email,
                now=now(),
                settings=settings,
            )
            record_web(
                session,
                request,
                admin,
                "inbound.lead",
                object_type="inbound",
                object_id=inbound_id,
                data={"lead": created.lead_id, "outcome": created.outcome.value},
            )
            if created.rule is not None:
                record_web(
                    session,
                    request,
                    admin,
                    "rule.create",
                    object_type="rule",
                    object_id=created.rule.id,
                    summary=f"{created.rule.sender} {created.rule.subject_pattern or ''}".strip(),
                    data={"fields": [loc["field"] for loc in created.rule.locators]},
                )
    except corrections.InvalidValues as exc:
        kept = {k: field(form, k, 1000) for k in ("rule_scope", "rule_sender", "rule_subject")}
        kept.update({f"constant_{n}": "on" for n in FIELDS if field(form, f"constant_{n}")})
        return _read_page(request, admin, row, raw, values, exc.errors, form=kept, status_code=422)
    except corrections.Refusal as exc:
        flash(request, str(exc), "error")
        return redirect(f"/admin/inbound/{inbound_id}")
    log.info("admin %s created lead %s from inbound %s", admin.email, created.lead_id, inbound_id)
    text = f"Lead #{created.lead_id} created from message #{inbound_id} ({created.outcome.value})."
    if created.rule is not None:
        fields = ", ".join(loc["field"] for loc in created.rule.locators)
        text += f" Rule #{created.rule.id} saved for {created.rule.sender}: it reads {fields}."
        if created.learned and created.learned.missing:
            text += f" Not in the text, not kept: {', '.join(created.learned.missing)}."
    flash(request, text)
    return redirect(f"/admin/inbound/{inbound_id}")


# ------------------------------------------------------------------ rules -------------------
@router.get("/rules")
def rules_list(request: Request, admin: CurrentAdmin) -> Response:
    with session_scope() as session:
        rows = list(session.scalars(select(ExtractionRule).order_by(ExtractionRule.id)))
        rules = [(row, locators_from_json(row.locators)) for row in rows]
    return render(request, "admin/rules_list.html", admin=admin, rules=rules, labels=LABELS)


def _rule_page(request, admin, rule, errors=None, status_code=200) -> Response:
    return render(
        request,
        "admin/rule_edit.html",
        admin=admin,
        status_code=status_code,
        rule=rule,
        locators=locators_from_json(rule.locators),
        labels=LABELS,
        errors=errors or {},
    )


@router.get("/rules/{rule_id}")
def rule_detail(request: Request, rule_id: int, admin: CurrentAdmin) -> Response:
    if not valid_id(rule_id):
        return not_found(request, admin, tr(admin, N_("rule #%(id)s"), id=rule_id))
    with session_scope() as session:
        rule = session.get(ExtractionRule, rule_id)
        if rule is None:
            return not_found(request, admin, tr(admin, N_("rule #%(id)s"), id=rule_id))
        session.expunge(rule)
    return _rule_page(request, admin, rule)


@router.post("/rules/{rule_id}")
def rule_save(request: Request, rule_id: int, action: Action = Depends(require_action)) -> Response:
    if not valid_id(rule_id):
        return not_found(request, action.admin, tr(action.admin, N_("rule #%(id)s"), id=rule_id))
    form = action.form
    draft = corrections.RuleDraft(field(form, "sender", 320), field(form, "subject", 1000) or None)
    remove = {name for name in FIELDS if field(form, f"remove_{name}") == "on"}
    try:
        with session_scope() as session:
            rule = corrections.update_rule(session, rule_id, draft, remove=remove, now=now())
            record_web(
                session,
                request,
                action.admin,
                "rule.edit",
                object_type="rule",
                object_id=rule_id,
                summary=f"{rule.sender} {rule.subject_pattern or ''}".strip(),
                data={"removed": sorted(remove) or None},
            )
    except corrections.Refusal:
        return not_found(request, action.admin, tr(action.admin, N_("rule #%(id)s"), id=rule_id))
    except corrections.InvalidValues as exc:
        with session_scope() as session:
            rule = session.get(ExtractionRule, rule_id)
            session.expunge(rule)
        rule.sender, rule.subject_pattern = draft.sender, draft.subject_pattern
        return _rule_page(request, action.admin, rule, exc.errors, status_code=422)
    flash(request, tr(action.admin, N_("Rule #%(id)s saved."), id=rule_id))
    return redirect(f"/admin/rules/{rule_id}")


@router.post("/rules/{rule_id}/delete")
def rule_delete(
    request: Request, rule_id: int, action: Action = Depends(require_action)
) -> Response:
    if not valid_id(rule_id):
        return not_found(request, action.admin, tr(action.admin, N_("rule #%(id)s"), id=rule_id))
    try:
        with session_scope() as session:
            rule = corrections.delete_rule(session, rule_id)
            record_web(
                session,
                request,
                action.admin,
                "rule.delete",
                object_type="rule",
                object_id=rule_id,
                summary=rule.sender,
            )
    except corrections.Refusal:
        return not_found(request, action.admin, tr(action.admin, N_("rule #%(id)s"), id=rule_id))
    flash(request, tr(action.admin, N_("Rule #%(id)s deleted."), id=rule_id))
    return redirect("/admin/rules")


@router.get("/rules/{rule_id}/rerun")
def rule_rerun_preview(
    request: Request, rule_id: int, admin: CurrentAdmin, settings: SettingsDep
) -> Response:
    if not valid_id(rule_id):
        return not_found(request, admin, tr(admin, N_("rule #%(id)s"), id=rule_id))
    try:
        found = corrections.preview(settings, rule_id)
    except corrections.Refusal:
        return not_found(request, admin, tr(admin, N_("rule #%(id)s"), id=rule_id))
    return render(
        request,
        "admin/rule_rerun.html",
        admin=admin,
        rule_id=rule_id,
        found=found,
        readable=[item.inbound_id for item in found if item.read.lead is not None],
        show_values=admin.can_act,
    )


@router.post("/rules/{rule_id}/rerun")
def rule_rerun(
    request: Request,
    rule_id: int,
    settings: SettingsDep,
    action: Action = Depends(require_action),
) -> Response:
    if not valid_id(rule_id):
        return not_found(request, action.admin, tr(action.admin, N_("rule #%(id)s"), id=rule_id))
    ids = [int(v) for v in action.form.getlist("inbound") if isinstance(v, str) and v.isdigit()]
    ids = [i for i in ids if valid_id(i)][: corrections.PREVIEW_LIMIT]
    try:
        done = corrections.rerun(settings, rule_id, ids, now=now())
    except corrections.Refusal:
        return not_found(request, action.admin, tr(action.admin, N_("rule #%(id)s"), id=rule_id))
    with session_scope() as session:
        record_web(
            session,
            request,
            action.admin,
            "rule.rerun",
            object_type="rule",
            object_id=rule_id,
            data={"messages": len(ids), "leads": done},
        )
    flash(
        request,
        tr(
            action.admin,
            N_("Rule #%(id)s re-run: %(done)s of %(count)s messages became leads."),
            id=rule_id,
            done=done,
            count=len(ids),
        ),
    )
    return redirect(f"/admin/rules/{rule_id}")
