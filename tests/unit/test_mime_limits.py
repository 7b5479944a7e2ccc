"""A message with a huge number of MIME parts does not hold a worker: it is quarantined with a
reason, quickly, without being parsed."""

from __future__ import annotations

import time

from mailflow.domain.intake.mime import MAX_PARTS
from mailflow.domain.intake.parse import parse_message

HEAD = (
    b"From: Claire <claire@example.fr>\r\nTo: leads@localhost\r\nSubject: Lead\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
)
LEAD_PART = (
    b"--B\r\nContent-Type: text/plain\r\n\r\nName: Claire Dubois\r\nEmail: claire@example.fr\r\n"
    b"Postcode: 75010\r\n"
)


def many_parts(count: int) -> bytes:
    part = b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return HEAD + LEAD_PART + part * count + b"--B--\r\n"


def nested(depth: int) -> bytes:
    raw = b"Content-Type: text/plain\r\n\r\nName: Claire Dubois\r\n"
    for level in range(depth):
        raw = b"Content-Type: multipart/mixed; boundary=L%d\r\n\r\n--L%d\r\n%s\r\n--L%d--\r\n" % (
            level,
            level,
            raw,
            level,
        )
    return b"From: a@example.fr\r\nTo: leads@localhost\r\nMIME-Version: 1.0\r\n" + raw


def test_a_hundred_thousand_parts_are_quarantined_in_a_moment():
    raw = many_parts(100_000)
    started = time.monotonic()
    result = parse_message(raw)
    assert time.monotonic() - started < 2
    assert result.kind == "quarantine"
    assert f"more than {MAX_PARTS} MIME parts" in result.reason


def test_deep_nesting_is_quarantined_in_a_moment():
    started = time.monotonic()
    result = parse_message(nested(5000))
    assert time.monotonic() - started < 2
    assert result.kind == "quarantine"
    assert "MIME parts" in result.reason


def test_an_ordinary_multipart_lead_is_still_read():
    result = parse_message(many_parts(20))
    assert result.kind == "lead", result.reason
