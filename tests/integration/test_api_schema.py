"""schemathesis against the OpenAPI schema the app serves at /api/openapi.json (the one /api/docs
shows): generated requests to every operation, with the bearer token, never get a server error,
and every documented answer matches its schema."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from mailflow import clock
from mailflow.db import session_scope
from mailflow.routing.offers import route_lead
from mailflow.web.app import create_app
from support.offers import load_installers, new_lead
from support.web import AUTH


@pytest.fixture
def api_schema(settings, broker):
    load_installers(settings)
    ids = [
        new_lead(settings, postcode=postcode, email=f"c{i}@example.fr")
        for i, postcode in enumerate(["75010", "69003", "13001"])
    ]
    with session_scope(settings) as s:
        route_lead(s, ids[0], now=clock.now(), settings=settings)
    app = create_app()
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


def operations(api_schema) -> list:
    found = []
    for result in api_schema.get_all_operations():
        found.append(result.ok())  # an operation the schema cannot describe fails here
    return found


def test_no_server_error_and_answers_match_the_schema(api_schema):
    """Every operation, with valid and with invalid input (Hypothesis, 50 examples each; the
    pytest plugin's lazy fixtures do not work with this pytest, so the strategies are run
    directly)."""
    ran, unsatisfiable = [], []
    for operation in operations(api_schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @hypothesis_settings(
                max_examples=50,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            @given(case=strategy)
            def check(case):
                case.call_and_validate(
                    headers=AUTH, checks=[not_a_server_error, response_schema_conformance]
                )

            try:
                check()
            except Unsatisfiable:
                # Nothing in the operation can be made invalid (no parameter, no schema).
                assert mode == GenerationMode.NEGATIVE, operation.label
                unsatisfiable.append(operation.label)
                continue
            ran.append(f"{mode.value} {operation.label}")
    assert len(ran) >= 11, (ran, unsatisfiable)  # five read operations and the webhook


def test_the_docs_describe_the_read_api(settings):
    with TestClient(create_app()) as client:
        spec = client.get("/api/openapi.json").json()
        assert client.get("/api/docs").status_code == 200
    paths = spec["paths"]
    assert {
        "/api/leads",
        "/api/leads/{lead_id}",
        "/api/inbound",
        "/api/outbox",
        "/api/installers",
    } <= set(paths)
    assert not [p for p in paths if p.startswith("/admin") or p.startswith("/l/")]
    params = {p["name"] for p in paths["/api/leads"]["get"]["parameters"]}
    assert {
        "status",
        "source",
        "product",
        "postcode",
        "country",
        "installer",
        "q",
        "duplicate",
        "archived",
        "created_from",
        "created_to",
        "updated_from",
        "updated_to",
        "limit",
        "offset",
    } <= params
    answer = paths["/api/leads"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/LeadPageOut")
    lead = spec["components"]["schemas"]["LeadOut"]["properties"]
    assert {"customer", "offers", "events", "assigned_to", "details"} <= set(lead)
