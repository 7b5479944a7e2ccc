"""Each header of a message read for intake is parsed once (#21): the stdlib parses a header
again at every read, and reading a lead asks for the same headers dozens of times."""

from __future__ import annotations

from email.headerregistry import HeaderRegistry

from mailflow.domain.intake.mime import content_type, header, message_from_bytes, param

RAW = (
    b"From: Formulaire <formulaire@example.fr>\r\n"
    b"Subject: =?utf-8?q?Nouvelle_demande_=C3=A9t=C3=A9?=\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Nom : Camille Roche\r\n"
)


def test_a_header_read_again_is_not_parsed_again(monkeypatch):
    parsed: list[str] = []
    original = HeaderRegistry.__call__

    def counting(self, name, value):
        parsed.append(name)
        return original(self, name, value)

    monkeypatch.setattr(HeaderRegistry, "__call__", counting)
    message = message_from_bytes(RAW)
    for _ in range(5):
        assert header(message, "Subject") == "Nouvelle demande été"
        assert content_type(message) == "text/plain"
        assert param(message, "charset") == "utf-8"
    assert parsed.count("Subject") == 1
    assert parsed.count("Content-Type") == 1


def test_messages_do_not_share_what_their_headers_parsed_to():
    first, second = message_from_bytes(RAW), message_from_bytes(RAW)
    assert first["Subject"] == second["Subject"]
    assert first.policy.header_factory is not second.policy.header_factory
    assert first["Subject"] is first["Subject"]
