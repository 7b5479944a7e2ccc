"""The installer sign-in form does not tell which addresses are installers (issue #14): the
request does the same work, known address or not (it enqueues one job, touches no table), and
the job emails only known installers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import event

from mailflow.db import get_engine
from mailflow.web.app import create_app
from support.broker import stub_broker
from support.offers import csrf_of, emails_to, load_installers

KNOWN = "contact@soleil-paris.example"
UNKNOWN = "nobody@soleil-paris.example"


def test_known_and_unknown_addresses_cost_the_request_the_same(settings, broker):
    load_installers(settings)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0])

    with TestClient(create_app()) as client:
        token = csrf_of(client.get("/dashboard/signin").text)
        work = {}
        event.listen(get_engine(settings), "before_cursor_execute", record)
        try:
            for address in (KNOWN, UNKNOWN):
                statements.clear()
                queued = len(stub_broker.queues["outbound"].queue)
                answer = client.post(
                    "/dashboard/signin", data={"csrf_token": token, "email": address}
                )
                assert answer.status_code == 200 and "on its way" in answer.text
                work[address] = (
                    list(statements),
                    len(stub_broker.queues["outbound"].queue) - queued,
                )
        finally:
            event.remove(get_engine(settings), "before_cursor_execute", record)
    assert work[KNOWN] == work[UNKNOWN] == ([], 1), work
    assert emails_to(settings, KNOWN, "signin") == []  # not yet: the job sends it


def test_the_job_emails_known_installers_only(settings, worker):
    load_installers(settings)
    with TestClient(create_app()) as client:
        token = csrf_of(client.get("/dashboard/signin").text)
        for address in (KNOWN, UNKNOWN):
            client.post("/dashboard/signin", data={"csrf_token": token, "email": address})
    stub_broker.join("outbound")
    (mail,) = emails_to(settings, KNOWN, "signin")
    assert "/l/signin/" in mail.body_text
    assert emails_to(settings, UNKNOWN) == []
