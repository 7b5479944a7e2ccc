"""Where things are: the checkout, the shared lead corpus next to it and the local one."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
LOCAL_CORPUS = TESTS / "corpus"
BENCH = REPO / "bench"
