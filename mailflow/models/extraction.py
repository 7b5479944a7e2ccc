"""Extraction rules: how to read one source's mail, learned from an admin's correction
(``mailflow/domain/intake/extraction.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailflow.clock import now
from mailflow.models.base import Base


class ExtractionRule(Base):
    """For mail from ``sender`` (an address, or ``@domain``) whose subject matches
    ``subject_pattern`` (none: any), the lead's fields are read where ``locators`` say, before
    the general parser is tried."""

    __tablename__ = "extraction_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(320), index=True)
    subject_pattern: Mapped[str | None] = mapped_column(String(200))
    # [{"field": "name", "kind": "prefix", "label": "Name:"}, ...] (see Locator.to_json)
    locators: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    example_inbound_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    messages_read: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None]
    # A message the rule matched but could not read into a valid lead (the general parser
    # then had its turn): how many, and why the last one failed.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[str | None] = mapped_column(Text)
