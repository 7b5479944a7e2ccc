"""Which database the tests run on."""

from __future__ import annotations

import os


def use_postgres() -> bool:
    return bool(
        os.environ.get("MAILFLOW_TEST_POSTGRES") or os.environ.get("MAILFLOW_TEST_DATABASE_URL")
    )
