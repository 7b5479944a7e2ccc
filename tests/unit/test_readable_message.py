"""The decoded view of a message (domain/intake/readable.py): headers, text parts in their
transfer encodings and charsets, HTML as text, attachments; any bytes give a bounded view."""

from __future__ import annotations

import base64
import quopri
from email.header import Header
from email.message import EmailMessage
from email.policy import default

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.domain.intake import readable

POLISH = "Dzień dobry, proszę o wycenę pomp ciepła. Łódź, ul. Żółkiewskiego 5, zażółć gęślą jaźń."


def mail(body: bytes, ctype: str, charset: str | None, transfer: str, headers: str = "") -> bytes:
    params = f"; charset={charset}" if charset else ""
    return (
        f"From: a@example.com\r\nSubject: test\r\n{headers}MIME-Version: 1.0\r\n"
        f"Content-Type: {ctype}{params}\r\nContent-Transfer-Encoding: {transfer}\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    ("charset", "transfer"),
    [
        ("windows-1250", "quoted-printable"),
        ("cp1250", "base64"),
        ("iso-8859-2", "quoted-printable"),
        ("ISO-8859-2", "base64"),
        ("utf-8", "quoted-printable"),
        ("utf-8", "8bit"),
    ],
)
def test_text_parts_are_decoded_from_their_transfer_encoding_and_charset(charset, transfer):
    data = POLISH.encode(charset)
    body = {
        "quoted-printable": quopri.encodestring(data),
        "base64": base64.encodebytes(data),
        "8bit": data,
    }[transfer]
    view = readable.read(mail(body, "text/plain", charset, transfer))
    assert [p.text for p in view.parts] == [POLISH]
    assert view.parts[0].charset == charset and view.parts[0].note is None


def test_mislabelled_and_unknown_charsets_fall_back_sensibly():
    # UTF-8 declared as Latin-1 (a common mislabel): valid UTF-8 wins.
    view = readable.read(mail("Grüße aus Köln".encode(), "text/plain", "iso-8859-1", "8bit"))
    assert view.parts[0].text == "Grüße aus Köln"
    # An unknown charset: UTF-8, then Windows-1252, and the note says so.
    view = readable.read(mail("Café crème".encode("cp1252"), "text/plain", "x-unknown", "8bit"))
    assert view.parts[0].text == "Café crème"
    assert "x-unknown" in view.parts[0].note
    # No charset at all on 8-bit text.
    view = readable.read(mail("Zürich".encode(), "text/plain", None, "8bit"))
    assert view.parts[0].text == "Zürich"


def test_headers_are_decoded_from_rfc_2047():
    subject = Header("Zapytanie o fotowoltaikę - Łódź", "iso-8859-2").encode()
    sender = Header("Paweł Nowak", "windows-1250").encode() + " <pawel@example.pl>"
    raw = (
        f"From: {sender}\r\nTo: leads@example.com\r\nSubject: {subject}\r\n"
        "Date: Wed, 02 Dec 2026 11:15:00 +0100\r\n\r\nhello\r\n"
    ).encode()
    view = readable.read(raw)
    assert dict(view.headers) == {
        "From": "Paweł Nowak <pawel@example.pl>",
        "To": "leads@example.com",
        "Subject": "Zapytanie o fotowoltaikę - Łódź",
        "Date": "Wed, 02 Dec 2026 11:15:00 +0100",
    }
    assert "=?" not in repr(view.headers)


def test_html_is_text_and_attachments_are_listed():
    message = EmailMessage(policy=default)
    message["From"] = "form@example.com"
    message["Subject"] = "Lead"
    message.set_content("Name: Jan Kowalski")
    message.add_alternative(
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Hello <b>there</b></p><table><tr><td>Postcode</td><td>80-001</td></tr></table>"
        '<img src="https://tracker.example/x.gif" onerror="alert(2)"></body></html>',
        subtype="html",
    )
    message.add_attachment(
        b"%PDF-1.4 " + b"x" * 2000, maintype="application", subtype="pdf", filename="dach.pdf"
    )
    message.add_attachment("a,b\n1,2\n", subtype="csv", filename="Zählerstand.csv")
    view = readable.read(message.as_bytes())
    assert [(p.content_type, p.text) for p in view.parts] == [
        ("text/plain", "Name: Jan Kowalski"),
        ("text/html", "Hello there\n\nPostcode\t80-001"),
    ]
    assert view.parts[1].note == "HTML shown as text"
    assert all("<" not in p.text and "alert" not in p.text for p in view.parts)
    assert [(a.name, a.content_type, a.size) for a in view.attachments] == [
        ("dach.pdf", "application/pdf", 2009),
        ("Zählerstand.csv", "text/csv", 8),
    ]


