"""Free text on one long line is kept whole, and a message over the limit is visibly cut."""

from __future__ import annotations

from mailflow.domain.intake.build import CUT_MARK, MAX_MESSAGE_CHARS
from mailflow.domain.intake.parse import parse_message


def text_lead(message: str, city: str = "Paris") -> bytes:
    return (
        "MIME-Version: 1.0\n"
        'Content-Type: text/plain; charset="utf-8"\n'
        "Content-Transfer-Encoding: 8bit\n"
        "From: Form <form@site.example>\n"
        "To: leads@localhost\n"
        "Subject: Demande\n\n"
        "Nom: Claire Martin\nEmail: claire.martin@example.fr\nTéléphone: 01 23 45 67 89\n"
        f"Code postal: 75011\nVille: {city}\nMessage: {message}\n"
    ).encode()


def test_a_message_line_of_5000_characters_is_kept_whole():
    message = " ".join(f"mot{n}" for n in range(900))
    assert 5000 < len(message) < MAX_MESSAGE_CHARS
    lead = parse_message(text_lead(message)).lead
    assert lead.message == message
    assert lead.customer.city == "Paris"


def test_a_message_over_the_limit_ends_with_a_cut_mark():
    message = "x" * (MAX_MESSAGE_CHARS + 500)
    lead = parse_message(text_lead(message)).lead
    assert len(lead.message) == MAX_MESSAGE_CHARS
    assert lead.message.endswith(CUT_MARK)
    assert lead.message.startswith("x" * 1000)
