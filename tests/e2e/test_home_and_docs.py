"""The first pages a newcomer opens: ``/`` says where to go, and ``/api/docs`` works on a machine
without internet access (every request it makes stays on mailflow's own origin)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from mailflow.web.app import create_app
from support.servers.browser import browser_page


def test_home_page_links_the_dashboard_and_the_admin_console(settings):
    with TestClient(create_app()) as client:
        page = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert page.status_code == 200
    assert 'href="/dashboard/signin"' in page.text and 'href="/admin/login"' in page.text
    assert "Installateur-Dashboard" in page.text  # in the reader's language


def test_api_docs_are_served_by_mailflow_itself(settings, live_server):
    requested: list[str] = []
    with browser_page() as page:
        page.on("request", lambda request: requested.append(request.url))
        response = page.goto(f"{live_server}/api/docs")
        assert response is not None and response.status == 200
        # Swagger UI rendered the API's own description: its script ran and read our schema.
        page.get_by_text("List leads").wait_for(timeout=15_000)
        home = page.goto(f"{live_server}/")
        assert home is not None and home.status == 200
    origin = urlsplit(live_server).netloc
    assert requested and {urlsplit(url).netloc for url in requested if "://" in url} <= {origin}
    assert any(url.endswith("/api/docs/static/swagger-ui-bundle.js") for url in requested)