def test_a_forwarded_message_is_read_inside():
    inner = EmailMessage(policy=default)
    inner["From"] = "Kunde <kunde@example.de>"
    inner["Subject"] = "Anfrage Wärmepumpe"
    inner.set_content("Bitte um Rückruf.")
    outer = EmailMessage(policy=default)
    outer["From"] = "partner@example.com"
    outer["Subject"] = "Fwd: Anfrage"
    outer.set_content("see below")
    outer.add_attachment(inner)
    view = readable.read(outer.as_bytes())
    texts = [p.text for p in view.parts]
    assert texts[0] == "see below"
    assert "From: Kunde <kunde@example.de>" in texts[1] and view.parts[1].depth == 1
    assert texts[2] == "Bitte um Rückruf." and view.parts[2].depth == 1


def test_long_text_is_cut_and_said_so():
    view = readable.read(
        mail(b"x" * (readable.MAX_TEXT_CHARS + 10), "text/plain", "us-ascii", "7bit")
    )
    assert len(view.parts[0].text) == readable.MAX_TEXT_CHARS and view.parts[0].truncated


def test_a_message_with_too_many_parts_is_refused_with_a_note():
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(2100))
    raw = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    view = readable.read(raw)
    assert view.parts == [] and "too complex" in view.notes[0]


def bounded(view: readable.Readable) -> None:
    assert len(view.parts) <= readable.MAX_PARTS
    assert len(view.attachments) <= readable.MAX_ATTACHMENTS
    assert sum(len(p.text) for p in view.parts) <= readable.MAX_TOTAL_CHARS
    assert all(len(p.text) <= readable.MAX_TEXT_CHARS for p in view.parts)
    assert len(view.headers) <= 5 * len(readable.HEADERS)
    assert all(len(v) <= readable.MAX_HEADER_CHARS for _, v in view.headers)
    for part in view.parts:
        assert isinstance(part.text, str)
        part.text.encode("utf-8")  # no lone surrogates: the page can always be written


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_give_a_bounded_view(raw):
    bounded(readable.read(raw))


# Bytes that look like mail: headers, encoded words, boundaries, encodings, charsets.
_PIECES = st.sampled_from(
    [
        b"From: =?utf-8?q?J=C3=A9r=C3=B4me?= <j@example.fr>\r\n",
        b"Subject: =?iso-8859-2?B?xbvzs+Y=?=\r\n",
        b"Subject: =?bogus?Q?=FF=FE?=\r\n",
        b"Content-Type: multipart/mixed; boundary=XX\r\n",
        b"Content-Type: multipart/alternative\r\n",
        b"Content-Type: text/plain; charset=cp1250\r\n",
        b'Content-Type: text/plain; charset="\x00"\r\n',
        b"Content-Type: text/html; charset=iso-8859-2\r\n",
        b"Content-Type: message/rfc822\r\n",
        b'Content-Type: application/octet-stream; name="a.pdf"\r\n',
        b"Content-Disposition: attachment; filename*=utf-8''%C5%81%C3%B3d%C5%BA.txt\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"\r\n",
        b"--XX\r\n",
        b"--XX--\r\n",
        b"=C5=81=C3=B3d=C5=BA =\r\n",
        b"SGVsbG8gd29ybGQ=\r\n",
        b"<p>Hi<br><table><tr><td>a</td><td>b</td></tr></table>\r\n",
        b"\xff\xfe\x9c\xb9 raw 8-bit\r\n",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=40)), max_size=60))
def test_mail_shaped_bytes_give_a_bounded_view(pieces):
    bounded(readable.read(b"".join(pieces)))


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300
    ).filter(lambda t: t.strip()),
    charset=st.sampled_from(["utf-8", "windows-1250", "iso-8859-2", "cp1252"]),
    transfer=st.sampled_from(["quoted-printable", "base64"]),
)
def test_text_round_trips_through_any_encoding(text, charset, transfer):
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:
        data = None
    if data is None:
        return
    body = quopri.encodestring(data) if transfer == "quoted-printable" else base64.encodebytes(data)
    view = readable.read(mail(body, "text/plain", charset, transfer))
    shown = view.parts[0].text
    if charset != "utf-8" and not data.isascii():
        try:
            # Bytes that are valid UTF-8 as well are read as UTF-8 (a mislabelled charset is
            # far likelier than, say, "ÓĽ" in Windows-1250, whose bytes spell "Ӽ" in UTF-8).
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    # What the page shows is the text, less the control characters it never shows, with Unix
    # newlines and no blank lines around it.
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    expected = "".join(c for c in expected if c not in "\u200b\u200c\u200d\u2060\ufeff\ufffe\uffff")
    assert shown == expected.strip("\n")
