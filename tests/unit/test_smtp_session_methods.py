"""The intake's SMTP session lists its command and AUTH methods once per class (#21): it must
still offer exactly what aiosmtpd's own session offers, bound to the connection's session."""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP

from mailflow.inbound.smtp import IntakeSMTP


class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def test_the_intake_session_has_aiosmtpd_s_commands_and_auth_mechanisms():
    loop = asyncio.new_event_loop()
    try:
        stock = SMTP(Handler(), loop=loop)
        first = IntakeSMTP(Handler(), limits=None, data_timeout=10, loop=loop)
        second = IntakeSMTP(Handler(), limits=None, data_timeout=10, loop=loop)
    finally:
        loop.close()
    assert first._smtp_methods.keys() == stock._smtp_methods.keys()
    assert first._auth_methods.keys() == stock._auth_methods.keys()
    assert "DATA" in first._smtp_methods and "LOGIN" in first._auth_methods
    # Each connection's methods are its own session's (the intake's DATA, not aiosmtpd's).
    for session in (first, second):
        data = session._smtp_methods["DATA"]
        assert data.__self__ is session and data.__func__ is IntakeSMTP.smtp_DATA
    assert first._handle_hooks.keys() == {"DATA"}
