"""Bounds on the work of parsing one message: a lead fits in far less, and the work stays bounded
whatever arrives (the intake limit is 10 MB)."""

from __future__ import annotations

MAX_BODY_CHARS = 1_000_000
MAX_LINES = 5000
