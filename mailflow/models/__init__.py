"""Database models, one module per feature. Each feature package owns its rules; this package
imports every table so that Alembic (mailflow/migrations/env.py) sees one metadata, and
re-exports them so callers write ``from mailflow.models import Lead``."""

from mailflow.domain.statuses import Actor, LeadStatus, OfferStatus
from mailflow.models.admin import (
    AdminAlert,
    AdminSession,
    AdminUser,
    AuditEntry,
    LoginThrottle,
    ServiceStatus,
)
from mailflow.models.base import NAMING, Base, UTCDateTime, enum_type
from mailflow.models.decisions import RoutingDecision
from mailflow.models.extraction import ExtractionRule
from mailflow.models.imports import ImportJob, ImportRejection
from mailflow.models.installers import Installer, InstallerSession
from mailflow.models.intake import (
    Channel,
    InboundMessage,
    InboundOutcome,
    WebhookKey,
    WebhookSignature,
)
from mailflow.models.leads import (
    HELD_STATUSES,
    Lead,
    LeadDocument,
    LeadEvent,
    LeadNote,
    LeadSearchTerm,
)
from mailflow.models.links import LinkNonce
from mailflow.models.offers import Offer
from mailflow.models.outbox import BounceEvent, OutboxMessage, OutboxState
from mailflow.models.ratings import Survey, TierChange
from mailflow.models.reports import ReportSample
from mailflow.models.returns import LeadReturn
from mailflow.models.saved_filters import SavedFilter
from mailflow.models.timers import Timer, TimerStatus
from mailflow.models.visits import SiteVisit

__all__ = [
    "HELD_STATUSES",
    "NAMING",
    "Actor",
    "AdminAlert",
    "AdminSession",
    "AdminUser",
    "AuditEntry",
    "Base",
    "BounceEvent",
    "Channel",
    "ExtractionRule",
    "ImportJob",
    "ImportRejection",
    "InboundMessage",
    "InboundOutcome",
    "Installer",
    "InstallerSession",
    "Lead",
    "LeadDocument",
    "LeadEvent",
    "LeadNote",
    "LeadReturn",
    "LeadSearchTerm",
    "LeadStatus",
    "LinkNonce",
    "LoginThrottle",
    "Offer",
    "OfferStatus",
    "OutboxMessage",
    "OutboxState",
    "ReportSample",
    "RoutingDecision",
    "SavedFilter",
    "ServiceStatus",
    "SiteVisit",
    "Survey",
    "TierChange",
    "Timer",
    "TimerStatus",
    "UTCDateTime",
    "WebhookKey",
    "WebhookSignature",
    "enum_type",
]
