"""Building the MIME message of an email at queue time: the current builder
(``build_message(...).as_bytes(policy=WIRE_POLICY)``), the new one (``build_raw``) and a bare
standard-library baseline, over the same rendered offers and reminders, in one run.

    python bench/message.py [N]

Renders N offer emails and N reminder emails (the real templates, in the four languages, with
the context their composers give), makes each an outbox row as ``queue_email`` does, then
times, per message: building it as before, building it with ``build_raw``, and the baseline (an
``EmailMessage`` with the same From/To/Subject and text set by ``set_content`` /
``add_alternative``, then ``as_bytes()``). Prints µs per message and the ratios; rendering the
templates is printed beside, for scale (it is not part of either builder). No database.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from mailflow.config import get_settings
from mailflow.i18n import LANGUAGES
from mailflow.models import Installer, Lead, LeadStatus, OutboxMessage
from mailflow.outbound import emails
from mailflow.outbound.message import WIRE_POLICY, build_message, build_raw, new_message_id
from mailflow.outbound.templates import render_email, warm_up

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
URL = "https://mailflow.example/l/o/ZXlKaGJHY2lPaUpJVXpJMU5pSjkuZXlKemRXSWlPaUl4TWpNME5UWTNPRGt3In0"


def people(i: int, language: str) -> tuple[Lead, Installer]:
    lead = Lead(
        id=100_000 + i,
        customer_name="Zoë Nowak-Dubois" if i % 2 else "Jürgen Łukasiewicz",
        email="zoe@example.org",
        phone="+33140347000",
        street="Quai de Valmy 167",
        postcode="75010",
        city="Paris",
        country="FR",
        language=language,
        product="pv" if i % 3 else "heat_pump",
        building_type="residential",
        details={"annual_consumption_kwh": 3100.5 + i, "module_count": 13},
        status=LeadStatus.FOLLOW_UP,
    )
    installer = Installer(
        id=7 + i % 50,
        name="Camille Roux",
        company="Soleil Paris SARL",
        email=f"contact{i % 50}@soleil-paris.example",
        phone="+33123456789",
        language=language,
        timezone="Europe/Paris",
        tier="gold",
    )
    lead.assigned_installer_id = installer.id
    return lead, installer


def specs(n: int) -> list[emails.EmailSpec]:
    made = []
    for i in range(n):
        language = LANGUAGES[i % len(LANGUAGES)]
        lead, inst = people(i, language)
        offer = emails.offer_email(
            lead,
            inst,
            deadline=NOW + timedelta(hours=4),
            accept_url=URL,
            decline_url=URL,
            vacation_url=URL,
            now=NOW,
            why="best_score",
        )
        offer.headers["Reply-To"] = f"reply+{i:06d}-k2j4h5g6f7d8s9a0@mailflow.example"
        links = [{"step": "quote_sent", "label": "Quote sent", "url": URL}] * 4
        reminder = emails.reminder_email(
            lead,
            inst,
            reason="You asked to be reminded of lead #%(ref)s today.",
            status_links=links,
            vacation_url=URL,
            lead_url=URL,
        )
        made += [offer, reminder]
    return made


def rows(n: int, settings) -> tuple[list[OutboxMessage], float]:
    out = []
    started = time.perf_counter()
    for i, spec in enumerate(specs(n)):
        rendered = render_email(
            spec.template, spec.language, spec.context, brand=settings.brand, audience=spec.audience
        )
        out.append(
            OutboxMessage(
                id=500_000 + i,
                to=spec.to,
                template=spec.template,
                language=spec.language,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                headers=dict(spec.headers),
                attachments=spec.attachments,
                message_id=new_message_id(settings),
                created_at=NOW,
            )
        )
    return out, (time.perf_counter() - started) / len(out)


def bare(row: OutboxMessage, settings) -> bytes:
    msg = EmailMessage()
    msg["From"] = settings.from_address
    msg["To"] = row.to
    msg["Subject"] = row.subject
    msg.set_content(row.body_text)
    msg.add_alternative(row.body_html, subtype="html")
    return msg.as_bytes()


def timed(build, messages, settings) -> float:
    started = time.process_time()
    for row in messages:
        build(row, settings)
    return (time.process_time() - started) / len(messages) * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    settings = get_settings()
    warm_up(("offer", "reminder"))
    messages, render_s = rows(n, settings)
    offers = [r for r in messages if r.template == "offer"]
    reminders = [r for r in messages if r.template == "reminder"]
    builders = {
        "current (build_message + as_bytes)": lambda r, s: build_message(r, s).as_bytes(
            policy=WIRE_POLICY
        ),
        "new (build_raw)": build_raw,
        "bare EmailMessage baseline": bare,
    }
    for build in builders.values():  # warm every path once
        build(messages[0], settings)
    print(f"{n} offers + {n} reminders, 4 languages; CPU µs per message (process time)")
    print(f"rendering the templates (not measured below): {render_s * 1e6:.0f} µs per message")
    print(f"{'':38}{'offer':>9}{'reminder':>10}{'both':>9}")
    figures = {}
    for label, build in builders.items():
        each = [timed(build, group, settings) for group in (offers, reminders, messages)]
        figures[label] = each
        print(
            f"{label:38}"
            + "".join(f"{v:>9.0f}" for v in each[:1])
            + f"{each[1]:>10.0f}"
            + f"{each[2]:>9.0f}"
        )
    current, new, base = figures.values()
    print(
        f"{'ratio new / current':38}"
        + f"{new[0] / current[0]:>9.2f}{new[1] / current[1]:>10.2f}{new[2] / current[2]:>9.2f}"
    )
    print(
        f"{'ratio new / bare baseline':38}"
        + f"{new[0] / base[0]:>9.2f}{new[1] / base[1]:>10.2f}{new[2] / base[2]:>9.2f}"
    )
    print(
        f"{'ratio current / bare baseline':38}"
        + f"{current[0] / base[0]:>9.2f}{current[1] / base[1]:>10.2f}{current[2] / base[2]:>9.2f}"
    )


if __name__ == "__main__":
    main()
