"""A lead platform's made-up notification format that the general parser does not read (no
label it knows, values under headings, a quoted-printable body), for the extraction rule
tests: learn it from one message, read the next."""

from __future__ import annotations

import quopri

SENDER = "notify@solarmatch.example"


def platform_mail(
    name: str, phone: str, email: str, postcode: str, city: str, *, number: int = 4411
) -> bytes:
    body = "\n".join(
        [
            "Hallo Team,",
            "",
            f"Anfrage {number} ist eingegangen – viel Erfolg!",
            "",
            "Wer fragt an",
            f"  {name}",
            "Wie erreichbar",
            f"  {phone} / {email}",
            "Wo",
            f"  {postcode} · {city}",
            "",
            "Ihr SolarMatch-Team",
        ]
    )
    encoded = quopri.encodestring(body.encode("utf-8")).decode("ascii")
    return (
        f"From: SolarMatch <{SENDER}>\r\n"
        "To: leads@installer.example\r\n"
        f"Subject: Anfrage {number} via SolarMatch\r\n"
        f"Message-ID: <anfrage-{number}@solarmatch.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n" + encoded.replace("\n", "\r\n")
    ).encode("ascii")
