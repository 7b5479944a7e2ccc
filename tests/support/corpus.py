"""The lead corpus (shared and local): its messages, what each should give, and how to check it."""

from __future__ import annotations

import json
from pathlib import Path

from support.paths import CORPUS, LOCAL_CORPUS


def corpus_messages() -> list[Path]:
    paths = sorted((CORPUS / "leads").glob("*.eml"))
    local = LOCAL_CORPUS / "leads"
    if local.exists():
        paths += sorted(local.glob("*.eml"))
    return paths


def expected_for(eml: Path) -> dict:
    return json.loads(eml.with_suffix(".expected.json").read_text())


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
