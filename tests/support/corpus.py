"""Test helpers shared by several test modules."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mailflow.inbound.webhook import sign
from support.paths import CORPUS, LOCAL_CORPUS  # noqa: F401


def corpus_messages() -> list[Path]:
    paths = sorted((CORPUS / "leads").glob("*.eml"))
    local = LOCAL_CORPUS / "leads"
    if local.exists():
        paths += sorted(local.glob("*.eml"))
    return paths


def expected_for(eml: Path) -> dict:
    return json.loads(eml.with_suffix(".expected.json").read_text())


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, key: str | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Mailflow-Timestamp": ts,
        "X-Mailflow-Signature": sign(secret, ts, body),
    }
    if key:
        headers["Idempotency-Key"] = key
    return headers


OUTCOME_FOR_KIND = {
    "lead": "lead",
    "bounce": "bounce",
    "auto_reply": "auto_reply",
    "quarantine": "quarantined",
}


def assert_lead_matches(lead_json: dict, expected: dict) -> None:
    """Every key the corpus lists must match the API's view of the lead."""
    for key, value in expected.get("customer", {}).items():
        assert lead_json["customer"][key] == value, (key, lead_json["customer"][key], value)
    for key, value in expected.get("details", {}).items():
        assert lead_json["details"].get(key) == value, (key, lead_json["details"].get(key), value)
    for key, value in expected.items():
        if key in ("kind", "customer", "details"):
            continue
        assert lead_json[key] == value, (key, lead_json[key], value)
