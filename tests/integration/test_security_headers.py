"""One security-header policy per path prefix (mailflow.web.security), on every answer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mailflow.web.app import create_app


def test_every_answer_under_a_page_prefix_gets_its_policy(settings):
    with TestClient(create_app()) as client:
        answers = {
            # A framework 404 and a redirect: no page template, still private.
            "/l/nope": client.get("/l/nope"),
            "/dashboard/": client.get("/dashboard/", follow_redirects=False),
            "/dashboard/signin": client.get("/dashboard/signin"),
            "/admin/login": client.get("/admin/login"),
            "/admin/nope": client.get("/admin/nope"),
        }
    for path, answer in answers.items():
        assert answer.headers["Referrer-Policy"] == "no-referrer", path
        assert answer.headers["Cache-Control"] == "no-store", path
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], path
    assert answers["/l/nope"].headers["X-Robots-Tag"] == "noindex, nofollow"
    assert "script-src 'none'" in answers["/admin/login"].headers["Content-Security-Policy"]
    assert answers["/admin/nope"].headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_api_docs_keep_their_scripts(settings):
    with TestClient(create_app()) as client:
        docs = client.get("/api/docs")
    assert docs.status_code == 200 and "Content-Security-Policy" not in docs.headers
