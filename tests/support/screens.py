"""Screenshots compared against committed references, and axe-core accessibility checks.

References live in ``tests/e2e/screens/`` as half-size greyscale PNGs (small in the repository,
and blind to the sub-pixel anti-aliasing that differs between runs). A page differs from its
reference when its size changed or more than ``MAX_CHANGED_SHARE`` of its pixels moved by more
than ``PIXEL_TOLERANCE`` grey levels; the actual image and a difference image then go to
``test-artifacts/screens/`` for a person to look at.

After an intended change of a page: ``MAILFLOW_UPDATE_SCREENS=1 pytest tests/e2e/test_page_tour.py``
rewrites the references; review them (the file tool shows PNGs) and commit them.
"""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from PIL import Image, ImageChops

from support.paths import REPO

REFERENCES = REPO / "tests" / "e2e" / "screens"
ACTUAL = REPO / "test-artifacts" / "screens"
UPDATE = os.environ.get("MAILFLOW_UPDATE_SCREENS") == "1"
PIXEL_TOLERANCE = 40
MAX_CHANGED_SHARE = 0.01
# Impacts that fail a page (axe-core's scale: minor, moderate, serious, critical).
BLOCKING_IMPACTS = ("serious", "critical")

_axe = Axe()


def _normalised(png: bytes) -> Image.Image:
    image = Image.open(BytesIO(png)).convert("L")
    return image.resize((max(image.width // 2, 1), max(image.height // 2, 1)), Image.BILINEAR)


def compare_with_reference(png: bytes, name: str) -> str | None:
    """None when the screenshot matches its reference (or the references are being
    rewritten); otherwise what differs, in words."""
    actual = _normalised(png)
    reference_path = REFERENCES / f"{name}.png"
    if UPDATE:
        REFERENCES.mkdir(parents=True, exist_ok=True)
        actual.save(reference_path, optimize=True)
        return None
    if not reference_path.exists():
        return f"{name}: no reference (run with MAILFLOW_UPDATE_SCREENS=1, review, commit)"
    reference = Image.open(reference_path).convert("L")
    problem = None
    if reference.size != actual.size:
        problem = f"{name}: size {actual.size} differs from the reference's {reference.size}"
    else:
        difference = ImageChops.difference(actual, reference)
        changed = sum(
            difference.point(lambda v: 255 if v > PIXEL_TOLERANCE else 0).histogram()[255:]
        )
        share = changed / (actual.width * actual.height)
        if share > MAX_CHANGED_SHARE:
            problem = f"{name}: {share:.1%} of the page changed"
            _keep(difference, f"{name}.diff.png")
    if problem:
        _keep(actual, f"{name}.png")
    return problem


def _keep(image: Image.Image, filename: str) -> Path:
    ACTUAL.mkdir(parents=True, exist_ok=True)
    path = ACTUAL / filename
    image.save(path)
    return path


def accessibility_problems(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    results = _axe.run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(node["target"][0] for node in violation["nodes"][:3] if node.get("target"))
        for violation in results.response["violations"]
        if violation.get("impact") in BLOCKING_IMPACTS
    ]
