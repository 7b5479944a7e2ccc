"""A 3,000-row lead import in headless Chromium against a real uvicorn server, run by a real
Dramatiq worker (#19): the upload lands on the import's page, which reloads itself (no script)
while the progress bar grows; the page can be reloaded; at the end the rejected rows download
as a file that holds exactly those rows, with their reasons."""

from __future__ import annotations

import csv
import io
import re
import time

from sqlalchemy import func, select

from mailflow.db import session_scope
from mailflow.models import ImportJob, Lead
from mailflow.web.admin import imports as admin_imports
from support.factories import make_admin
from support.offers import load_installers
from support.servers.browser import browser_page, screenshot, sign_in

ROWS = 3000
HEADER = ["name", "email", "phone", "postcode", "city", "country", "product"]


def row(i: int) -> tuple[list[str], str | None]:
    """Row ``i`` of the file and, when it is to be rejected, the reason the admin reads."""
    cells = [f"Client {i}", f"client{i}@example.fr", "", f"{75001 + i % 20}", "Paris", "FR", "pv"]
    if i % 97 == 5:
        cells[1] = f"client{i}(at)example.fr"
        return cells, f"email 'client{i}(at)example.fr' is not a valid email address"
    if i % 211 == 7:
        cells[3] = str(7501 + i % 9)
        return cells, f"postcode '{cells[3]}' is not a valid postcode for FR"
    if i % 331 == 9:
        cells[6] = "windmill"
        return cells, "product 'windmill' is not one of: pv, heat_pump, battery, pv_battery"
    return cells, None


def test_import_3000_rows_with_progress_reload_and_rejected_file(
    live_server, settings, worker, tmp_path, monkeypatch
):
    # The page reloads itself every second here (2 in the service): more readings of the bar.
    monkeypatch.setattr(admin_imports, "REFRESH_SECONDS", 1)
    load_installers(settings)
    make_admin(settings, email="ops@example.com")
    made = [row(i) for i in range(ROWS)]
    rejected = [(i + 2, cells, reason) for i, (cells, reason) in enumerate(made) if reason]
    assert 20 < len(rejected) < 60
    path = tmp_path / "leads-3000.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(cells for cells, _ in made)

    with browser_page() as page:
        sign_in(page, live_server, "/admin/leads/import")
        page.set_input_files("#upload-form input[type=file]", str(path))
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/admin/imports/\d+$"))

        # The page reloads itself (meta refresh); the bar's value grows between reloads.
        seen: list[int] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            page.wait_for_event("load", timeout=10_000)  # the next self-reload
            status = page.get_attribute("#import-status", "data-status")
            value = page.get_attribute("#import-progress", "value")
            assert page.locator("meta[http-equiv=refresh]").count() == (status != "done")
            if value is not None:
                assert page.get_attribute("#import-progress", "max") == str(ROWS)
                seen.append(int(value))
                if len(seen) == 3:
                    screenshot(page, "admin-import-progress.png")
            if status == "done":
                break
        assert status == "done", seen
        assert seen == sorted(seen), seen
        partial = sorted({v for v in seen if 0 < v < ROWS})
        assert len(partial) >= 2, seen  # the bar moved at least twice before the end
        assert seen[-1] == ROWS

        page.reload()  # the finished page stays as it is
        assert page.get_attribute("#import-progress", "value") == str(ROWS)
        assert page.locator("meta[http-equiv=refresh]").count() == 0
        cards = {
            card.get_attribute("data-outcome"): card.locator(".value").inner_text()
            for card in page.locator("#import-summary .card").all()
        }
        created = ROWS - len(rejected)
        assert cards == {
            "created": f"{created:,}",
            "duplicate": "0",
            "already_imported": "0",
            "rejected": str(len(rejected)),
        }
        first = rejected[0]
        assert f"row {first[0]}: {first[2]}" in page.inner_text("#rejections")
        screenshot(page, "admin-import-done.png")
        with page.expect_download() as download_info:
            page.click("#rejected-csv")
        download = download_info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)

    assert saved.name.endswith("-rejected.csv")
    got = list(csv.reader(io.StringIO(saved.read_text("utf-8-sig"))))
    assert got[0] == [*HEADER, "reason"]
    assert got[1:] == [[*cells, f"row {n}: {reason}"] for n, cells, reason in rejected]
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == created
        job = s.scalars(select(ImportJob)).one()
        assert (job.rows_done, job.created, job.rejected) == (ROWS, created, len(rejected))
