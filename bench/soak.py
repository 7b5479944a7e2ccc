"""Fault-injection soak of the at-scale topology, with a simulated installer network.

    python bench/soak.py [--leads 5000] [--minutes 10] [--installers 30] [--traders 3] [--seed 1]
                         [--keep]

On loopback it starts a throw-away PostgreSQL (initdb/pg_ctl), a ``redis-server``, ``mailflow db
upgrade``, 2 ``mailflow smtp`` frontends, 3 ``mailflow worker`` processes, 2 ``mailflow
scheduler`` processes and one ``mailflow web``, with outbound mail going to a Maildir. It
imports a generated installer network and then, for ``--minutes``:

- sends ``--leads`` leads at a steady rate, over SMTP (spread over both frontends) and the
  signed webhook, with exact re-sends, webhook replays, later duplicates of a customer, "twins"
  (the same customer through both channels at the same moment) and unparseable messages.
  Senders behave like a real MTA: a 4xx answer or a refused connection is retried later (on
  the other frontend), a 5xx is a permanent failure;
- runs the installers: each one reads its offer emails in the Maildir and accepts or declines
  through the link pages (GET, then POST with the CSRF cookie), replies "accept"/"decline" by
  email to the offer's Reply-To address, ignores the offer (its deadline passes), double-clicks
  (two POSTs racing), or clicks an offer that has already expired; two installers go on vacation;
- runs the open lead exchange (``soak_exchange.py``): a few "traders" serve an area of their
  own and decline its offers, so its leads reach the pool and the exchange; signed in to the
  dashboard through the emailed one-time link, they look at their Available leads every few
  seconds and claim some (POST with the session's CSRF token), sometimes two of them the same
  lead at the same instant; half the claims won get a status at once, the others are left for
  the time jumps to lapse back into the exchange;
- compresses time: every few seconds the clock jumps past the deadlines of the open offers, by
  two ``mailflow sweep --at <instant>`` processes started at once (two schedulers acting at the
  same instant), while the two real schedulers keep sweeping in real time;
- forges bounces, as anyone who can mail the intake address could: Exim-style bounces whose
  ``X-Failed-Recipients`` names an installer, and RFC 3464 reports about the latest offer
  emails (the real outbox id and recipient, read from the database) sent to the guessed
  sequential return path ``bounces+<id>@`` or to one with a made-up signature;
- injects faults midway: SIGKILL of a worker (a replacement is started), Redis killed and
  started again with its data files deleted, PostgreSQL stopped (connections refused) for 10 s.

After the lead stream it lets the system settle (more time jumps, then a last one after the
installers stop answering) and checks and prints the invariants:

1. every message answered 250 (and every webhook answered 201/200) is a lead, a duplicate or
   quarantined (a reply to an offer: a reply) — none lost, none pending;
2. every lead has at most one holder at any time (acceptances and releases alternate on its
   timeline, claims from the exchange and lapsed claims counting as such; the holder is the
   installer of its last accepted offer or claim) and at most one accepted offer per holding
   period;
3. no offer email was sent twice (one Maildir message per offer, one offer per lead and
   installer, unique Message-IDs) and none is missing;
4. every deadline that passed was acted on (no offer still ``offered`` with its deadline at or
   before the sweep instant, for every time jump);
5. the outbox is empty or holds only permanent failures (no ``queued``/``sending`` row);

and further promises it can see: no installer flagged and no message marked bounced by the
forged bounces (each one is recorded as an ignored bounce), one original lead per customer (duplicates recognised even when
they race), no offers to installers on vacation, one winner per double click, late clicks change
nothing, no email queued twice, and no mailflow process died (other than the one killed); and
for the exchange: every claim answered 303 (won) or 409 (taken), never 500, one winner per race,
every claim won on the lead's timeline, a claim worked on kept, a claim left alone lapsed back
into the exchange and not taken again by the same installer before anyone else, and no customer
identity on the Available leads page (the holders invariant counts claims and lapses as takes
and releases).

Exit status 0 when every invariant holds. ``tests/e2e/test_soak.py`` runs a short form in CI.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures as cf
import email
import email.policy
import hashlib
import hmac
import json
import os
import random
import re
import smtplib
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
import soak_exchange  # noqa: E402
from topology import Topology, machine, missing_binaries  # noqa: E402

from mailflow.domain.routing import paced_caps, period_starts

REGIONS = {
    "75": ["Paris", [f"750{d:02d}" for d in range(1, 21)]],
    "92": ["Nanterre", ["92000", "92100", "92200", "92300", "92400"]],
    "93": ["Saint-Denis", ["93200", "93100", "93300", "93400"]],
    "94": ["Créteil", ["94000", "94100", "94200", "94300"]],
}
BEHAVIOURS = [
    # (name, weight): what an installer does with an offer email
    ("accept_link", 5),
    ("decline_link", 3),
    ("reply", 3),  # answers by email: "accept" or "decline"
    ("ignore", 3),  # never answers; some click after the deadline
    ("mixed", 4),  # each offer: accept, decline, reply or ignore
    ("double_click", 2),  # accepts with two POSTs racing
]
# Traders (``SoakConfig.traders``) serve only the exchange area and decline every offer by
# link: its leads go through their rotation to the pool, listed in the open exchange, where
# the traders claim them from their dashboards (soak_exchange.py).
TRADER = "trader"


def now_utc() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------- database --------
class Db:
    """The soak's own read (and vacation-write) access to PostgreSQL, retried while the
    database is down."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = threading.Lock()
        self.conn = None

    def _connect(self):
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=3)

    def query(self, sql: str, params=(), *, retry_for: float = 120) -> list[tuple]:
        deadline = time.monotonic() + retry_for
        while True:
            with self.lock:
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = self._connect()
                    cur = self.conn.execute(sql, params)
                    return cur.fetchall() if cur.description else []
                except psycopg.OperationalError:
                    try:
                        if self.conn is not None:
                            self.conn.close()
                    except Exception:
                        pass
                    self.conn = None
                    if time.monotonic() > deadline:
                        raise
            time.sleep(0.5)

    def scalar(self, sql: str, params=()):
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


# ------------------------------------------------------------------------- the network -----
@dataclass
class Installer:
    email: str
    name: str
    behaviour: str
    prefixes: list[str]
    language: str
    tier: str
    capacity: int
    # Leads per day and per month (paced), as admins set them (#17); None = no cap.
    cap_day: int | None = None
    cap_month: int | None = None


def make_network(n: int, rng: random.Random, *, traders: int = 0) -> list[Installer]:
    names = [b for b, w in BEHAVIOURS for _ in range(w)]
    installers = []
    prefixes = list(REGIONS)
    for i in range(n):
        behaviour = names[i % len(names)]
        served = sorted({prefixes[i % len(prefixes)], *rng.sample(prefixes, rng.choice([0, 1, 2]))})
        installers.append(
            Installer(
                email=f"installer{i:03d}@{behaviour.replace('_', '-')}.example",
                name=f"Installer {i:03d}",
                behaviour=behaviour,
                prefixes=served,
                language=rng.choice(["fr", "fr", "en", "de"]),
                tier=rng.choice(["gold", "silver", "silver", "bronze", "bronze"]),
                # A few small ones fill up (leads then wait in the pool); most never do.
                capacity=3 if i % 11 == 5 else 100_000,
                # A few have caps: their leads wait or go to others once a cap is reached.
                cap_day=4 if i % 7 == 3 else None,
                cap_month=30 if i % 9 == 4 else None,
            )
        )
    for k in range(traders):
        installers.append(
            Installer(
                email=f"trader{k}@exchange.example",
                name=f"Trader {k}",
                behaviour=TRADER,
                prefixes=[soak_exchange.AREA[0]],
                language=["fr", "en", "de"][k % 3],
                tier=["gold", "silver", "bronze"][k % 3],
                capacity=100_000,
            )
        )
    return installers


# For the benches where nobody answers the offers: with the pending limit (3 open offers per
# installer) and the network's caps and small capacities, every lead after the first ninety would
# wait for answers that never come and the load would never end.
NOBODY_ANSWERS = {"MAILFLOW_MAX_PENDING_OFFERS": "1000000"}


def unanswered_network(n: int) -> list[Installer]:
    """``make_network(n)`` without caps or small capacities (see ``NOBODY_ANSWERS``)."""
    return [
        replace(i, capacity=100_000, cap_day=None, cap_month=None)
        for i in make_network(n, random.Random(1))
    ]


def write_installers_csv(path: Path, installers: list[Installer]) -> None:
    lines = [
        "email,name,company,language,country,timezone,postcodes,tier,capacity,cap_day,cap_month"
    ]
    for i in installers:
        lines.append(
            f"{i.email},{i.name},{i.name} SARL,{i.language},FR,Europe/Paris,"
            f"{' '.join(i.prefixes)},{i.tier},{i.capacity},{i.cap_day or ''},{i.cap_month or ''}"
        )
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------- leads -----------
@dataclass
class Customer:
    n: int
    name: str
    email: str
    phone: str
    postcode: str
    city: str


@dataclass
class Submission:
    """One thing sent to mailflow, and what became of it."""

    key: str
    kind: str  # smtp | webhook | reply | bounce
    variant: str  # lead, dup, twin, resend, replay, malformed, reply, forged_bounce
    customer: Customer | None
    payload: bytes
    mail_from: str = "noreply@calculator.example"
    rcpt: str = "leads@localhost"
    at: float = 0.0  # planned send time (seconds from the start)
    frontend: int = 0
    answer: str = ""  # final answer: "250 ... queued as N", "201", "200"
    inbound_id: int | None = None
    lead_id: int | None = None
    attempts: int = 0
    temp_failures: Counter = field(default_factory=Counter)
    failed: str | None = None  # permanent failure or gave up
    done: threading.Event = field(default_factory=threading.Event)


def customer(run: str, n: int, *, exchange_every: int = 0) -> Customer:
    prefix = list(REGIONS)[n % len(REGIONS)]
    city, postcodes = REGIONS[prefix]
    if exchange_every and n % exchange_every == exchange_every - 1:
        _, city, postcodes = soak_exchange.AREA  # a lead for the exchange traders
    return Customer(
        n=n,
        name=f"Client Soak {n}",
        email=f"client{n}.{run}@example.fr",
        # Every customer has their own phone (duplicates are matched on email OR phone).
        phone=f"06 {10 + n // 1_000_000 % 90:02d} {n // 10000 % 100:02d} "
        f"{n // 100 % 100:02d} {n % 100:02d}",
        postcode=postcodes[n % len(postcodes)],
        city=city,
    )


def lead_email(c: Customer, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Solar calculator <noreply@calculator.example>"
    msg["To"] = "leads@localhost"
    msg["Subject"] = f"New lead ID: {c.n}"
    msg["Date"] = format_datetime(now_utc())
    msg["Message-ID"] = message_id
    msg.set_content(
        "New request from the solar calculator\n\n"
        f"Name: {c.name}\n"
        f"E-Mail: {c.email}\n"
        f"Phone: {c.phone}\n"
        f"Street: {1 + c.n % 180} rue de la Paix\n"
        f"Postcode: {c.postcode}\n"
        f"City: {c.city}\n"
        "Product: solar\n"
        f"Annual consumption: {2500 + 10 * (c.n % 200)} kWh\n"
        f"Module count: {8 + c.n % 16}\n"
        # One lead in three is over 1 KB and ends with an empty line, as many form mailers
        # send them (a message ending so once hung the SMTP intake's DATA reader).
        + (f"Message: {'Please call me in the afternoon. ' * 40}\n\n" if c.n % 3 == 0 else "")
    )
    return msg.as_bytes()


def malformed_email(n: int, run: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "someone@elsewhere.example"
    msg["To"] = "leads@localhost"
    msg["Subject"] = f"question {n}"
    msg["Message-ID"] = f"<soak-{run}-junk-{n}@elsewhere.example>"
    msg.set_content("Hello, do you also install wind turbines? Regards\n")
    return msg.as_bytes()


def forged_bounce(n: int, run: str, *, rcpt: str, recipient: str, outbox_id: int | None) -> bytes:
    """A bounce from someone without our signing key: an Exim-style one naming the installer
    in ``X-Failed-Recipients`` (``outbox_id`` None), else an RFC 3464 report about that outbox
    message, with its real recipient, sent to ``rcpt`` (a guessed return path)."""
    message_id = f"<soak-{run}-forged-{n}@mx.forger.example>"
    if outbox_id is None:
        return (
            "From: Mail Delivery System <Mailer-Daemon@mx.forger.example>\n"
            f"To: {rcpt}\nSubject: Mail delivery failed: returning message to sender\n"
            f"X-Failed-Recipients: {recipient}\nMessage-ID: {message_id}\n"
            "Auto-Submitted: auto-replied\n\n"
            f"The following address(es) failed:\n\n  {recipient}\n    550 5.1.1 User unknown\n"
        ).encode()
    return (
        "From: MAILER-DAEMON@mx.forger.example (Mail Delivery System)\n"
        f"To: {rcpt}\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: {message_id}\n"
        "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.forger.example\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
        f"--B\nContent-Type: text/rfc822-headers\n\nReturn-Path: <{rcpt}>\nTo: {recipient}\n"
        "--B--\n"
    ).encode()


def webhook_body(c: Customer) -> bytes:
    return json.dumps(
        {
            "source": "webhook",
            "product": "pv",
            "customer": {
                "name": c.name,
                "email": c.email,
                "phone": c.phone,
                "postcode": c.postcode,
                "city": c.city,
                "country": "FR",
            },
            "details": {"annual_consumption_kwh": 2500 + 10 * (c.n % 200)},
        }
    ).encode()


def plan_submissions(
    total: int,
    duration: float,
    run: str,
    rng: random.Random,
    *,
    twins: float = 0.03,
    exchange_every: int = 0,
) -> list[Submission]:
    """``total`` lead submissions spread evenly over ``duration`` seconds: 4% unparseable, 4%
    later duplicates, ``twins`` the same customer twice at the same moment, 3% exact re-sends,
    3% webhook replays, a quarter by webhook, the rest by SMTP; one customer in
    ``exchange_every`` lives in the exchange area."""
    shares = [
        ("malformed", 0.04),
        ("dup", 0.04),
        ("twin", twins),
        ("resend", 0.03),
        ("replay", 0.03),
        ("webhook", 0.25),
    ]
    subs: list[Submission] = []
    interval = duration / max(total, 1)
    made: list[Customer] = []
    for i in range(total):
        before = len(subs)
        r = rng.random()
        variant = "smtp"
        for name, share in shares:
            if r < share:
                variant = name
                break
            r -= share
        if variant == "dup" and not made:
            variant = "smtp"
        c = customer(run, i + 1, exchange_every=exchange_every)
        mid = f"<soak-{run}-{i}@calculator.example>"
        if variant == "malformed":
            subs.append(Submission(f"junk-{i}", "smtp", "malformed", None, malformed_email(i, run)))
        elif variant == "dup":
            old = rng.choice(made)  # the same customer again, later: a duplicate
            kind = rng.choice(["smtp", "webhook"])
            payload = lead_email(old, mid) if kind == "smtp" else webhook_body(old)
            subs.append(Submission(f"dup-{i}", kind, "dup", old, payload))
        elif variant == "twin":
            # The customer submits twice at the same moment (a double click on the form): two
            # emails through the two frontends, or an email and the webhook.
            subs.append(Submission(f"twin-a-{i}", "smtp", "twin", c, lead_email(c, mid)))
            if rng.random() < 0.5:
                other = f"<soak-{run}-{i}-again@calculator.example>"
                subs.append(Submission(f"twin-b-{i}", "smtp", "twin", c, lead_email(c, other)))
            else:
                subs.append(Submission(f"twin-b-{i}", "webhook", "twin", c, webhook_body(c)))
            made.append(c)
        elif variant == "resend":
            raw = lead_email(c, mid)
            subs.append(Submission(f"lead-{i}", "smtp", "lead", c, raw))
            # The same bytes again once the first copy is answered (a sender that lost the 250).
            subs.append(Submission(f"resend-{i}", "smtp", "resend", c, raw))
            made.append(c)
        elif variant == "replay":
            body = webhook_body(c)
            subs.append(Submission(f"hook-{i}", "webhook", "lead", c, body))
            subs.append(Submission(f"hook-{i}", "webhook", "replay", c, body))  # same key again
            made.append(c)
        elif variant == "webhook":
            subs.append(Submission(f"hook-{i}", "webhook", "lead", c, webhook_body(c)))
            made.append(c)
        else:
            subs.append(Submission(f"lead-{i}", "smtp", "lead", c, lead_email(c, mid)))
            made.append(c)
        for s in subs[before:]:
            s.at = i * interval
    for j, s in enumerate(subs):
        s.frontend = j  # spread over the SMTP frontends
    return subs


# ------------------------------------------------------------------------- senders ---------
class Sender:
    """Sends like a real MTA / webhook client: temporary failures are retried with backoff
    (on the next SMTP frontend), permanent ones are recorded."""

    GIVE_UP_AFTER = 300.0

    def __init__(self, topo: Topology, stats: Counter) -> None:
        self.topo = topo
        self.stats = stats
        self.lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self.lock:
            self.stats[name] += 1

    def send(self, sub: Submission) -> None:
        started = time.monotonic()
        delay = 0.5
        try:
            while True:
                sub.attempts += 1
                try:
                    outcome = (
                        self._smtp(sub)
                        if sub.kind in ("smtp", "reply", "bounce")
                        else self._webhook(sub)
                    )
                except Exception as exc:  # refused connection, reset, time-out
                    outcome = ("temp", type(exc).__name__)
                status, detail = outcome
                if status == "ok":
                    sub.answer = detail
                    return
                if status == "perm":
                    sub.failed = f"permanent failure: {detail}"
                    self._count(f"{sub.kind}_permanent_failures")
                    return
                sub.temp_failures[detail] += 1
                self._count(f"{sub.kind}_temporary_failures")
                if time.monotonic() - started > self.GIVE_UP_AFTER:
                    sub.failed = f"gave up after {sub.attempts} attempts"
                    return
                time.sleep(delay)
                delay = min(delay * 2, 4.0)
                sub.frontend += 1  # the next MX
        finally:
            sub.done.set()

    def _smtp(self, sub: Submission) -> tuple[str, str]:
        port = self.topo.smtp_ports[sub.frontend % len(self.topo.smtp_ports)]
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            code, reply = client.ehlo()
            code, reply = client.mail(sub.mail_from)
            if code >= 400:
                return ("temp" if code < 500 else "perm", f"MAIL {code}")
            code, reply = client.rcpt(sub.rcpt)
            if code >= 400:
                return ("temp" if code < 500 else "perm", f"RCPT {code} {reply!r}")
            code, reply = client.data(sub.payload)
            text = reply.decode(errors="replace")
            if code == 250:
                found = re.search(r"queued as (\d+)", text)
                sub.inbound_id = int(found.group(1)) if found else None
                self._count(f"{sub.kind}_250")
                return ("ok", f"{code} {text}")
            if code >= 500:
                return ("perm", f"DATA {code} {text}")
            self._count(f"{sub.kind}_{code}")
            return ("temp", f"DATA {code}")

    def _webhook(self, sub: Submission) -> tuple[str, str]:
        secret = self.topo.env["MAILFLOW_WEBHOOK_SECRET"]
        timestamp = str(int(now_utc().timestamp()))
        mac = hmac.new(secret.encode(), timestamp.encode() + b"." + sub.payload, hashlib.sha256)
        request = urllib.request.Request(
            self.topo.base_url + "/api/leads",
            data=sub.payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Mailflow-Timestamp": timestamp,
                "X-Mailflow-Signature": "sha256=" + mac.hexdigest(),
                "Idempotency-Key": f"soak-{sub.key}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        if status in (200, 201):
            sub.lead_id = json.loads(body).get("id")
            self._count(f"webhook_{status}")
            return ("ok", str(status))
        if status >= 500 or status == 429:
            self._count(f"webhook_{status}")
            return ("temp", f"HTTP {status}")
        return ("perm", f"HTTP {status} {body[:200]!r}")


# ------------------------------------------------------------------------- installers ------
@dataclass
class OfferMail:
    file: str
    outbox_id: int | None
    to: str
    message_id: str
    subject: str
    accept: str | None = None
    decline: str | None = None
    reply_to: str | None = None


def token_nonce(token: str) -> str | None:
    """The nonce inside a link token (itsdangerous payload, read without verifying)."""
    compressed = token.startswith(".")
    payload = token.lstrip(".").split(".")[0]
    try:
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        if compressed:
            data = zlib.decompress(data)
        return json.loads(data).get("n")
    except Exception:
        return None


class Installers:
    """Reads the Maildir and answers offers the way each installer does."""

    def __init__(self, topo: Topology, network: list[Installer], sender: Sender, rng) -> None:
        self.topo = topo
        self.by_email = {i.email: i for i in network}
        self.sender = sender
        self.rng = rng
        self.seen: set[str] = set()
        self.mails: list[OfferMail | dict] = []
        self.offer_mails: list[OfferMail] = []
        self.message_ids: Counter = Counter()
        self.pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="installer")
        self.pending: set[cf.Future] = set()
        self.lock = threading.Lock()
        self.scan_lock = threading.Lock()
        self.stats: Counter = Counter()
        self.answering = True
        self.ignored: list[OfferMail] = []
        self.double_clicks: list[tuple[int, int]] = []
        self.late_clicks: list[tuple[str, int]] = []  # (installer, HTTP status)
        self.replies: list[Submission] = []
        self.on_mail = None  # called with (to, text) for every email (the exchange's sign-ins)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="maildir", daemon=True)

    # -- reading the Maildir
    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)
        self.pool.shutdown(wait=True)

    def _watch(self) -> None:
        new = self.topo.maildir / "new"
        while not self.stop_event.is_set():
            self.scan(new)
            self.stop_event.wait(0.3)

    def scan(self, new: Path | None = None) -> int:
        with self.scan_lock:  # the watcher thread and the settling loop both scan
            return self._scan(new or self.topo.maildir / "new")

    def _scan(self, new: Path) -> int:
        try:
            names = [e.name for e in os.scandir(new)]
        except FileNotFoundError:
            return 0
        fresh = [n for n in names if n not in self.seen]
        for name in sorted(fresh):
            try:
                raw = (new / name).read_bytes()
            except OSError:
                continue
            self.seen.add(name)
            self._read(name, raw)
        return len(fresh)

    def _read(self, name: str, raw: bytes) -> None:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        outbox_id = msg.get("X-Mailflow-Outbox-Id")
        mail = OfferMail(
            file=name,
            outbox_id=int(outbox_id) if outbox_id else None,
            to=str(msg.get("To") or "").lower(),
            message_id=str(msg.get("Message-ID") or ""),
            subject=str(msg.get("Subject") or ""),
            reply_to=str(msg.get("Reply-To") or "") or None,
        )
        self.message_ids[mail.message_id] += 1
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        accept = re.search(r"/l/accept/(\S+)", text)
        decline = re.search(r"/l/decline/(\S+)", text)
        with self.lock:
            self.mails.append(mail)
        if self.on_mail is not None:
            self.on_mail(mail.to, text)
        if not accept:
            return
        mail.accept, mail.decline = accept.group(1), decline.group(1) if decline else None
        with self.lock:
            self.offer_mails.append(mail)
            self.stats["offer_emails_read"] += 1
        if self.answering:
            self._answer(mail)

    # -- answering
    def _submit(self, fn, *args) -> None:
        future = self.pool.submit(self._guard, fn, *args)
        with self.lock:
            self.pending.add(future)
        future.add_done_callback(lambda f: self._forget(f))

    def _forget(self, future) -> None:
        with self.lock:
            self.pending.discard(future)

    def _guard(self, fn, *args) -> None:
        try:
            time.sleep(self.rng.random() * 0.3)  # an installer reads mail at their own pace
            fn(*args)
        except Exception as exc:
            with self.lock:
                self.stats[f"installer_error_{type(exc).__name__}"] += 1

    def busy(self) -> int:
        with self.lock:
            return len(self.pending)

    def _answer(self, mail: OfferMail) -> None:
        installer = self.by_email.get(mail.to)
        if installer is None:
            return
        action = installer.behaviour
        if action == TRADER:
            action = "decline_link"
        if action == "mixed":
            action = self.rng.choice(["accept_link", "decline_link", "reply", "ignore"])
        if action == "accept_link":
            self._submit(self.click, mail, "accept")
        elif action == "decline_link":
            self._submit(self.click, mail, "decline")
        elif action == "reply":
            word = "accept" if self.rng.random() < 0.6 else "decline"
            self._submit(self.reply, mail, installer, word)
        elif action == "double_click":
            self._submit(self.double_click, mail)
        else:
            with self.lock:
                self.ignored.append(mail)
                self.stats["offers_ignored"] += 1

    def _http(self, method: str, url: str, data: bytes | None = None, cookie: str | None = None):
        """One request, retried while the service is unavailable (5xx, refused)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if data else {}
        if cookie:
            headers["Cookie"] = cookie
        delay = 0.5
        deadline = time.monotonic() + 180
        while True:
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, response.read().decode(), response.headers
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or time.monotonic() > deadline:
                    return exc.code, exc.read().decode(errors="replace"), exc.headers
                with self.lock:
                    self.stats[f"http_{exc.code}_retried"] += 1
            except OSError:
                if time.monotonic() > deadline:
                    raise
                with self.lock:
                    self.stats["http_refused_retried"] += 1
            time.sleep(delay)
            delay = min(delay * 2, 4)

    def _form(self, action: str, token: str) -> tuple[int, str | None, str | None]:
        url = f"{self.topo.base_url}/l/{action}/{token}"
        status, page, headers = self._http("GET", url)
        cookie = None
        for value in headers.get_all("set-cookie") or []:
            if value.startswith("mf_csrf="):
                cookie = value.split(";", 1)[0]
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        return status, cookie, found.group(1) if found else None

    def click(self, mail: OfferMail, action: str, *, late: bool = False) -> int:
        token = mail.accept if action == "accept" else mail.decline
        status, cookie, csrf = self._form(action, token)
        if status != 200 or not csrf:
            key = f"{'late_' if late else ''}{action}_get_{status}"
            with self.lock:
                self.stats[key] += 1
            return status
        fields = {"csrf_token": csrf}
        if action == "decline":
            fields["reason"] = self.rng.choice(["no_capacity", "out_of_area", "not_interested"])
        status, _page, _ = self._http(
            "POST",
            f"{self.topo.base_url}/l/{action}/{token}",
            urllib.parse.urlencode(fields).encode(),
            cookie,
        )
        with self.lock:
            self.stats[f"{'late_' if late else ''}{action}_post_{status}"] += 1
        return status

    def double_click(self, mail: OfferMail) -> None:
        status, cookie, csrf = self._form("accept", mail.accept)
        if status != 200 or not csrf:
            with self.lock:
                self.stats[f"double_click_get_{status}"] += 1
            return
        url = f"{self.topo.base_url}/l/accept/{mail.accept}"
        body = urllib.parse.urlencode({"csrf_token": csrf}).encode()
        barrier = threading.Barrier(2)
        results: list[int] = []

        def post():
            barrier.wait()
            results.append(self._http("POST", url, body, cookie)[0])

        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with self.lock:
            self.double_clicks.append(tuple(sorted(results)))
            self.stats[f"double_click_{'+'.join(map(str, sorted(results)))}"] += 1

    def reply(self, mail: OfferMail, installer: Installer, word: str) -> None:
        address = re.search(r"reply\+[^@\s>]+@[^\s>]+", mail.reply_to or "")
        if not address:
            with self.lock:
                self.stats["reply_without_reply_to"] += 1
            return
        msg = EmailMessage()
        msg["From"] = f"{installer.name} <{installer.email}>"
        msg["To"] = address.group(0)
        msg["Subject"] = "Re: " + mail.subject
        msg["In-Reply-To"] = mail.message_id
        msg["References"] = mail.message_id
        msg["Message-ID"] = f"<reply-{mail.outbox_id}-{word}@{installer.email.split('@')[1]}>"
        msg["Date"] = format_datetime(now_utc())
        msg.set_content(f"{word.capitalize()}\n\nBest regards\n\n> {mail.subject}\n> ...\n")
        sub = Submission(
            f"reply-{mail.outbox_id}",
            "reply",
            "reply",
            None,
            msg.as_bytes(),
            mail_from=installer.email,
            rcpt=address.group(0),
        )
        sub.frontend = self.rng.randrange(2)
        with self.lock:
            self.replies.append(sub)
            self.stats[f"reply_{word}"] += 1
        self.sender.send(sub)

    def late_click(self, mails: list[OfferMail]) -> None:
        """Installers who ignored an offer click Accept after its deadline."""
        for mail in mails:
            self._submit(self._late, mail)

    def _late(self, mail: OfferMail) -> None:
        status = self.click(mail, "accept", late=True)
        with self.lock:
            self.late_clicks.append((mail.to, status))


# ------------------------------------------------------------------------- logs ------------
EXCEPTION_LINE = re.compile(
    r"^((?:[a-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Violation|Detected)\w*): ?(.*)"
)
FRAME_LINE = re.compile(r'^\s+File "[^"]*/(mailflow/[^"]+)", line (\d+), in (\w+)')
# Connection errors are what a fault looks like from the inside; they are retried.
EXPECTED = re.compile(
    r"connection (failed|refused|is closed|to server)|server closed the connection|AdminShutdown"
    r"|terminating connection|shutting down|starting up|consuming input failed"
    r"|Connection (refused|closed|reset)|Error 111|InvalidatePoolError|Timeout connecting"
)


RECORD_START = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d|INFO:|ERROR:|WARNING:|\[\d{4}-)")


def unexpected_errors(text: str) -> Counter:
    """Tracebacks in a process log other than connection errors, by (exception, where): each
    log record with a traceback counts once, named by its last exception line and the last
    mailflow frame it went through."""
    found: Counter = Counter()

    def flush(record: list[str]) -> None:
        if not any(line.startswith("Traceback") for line in record):
            return
        exceptions = [m.groups() for m in map(EXCEPTION_LINE.match, record) if m]
        frames = [m for m in map(FRAME_LINE.match, record) if m]
        if not exceptions:
            return
        whole = " | ".join(f"{n}: {m}" for n, m in exceptions)
        if EXPECTED.search(whole):
            return
        name, message = exceptions[-1]
        where = (
            f"{frames[-1].group(1)}:{frames[-1].group(2)} {frames[-1].group(3)}" if frames else "?"
        )
        found[(re.sub(r"\d{3,}", "N", f"{name}: {message}"[:140]), where)] += 1

    record: list[str] = []
    for line in text.splitlines():
        if RECORD_START.match(line):
            flush(record)
            record = []
        record.append(line)
    flush(record)
    return found


# ------------------------------------------------------------------------- the soak --------
@dataclass
class SoakConfig:
    leads: int = 300
    minutes: float = 1.0
    installers: int = 30
    seed: int = 1
    smtp: int = 2
    workers: int = 3
    schedulers: int = 2
    worker_threads: int = 4
    sweep_interval: float = 0.5
    senders: int = 12
    twins: float = 0.03  # share of customers who submit twice at the same moment
    # Installers who use the open exchange from their dashboards, and one customer in
    # ``exchange_every`` in their area (whose leads reach the exchange); 0: no exchange.
    traders: int = 3
    exchange_every: int = 10
    exchange_round: float = 2.0  # seconds between two looks at the Available leads
    forged_bounces: float = 0.05  # forged bounces sent, per lead
    faults: bool = True
    pg_outage: float = 10.0
    jump_every: float | None = None  # seconds between time jumps (default: 1/6 of the run)
    settle_jumps: int = 3
    settle_timeout: float = 240.0
    keep: bool = False
    root: Path | None = None
    # More MAILFLOW_* settings of every process, e.g. short offer windows and escalation:
    # {"MAILFLOW_OFFER_WINDOW": "30m", "MAILFLOW_ESCALATE_AFTER_SILENT_OFFERS": "2"}.
    settings: tuple[tuple[str, str], ...] = ()


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    problems: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.name.split(":")[0].replace(" ", "_")


@dataclass
class SoakReport:
    config: SoakConfig
    checks: list[Check] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, id_: str) -> Check:
        return next(c for c in self.checks if c.id == id_)

    def text(self) -> str:
        out = list(self.lines)
        out.append("")
        out.append("invariants:")
        for c in self.checks:
            out.append(f"  [{'PASS' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
            for p in c.problems[:10]:
                out.append(f"         - {p}")
            if len(c.problems) > 10:
                out.append(f"         - ... and {len(c.problems) - 10} more")
        out.append(f"result: {'all invariants hold' if self.ok else 'INVARIANTS VIOLATED'}")
        return "\n".join(out)


class Soak:
    def __init__(self, config: SoakConfig, log=print) -> None:
        self.cfg = config
        self.log = log
        self.rng = random.Random(config.seed)
        self.run = f"{config.seed}x{os.getpid()}"
        self.t0 = 0.0
        self.report = SoakReport(config)
        self.events: list[str] = []
        self.jumps: list[dict] = []
        self.deadline_problems: list[str] = []
        self.virtual: datetime | None = None
        self.vacation: dict = {}
        self.late_clicked: list[OfferMail] = []
        self.sweep_errors: Counter = Counter()
        self.canary: dict = {}
        # Time jumps wait while PostgreSQL is down (their sweeps would only fail).
        self.pg_running = threading.Event()
        self.pg_running.set()
        self.outages = 0
        self.stats: Counter = Counter()
        self.forged: list[Submission] = []

    def note(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {text}"
        self.events.append(line)
        self.log(line)

    # -- time jumps
    def jump(self, *, final: bool = False, at_least: datetime | None = None) -> None:
        """Move the clock past the deadlines of the open offers (and to ``at_least``): two
        sweeps at that instant."""
        self._jump(final, at_least)

    def _jump(self, final: bool, at_least: datetime | None = None) -> None:
        while True:
            self.pg_running.wait()
            outages = self.outages
            at, problems, note = self._sweep_at(at_least)
            if outages == self.outages and self.pg_running.is_set():
                break
            # PostgreSQL went down while the sweeps ran: they could not act; sweep again.
            self.note(f"{note}: overlapped the PostgreSQL outage, sweeping again")
            at_least = at - timedelta(seconds=1)
        self.deadline_problems += problems
        self.virtual = at
        self.note(note + (" (final)" if final else ""))
        if not final:
            self.installers.late_click(self._expired_ignored(2))

    def _sweep_at(self, at_least: datetime | None) -> tuple[datetime, list[str], str]:
        db = self.db
        snapshot = db.scalar("SELECT coalesce(max(id), 0) FROM offers")
        time.sleep(1.0)  # transactions that took those ids have committed
        latest = db.scalar(
            "SELECT max(deadline) FROM offers WHERE status = 'offered' AND id <= %s", (snapshot,)
        )
        base = max(x for x in (latest, self.virtual, now_utc(), at_least) if x is not None)
        at = base + timedelta(seconds=1)
        started = time.monotonic()
        procs = [self.topo.cli_async("sweep", "--at", at.isoformat()) for _ in range(2)]
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            outputs.append((proc.returncode, out, err))
        elapsed = time.monotonic() - started
        counts: Counter = Counter()
        problems = []
        for code, out, err in outputs:
            self.sweep_errors.update(unexpected_errors(err))
            if code != 0:
                problems.append(f"sweep --at {at} exited {code}: {err[-500:]}")
            for line in out.splitlines():
                name, _, value = line.partition(":")
                if value.strip().lstrip("-").isdigit():
                    counts[name.strip()] += int(value)
        left = db.query(
            "SELECT id, deadline FROM offers WHERE status = 'offered' AND id <= %s"
            " AND deadline <= %s",
            (snapshot, at),
        )
        for offer_id, deadline in left:
            problems.append(
                f"offer {offer_id} (deadline {deadline:%Y-%m-%d %H:%M:%S}) still offered after "
                f"the sweeps at {at:%Y-%m-%d %H:%M:%S}"
            )
        self.jumps.append({"at": at, "counts": dict(counts)})
        note = (
            f"time jump to {at:%a %Y-%m-%d %H:%M} UTC: 2 sweeps in {elapsed:.1f}s, "
            f"{counts.get('offers', 0)} offers expired, {counts.get('timers', 0)} timers, "
            f"{counts.get('digests', 0)} digests, "
            f"{counts.get('outbox', 0)} outbox rows re-enqueued, {len(left)} due offers left"
        )
        return at, problems, note

    def _expired_ignored(self, count: int) -> list[OfferMail]:
        """Offers an installer ignored and whose deadline has been acted on."""
        with self.installers.lock:
            ignored = list(self.installers.ignored)
        by_nonce = {token_nonce(m.accept): m for m in ignored if m not in self.late_clicked}
        if not by_nonce:
            return []
        rows = self.db.query(
            "SELECT n.nonce FROM link_nonces n JOIN offers o ON o.id = n.subject_id"
            " WHERE n.purpose = 'accept' AND n.nonce = ANY(%s) AND o.status = 'expired'",
            (list(by_nonce),),
        )
        expired = [by_nonce[nonce] for (nonce,) in rows]
        picked = self.rng.sample(expired, min(count, len(expired)))
        self.late_clicked.extend(picked)
        return picked

    # -- faults
    def kill_worker(self) -> None:
        victim = self.topo.kill_worker(self.rng.randrange(len(self.topo.workers)))
        self.note(f"SIGKILL {victim.name} (pid {victim.pid}); replacement started")

    def wipe_redis(self) -> None:
        depth = self._redis_depth()
        removed = self.topo.redis.restart_wiped()
        self.note(
            f"redis-server killed, its files deleted ({', '.join(removed) or 'none'}; "
            f"{depth} messages were queued), started again on port {self.topo.redis.port}"
        )

    def _redis_depth(self) -> int:
        try:
            client = redis.Redis.from_url(self.topo.redis.url, socket_timeout=2)
            total = 0
            for key in client.scan_iter("dramatiq:*"):
                kind = client.type(key)
                if kind == b"list":
                    total += client.llen(key)
                elif kind == b"zset":
                    total += client.zcard(key)
            client.close()
            return total
        except Exception:
            return -1

    def pg_outage(self) -> None:
        before = Counter(self.stats)
        self.outages += 1
        self.pg_running.clear()
        try:
            self.topo.pg.stop("fast")
            down = time.monotonic()
            self.note("PostgreSQL stopped (pg_ctl stop -m fast): connections refused")
            time.sleep(self.cfg.pg_outage)
            self.topo.pg.start()
        finally:
            self.pg_running.set()
        during = Counter(self.stats)
        during.subtract(before)
        self.note(
            f"PostgreSQL started again after {time.monotonic() - down:.1f}s; meanwhile "
            f"SMTP answered 451 {during['smtp_451'] + during['reply_451']} times, "
            f"the webhook 5xx {during['webhook_500'] + during['webhook_503']} times"
        )

    def forge_bounce(self) -> None:
        """Send one forged bounce (in turn: X-Failed-Recipients, a report to a guessed
        sequential return path, one to a return path with a made-up signature), aimed at the
        latest offer email, whose id and recipient the forger is assumed to know."""
        n = len(self.forged)
        try:
            latest = self.db.query(
                "SELECT id, \"to\" FROM outbox WHERE template = 'offer' ORDER BY id DESC LIMIT 1",
                retry_for=5,
            )
        except Exception:  # PostgreSQL is down: the forger guesses
            latest = []
        if latest:
            outbox_id, to = latest[0]
        else:
            outbox_id, to = 1, self.rng.choice(self.network).email
        signature = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(16))
        rcpt, target = {
            0: ("leads@localhost", None),
            1: (f"bounces+{outbox_id}@localhost", outbox_id),
            2: (f"bounces+{outbox_id}-{signature}@localhost", outbox_id),
        }[n % 3]
        payload = forged_bounce(n, self.run, rcpt=rcpt, recipient=to, outbox_id=target)
        sub = Submission(
            f"forged-{n}", "bounce", "forged_bounce", None, payload, mail_from="", rcpt=rcpt
        )
        self.forged.append(sub)
        self.sender.send(sub)

    def set_vacation(self) -> None:
        candidates = [i for i in self.network if i.behaviour in ("accept_link", "mixed")][:2]
        emails = [i.email for i in candidates]
        start = now_utc() - timedelta(hours=1)
        until = now_utc() + timedelta(days=400)
        self.db.query(
            "UPDATE installers SET vacation_from = %s, vacation_until = %s WHERE email = ANY(%s)",
            (start, until, emails),
        )
        self.vacation = {"emails": emails, "set_at": now_utc(), "until": until}
        self.note(f"vacation set for {', '.join(emails)}")

    # -- settling
    def quiet(self) -> dict:
        row = self.db.query(
            "SELECT (SELECT count(*) FROM inbound_messages WHERE outcome = 'pending'),"
            " (SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')),"
            # A lead waiting for a free installer (all of its area's have their open offers,
            # #17) is settled: it is offered as answers come in.
            " (SELECT count(*) FROM leads WHERE status = 'new' AND waiting_since IS NULL),"
            " (SELECT count(*) FROM outbox WHERE state = 'sent')"
        )[0]
        self.installers.scan()
        return {
            "pending_inbound": row[0],
            "outbox_active": row[1],
            "new_leads": row[2],
            "unread_mail": row[3] - len(self.installers.seen),
            "installers_busy": self.installers.busy(),
        }

    def _unrouted(self) -> str:
        """The new leads nobody offered yet, with the end of their timelines (for the log)."""
        rows = self.db.query(
            "SELECT id, postcode, created_at, updated_at FROM leads WHERE status = 'new'"
            " AND waiting_since IS NULL ORDER BY id LIMIT 3"
        )
        out = []
        for lead_id, postcode, created, updated in rows:
            events = self.db.query(
                "SELECT type, at, data FROM lead_events WHERE lead_id = %s"
                " ORDER BY id DESC LIMIT 4",
                (lead_id,),
            )
            out.append(
                f"lead {lead_id} ({postcode}, created {created:%H:%M:%S}, updated "
                f"{updated:%m-%d %H:%M:%S}): "
                + "; ".join(f"{t} {at:%m-%d %H:%M:%S} {d}" for t, at, d in reversed(events))
            )
        return ": " + " | ".join(out)

    def wait_quiet(self, timeout: float) -> dict:
        started = time.monotonic()
        deadline = started + timeout
        report_at = started + 15
        while True:
            state = self.quiet()
            busy = {k: v for k, v in state.items() if v}
            if not busy:
                if time.monotonic() - started > 15:
                    self.note(f"quiet after {time.monotonic() - started:.0f}s")
                return state
            if time.monotonic() > deadline:
                self.note(f"not quiet after {timeout:.0f}s: {busy}")
                return state
            if time.monotonic() > report_at:
                self.note(f"waiting for {busy}{self._unrouted() if busy.get('new_leads') else ''}")
                report_at += 15
            time.sleep(1.0)

    # -- the run
    def run_soak(self) -> SoakReport:
        cfg = self.cfg
        self.t0 = time.monotonic()
        self.started_at = now_utc()
        topo = self.topo = Topology(
            cfg.root,
            smtp=cfg.smtp,
            workers=cfg.workers,
            schedulers=cfg.schedulers,
            worker_threads=cfg.worker_threads,
            sweep_interval=cfg.sweep_interval,
            extra_env={"MAILFLOW_PENDING_GRACE_SECONDS": "5", **dict(cfg.settings)},
            keep=cfg.keep,
        )
        self.report.lines.append(f"machine: {machine()}")
        self.report.lines.append(
            f"topology: PostgreSQL + redis-server, {cfg.smtp} smtp, {cfg.workers} workers x "
            f"{cfg.worker_threads} threads, {cfg.schedulers} schedulers (sweep every "
            f"{cfg.sweep_interval}s), 1 web; outbound to a Maildir; root {topo.root}"
        )
        try:
            topo.start_backends()
            self.network = make_network(cfg.installers, self.rng, traders=cfg.traders)
            csv = topo.root / "installers.csv"
            write_installers_csv(csv, self.network)
            topo.cli("installers", "import", str(csv))
            topo.start_services()
            self.db = Db(topo.database_dsn)
            self.note(
                f"topology up: {len(topo.services())} mailflow processes, "
                f"{cfg.installers} installers and {cfg.traders} exchange traders imported"
            )
            self._drive()
            self._settle()
            self._check()
        finally:
            codes = {}
            try:
                if hasattr(self, "exchange"):
                    self.exchange.stop()
                if hasattr(self, "installers"):
                    self.installers.stop()
                codes = topo.stop()
            finally:
                if hasattr(self, "db"):
                    self.db.close()
            self.report.lines.append(f"exit codes after SIGTERM: {codes}")
        return self.report

    def _drive(self) -> None:
        cfg = self.cfg
        duration = cfg.minutes * 60
        self.sender = Sender(self.topo, self.stats)
        self.installers = Installers(self.topo, self.network, self.sender, self.rng)
        self.exchange = soak_exchange.Exchange(
            self.topo.base_url,
            [i.email for i in self.network if i.behaviour == TRADER],
            random.Random(self.rng.random()),
            every=cfg.exchange_round,
        )
        self.installers.on_mail = self.exchange.mail
        self.installers.start()
        if cfg.traders:
            self.exchange.start()
        self.subs = plan_submissions(
            cfg.leads,
            duration,
            self.run,
            self.rng,
            twins=cfg.twins,
            exchange_every=cfg.exchange_every if cfg.traders else 0,
        )
        by_key: dict[str, Submission] = {}
        jump_every = cfg.jump_every or max(duration / 6, 5.0)
        control: list[tuple[float, str]] = [
            (k * jump_every, "jump") for k in range(1, int(duration / jump_every) + 1)
        ]
        control.append((0.15 * duration, "vacation"))
        forged = max(round(cfg.leads * cfg.forged_bounces), 3)
        control += [((k + 0.5) * duration / forged, "forge_bounce") for k in range(forged)]
        if cfg.faults:
            control += [
                (0.30 * duration, "kill_worker"),
                (0.45 * duration, "wipe_redis"),
                (0.60 * duration, "pg_outage"),
            ]
        control.sort()
        actions = {
            "jump": self.jump,
            "vacation": self.set_vacation,
            "kill_worker": self.kill_worker,
            "wipe_redis": self.wipe_redis,
            "pg_outage": self.pg_outage,
            "forge_bounce": self.forge_bounce,
        }

        def controller(events: list[tuple[float, str]]):
            for at, name in events:
                wait = start + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif name == "jump" and time.monotonic() > start + duration:
                    continue  # slow sweeps: the settling phase has its own time jumps
                try:
                    actions[name]()
                except Exception as exc:
                    self.note(f"{name} failed: {exc!r}")
                    self.deadline_problems.append(f"{name} failed: {exc!r}")

        self.note(
            f"driving {cfg.leads} leads over {duration:.0f}s "
            f"({len(self.subs)} submissions, {cfg.leads / duration:.1f} leads/s)"
        )
        start = time.monotonic()
        # Time jumps on one thread, faults on another, forgers on a third: a slow sweep must
        # not delay a fault, nor a fault the forged bounces.
        kinds = [("jump",), ("forge_bounce",)]
        controllers = [
            threading.Thread(target=controller, args=([e for e in control if e[1] in k],))
            for k in kinds
        ]
        controllers.append(
            threading.Thread(
                target=controller,
                args=([e for e in control if not any(e[1] in k for k in kinds)],),
            )
        )
        for ctl in controllers:
            ctl.start()
        with cf.ThreadPoolExecutor(cfg.senders, thread_name_prefix="sender") as pool:
            for sub in self.subs:
                wait = start + sub.at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                first = by_key.get(sub.key) if sub.variant in ("resend", "replay") else None
                if sub.variant == "resend":
                    first = by_key.get(sub.key.replace("resend", "lead"))
                if first is not None:
                    pool.submit(self._after, first, sub)
                else:
                    pool.submit(self.sender.send, sub)
                by_key.setdefault(sub.key, sub)
            for ctl in controllers:
                ctl.join()
        self.note(
            f"lead stream done in {time.monotonic() - start:.0f}s; "
            f"SMTP temporary failures {self.stats['smtp_temporary_failures']}, "
            f"webhook temporary failures {self.stats['webhook_temporary_failures']}"
        )

    def _after(self, first: Submission, sub: Submission) -> None:
        first.done.wait(600)
        time.sleep(0.2)
        self.sender.send(sub)

    def _settle(self) -> None:
        cfg = self.cfg
        self.note("settling: installers keep answering, time jumps continue")
        for k in range(cfg.settle_jumps):
            self.wait_quiet(cfg.settle_timeout)
            # The first is at least a week after the start: weekly digests and status reminders
            # come due at one instant, for both sweeps; the second, four days later, lapses
            # the reservations nobody worked on (the leads are released and rotate).
            days = {0: 8, 1: 12}.get(k)
            self.jump(at_least=self.started_at + timedelta(days=days) if days else None)
        self.wait_quiet(cfg.settle_timeout)
        # Installers stop answering and trading; replies already sent are processed; one last
        # time jump (it lapses the claims made since the previous one).
        self.exchange.stop()
        self.note(f"exchange traders stopped: {self.exchange.summary()}")
        self.installers.answering = False
        self.wait_quiet(cfg.settle_timeout)
        self.jump(final=True)
        state = self.wait_quiet(cfg.settle_timeout)
        self.final_state = state
        self.note(f"settled: {state}")
        self.canary = self._canary()
        self.wait_quiet(cfg.settle_timeout)
        self.metrics = self._metrics()

    def _canary(self) -> dict:
        """One lead by webhook after everything: its offer must come from a worker (through the
        restarted Redis) well before the sweep's 30-second fallback for lost routing jobs."""
        c = customer(self.run, 10_000_000)
        sub = Submission("canary", "webhook", "lead", c, webhook_body(c))
        started = time.monotonic()
        self.sender.send(sub)
        self.subs.append(sub)
        while time.monotonic() - started < 20:
            # Routed by the worker: offered, or waiting its turn when every installer of its
            # area holds their limit of open offers (#17), a routing decision all the same.
            if sub.lead_id and self.db.scalar(
                "SELECT (SELECT count(*) FROM outbox WHERE lead_id = %s AND template = 'offer')"
                " + (SELECT count(*) FROM leads WHERE id = %s AND waiting_since IS NOT NULL)",
                (sub.lead_id, sub.lead_id),
            ):
                seconds = round(time.monotonic() - started, 2)
                self.note(f"canary lead {sub.lead_id}: offer email queued after {seconds}s")
                return {"lead": sub.lead_id, "seconds": seconds}
            time.sleep(0.1)
        return {"lead": sub.lead_id, "seconds": None, "answer": sub.answer, "failed": sub.failed}

    def _metrics(self) -> list[str]:
        """What /metrics shows at the end: the database-wide series from ``mailflow web``, and
        the observed ones summed over every smtp, worker and scheduler process's own endpoint
        (MAILFLOW_METRICS_LISTEN; a killed worker's counts went with it)."""
        try:
            with urllib.request.urlopen(self.topo.base_url + "/metrics", timeout=30) as response:
                text = response.read().decode()
        except OSError as exc:
            return [f"/metrics unavailable: {exc}"]
        wanted = ("mailflow_outbox_messages{", "mailflow_inbound_messages{", "mailflow_leads{")
        lines = ["mailflow web:"]
        lines += [f"  {line}" for line in text.splitlines() if line.startswith(wanted)]
        observed = (
            "mailflow_smtp_messages_total{",
            "mailflow_dramatiq_messages_total{",
            "mailflow_dramatiq_message_errors_total{",
            "mailflow_dramatiq_message_retries_total{",
            "mailflow_outbound_send_total{",
            "mailflow_sweep_seconds_count",
            "mailflow_sweep_job_failures_total{",
            "mailflow_sweep_actions_total{",
        )
        sums: Counter = Counter()
        scraped = []
        for service in self.topo.services():
            if not getattr(service, "metrics_port", None):
                continue
            url = f"http://127.0.0.1:{service.metrics_port}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    page = response.read().decode()
            except OSError as exc:
                lines.append(f"  {service.name}: /metrics unavailable: {exc}")
                continue
            scraped.append(service.name)
            for line in page.splitlines():
                if line.startswith(observed):
                    series, _, value = line.rpartition(" ")
                    sums[series] += float(value)
        lines.append(f"summed over {', '.join(scraped)} (MAILFLOW_METRICS_LISTEN):")
        lines += [f"  {series} {value:g}" for series, value in sorted(sums.items())]
        return lines

    # -- invariants
    def _check_exchange(self) -> None:
        """The exchange in use: claims through the web process, races, lapses (checked before
        the last time jump, which lets the leads expire)."""
        ex = self.exchange
        db = self.db
        claims = list(ex.claims)
        won = [c for c in claims if c.status == 303]
        timeline = defaultdict(list)  # lead -> [(type, installer email, data)]
        for lead_id, type_, data in db.query(
            "SELECT lead_id, type, data FROM lead_events WHERE type IN ('exchange_claimed',"
            " 'exchange_claim_lapsed', 'exchange_listed', 'released', 'accepted', 'pool')"
            " ORDER BY id"
        ):
            timeline[lead_id].append((type_, (data or {}).get("installer"), data or {}))
        problems = list(ex.problems)
        # Every answer to a claim: won (303 to the lead) or refused 409; never a 500.
        for c in claims:
            if c.errors:
                problems.append(f"{c.trader}'s claim of lead {c.lead_id} answered {c.errors}")
            if c.status not in (303, 409):
                problems.append(f"{c.trader}'s claim of lead {c.lead_id}: HTTP {c.status}")
        # One winner per race.
        races = defaultdict(list)
        for c in claims:
            if c.race is not None:
                races[c.race].append(c)
        for pair in races.values():
            if sum(c.status == 303 for c in pair) > 1:
                problems.append(
                    f"lead {pair[0].lead_id} claimed by {[c.trader for c in pair]} at once: "
                    "both won"
                )
        # Every claim won is on the lead's timeline, and the timeline has no other claim.
        recorded = Counter(
            (lead, who)
            for lead, evs in timeline.items()
            for t, who, _ in evs
            if t == "exchange_claimed"
        )
        answered = Counter((c.lead_id, c.trader) for c in won)
        for key in sorted(set(recorded) | set(answered)):
            if recorded[key] != answered[key]:
                problems.append(
                    f"lead {key[0]}: {answered[key]} claims by {key[1]} answered 303, "
                    f"{recorded[key]} on its timeline"
                )
        # What became of each claim won: the next move of its lead. Worked on: kept (no lapse);
        # left alone: lapsed by the time jumps, back in the exchange, and never taken again by
        # the installer whose claim lapsed before someone else has had it.
        nth: Counter = Counter()
        lapsed = reclaimed = 0
        for c in won:
            nth[(c.lead_id, c.trader)] += 1
            evs = timeline.get(c.lead_id, [])
            mine = [
                i
                for i, (t, who, _) in enumerate(evs)
                if t == "exchange_claimed" and who == c.trader
            ]
            if len(mine) < nth[(c.lead_id, c.trader)]:
                continue  # reported above
            at = mine[nth[(c.lead_id, c.trader)] - 1]
            after = [e for e in evs[at + 1 :] if e[0] != "pool"]
            nxt = after[0] if after else None
            if nxt and nxt[0] == "exchange_claim_lapsed":
                lapsed += 1
                if nxt[1] != c.trader:
                    problems.append(f"lead {c.lead_id}: {c.trader}'s claim lapsed as {nxt[1]}'s")
                if c.worked:
                    problems.append(
                        f"lead {c.lead_id}: {c.trader} recorded a status, the claim lapsed all the "
                        "same"
                    )
                listed = after[1] if len(after) > 1 else None
                if not listed or listed[0] != "exchange_listed":
                    problems.append(
                        f"lead {c.lead_id}: {c.trader}'s claim lapsed, then {listed}, not back in "
                        "the exchange"
                    )
                taken = next(
                    (e for e in after[1:] if e[0] in ("exchange_claimed", "accepted")), None
                )
                if taken and taken[1] == c.trader:
                    problems.append(
                        f"lead {c.lead_id}: {c.trader}'s claim lapsed, and {c.trader} took it "
                        "again before anyone else"
                    )
                if taken and taken[0] == "exchange_claimed":
                    reclaimed += 1
            elif c.status_refused:
                problems.append(
                    f"lead {c.lead_id}: {c.trader}'s status refused (409) while the claim held "
                    f"(next on its timeline: {nxt and nxt[0]})"
                )
            elif c.worked is False:
                problems.append(
                    f"lead {c.lead_id}: {c.trader}'s claim, left without a status, did not "
                    f"lapse (next on its timeline: {nxt and nxt[0]})"
                )
        # Where the leads are now: a lead whose last move was a lapsed claim is in the exchange,
        # held by nobody, hidden from the installer whose claim lapsed.
        lead_ids = sorted(timeline)
        now_rows = {
            row[0]: row[1:]
            for row in db.query(
                "SELECT l.id, l.status, l.assigned_installer_id, l.exchange_since,"
                " i.email FROM leads l LEFT JOIN installers i"
                " ON i.id = l.exchange_lapsed_installer_id WHERE l.id = ANY(%s)",
                (lead_ids,),
            )
        }
        for lead_id in lead_ids:
            moves = [
                e
                for e in timeline[lead_id]
                if e[0] in ("exchange_claimed", "exchange_claim_lapsed")
            ]
            if not moves or moves[-1][0] != "exchange_claim_lapsed":
                continue
            status, assigned, since, hidden_from = now_rows[lead_id]
            later = [e[0] for e in timeline[lead_id]][-1]
            if later in ("accepted", "released"):
                continue  # offered again meanwhile (moved out of the pool)
            if status != "pool" or assigned is not None or since is None:
                problems.append(
                    f"lead {lead_id}: claim lapsed, now {status} (holder {assigned}, "
                    f"exchange since {since})"
                )
            elif hidden_from != moves[-1][1]:
                problems.append(
                    f"lead {lead_id}: {moves[-1][1]}'s claim lapsed, hidden from {hidden_from}"
                )
        summary = ex.summary()
        summary["lapsed"] = lapsed
        summary["claimed again after a lapse"] = reclaimed
        self.exchange_figures = summary
        if self.cfg.traders:
            for what, n in (
                ("claims won", summary["won"]),
                ("races", summary["races"]),
                ("claims worked on", summary["worked on"]),
                ("lapsed claims", lapsed),
            ):
                if not n:
                    problems.append(f"the soak exercised no {what}")
        self.report.checks.append(
            Check(
                "exchange: one holder per claimed lead, one winner per race, lapsed claims back",
                not problems,
                f"{summary['claims tried']} claims through the web process by "
                f"{summary['traders signed in']} signed-in traders, {summary['won']} won, "
                f"{summary['races']} races (two claims at once: "
                f"{dict(Counter('+'.join(sorted(str(c.status) for c in p)) for p in races.values()))}"
                f"), {summary['lost races']} lost; {summary['worked on']} worked on (kept), "
                f"{lapsed} lapsed back to the exchange, {reclaimed} claimed again by another; "
                f"answers {dict(sorted(Counter(c.status for c in claims).items()))}",
                problems,
            )
        )

        # Nothing on the Available page tells who the customer is.
        problems = list(ex.leaks)
        listed = sorted({i for _, ids, _ in ex.pages for i in ids})
        people = {
            row[0]: [v for v in row[1:] if v]
            for row in db.query(
                "SELECT id, customer_name, email, phone, street FROM leads WHERE id = ANY(%s)",
                (listed,),
            )
        }
        for who, ids, page in ex.pages:
            for lead_id in ids:
                shown = [v for v in people.get(lead_id, []) if v in page]
                if shown:
                    problems.append(f"{who}'s Available page shows lead {lead_id}'s {shown}")
        if self.cfg.traders and not ex.views:
            problems.append("no Available page listed a lead")
        self.report.checks.append(
            Check(
                "exchange privacy: no customer identity on the Available leads page",
                not problems,
                f"{ex.views} Available pages listing {len(ex.listed)} leads read; the last "
                f"{len(ex.pages)} checked against each listed lead's name, email, phone and street",
                problems[:50],
            )
        )

    def _check(self) -> None:
        db = self.db
        report = self.report
        inst = self.installers
        all_subs = [*self.subs, *inst.replies, *self.forged]

        # 1. every accepted inbound message is a lead, a duplicate or quarantined
        outcomes = dict(db.query("SELECT id, outcome FROM inbound_messages"))
        webhook_ids = dict(
            db.query("SELECT id, lead_id FROM inbound_messages WHERE channel = 'webhook'")
        )
        problems = []
        answered = 0
        expected = {
            "lead": {"lead", "duplicate"},
            "dup": {"duplicate", "lead"},
            "twin": {"lead", "duplicate"},
            "resend": {"lead", "duplicate"},
            "replay": {"lead", "duplicate"},
            "malformed": {"quarantined"},
            "reply": {"reply"},
            "forged_bounce": {"bounce"},
        }
        webhook_inbound = dict(
            db.query("SELECT lead_id, outcome FROM inbound_messages WHERE channel = 'webhook'")
        )
        first_ids: dict[str, int] = {}
        for sub in all_subs:
            if sub.failed:
                problems.append(f"{sub.key}: {sub.failed}")
                continue
            if not sub.answer:
                problems.append(f"{sub.key}: never answered")
                continue
            answered += 1
            if sub.kind in ("smtp", "reply", "bounce"):
                outcome = outcomes.get(sub.inbound_id)
                if sub.variant == "resend":
                    first = first_ids.get(sub.key.replace("resend", "lead"))
                    if first is not None and first != sub.inbound_id:
                        problems.append(
                            f"{sub.key}: re-sent message stored again ({sub.inbound_id} != {first})"
                        )
                first_ids.setdefault(sub.key, sub.inbound_id)
            else:
                outcome = webhook_inbound.get(sub.lead_id)
            if outcome is None:
                problems.append(f"{sub.key}: answered {sub.answer!r} but no inbound row")
            elif outcome not in expected[sub.variant]:
                problems.append(f"{sub.key} ({sub.variant}): outcome {outcome}")
        pending = [i for i, o in outcomes.items() if o == "pending"]
        if pending:
            problems.append(f"{len(pending)} inbound messages still pending: {pending[:10]}")
        hook_leads = {s.lead_id for s in all_subs if s.kind == "webhook" and s.lead_id}
        known = {s.inbound_id for s in all_subs if s.inbound_id} | {
            i for i, lead in webhook_ids.items() if lead in hook_leads
        }
        phantoms = sorted(set(outcomes) - known)
        if phantoms:
            problems.append(f"inbound rows nobody sent: {phantoms[:10]}")
        by_outcome = Counter(outcomes.values())
        report.checks.append(
            Check(
                "intake: every accepted message is a lead, a duplicate or quarantined",
                not problems,
                f"{answered} submissions answered 250/201/200 ({len(self.subs)} lead submissions, "
                f"{len(inst.replies)} email replies, {len(self.forged)} forged bounces); "
                "inbound rows by outcome "
                f"{dict(sorted(by_outcome.items()))}; none lost, {len(pending)} pending",
                problems,
            )
        )

        # 2. at most one holder per lead. A lead is taken by an accepted offer or a claim from
        # the exchange, and let go by a release or a lapsed claim.
        taken, let_go = ("accepted", "exchange_claimed"), ("released", "exchange_claim_lapsed")
        events = defaultdict(list)
        for lead_id, type_, data in db.query(
            "SELECT lead_id, type, data FROM lead_events WHERE type IN ('accepted', 'released',"
            " 'exchange_claimed', 'exchange_claim_lapsed') ORDER BY id"
        ):
            events[lead_id].append((type_, data))
        emails_by_id = dict(db.query("SELECT id, email FROM installers"))
        leads = db.query("SELECT id, status, assigned_installer_id FROM leads")
        accepted_offers = defaultdict(list)
        for lead_id, installer_id, offer_id in db.query(
            "SELECT lead_id, installer_id, id FROM offers WHERE status = 'accepted' ORDER BY id"
        ):
            accepted_offers[lead_id].append((installer_id, offer_id))
        held = {
            "accepted",
            "contact_attempted",
            "first_contact",
            "quote_sent",
            "order_placed",
            "installation_scheduled",
            "follow_up",
        }
        problems = []
        holders = 0
        for lead_id, status, assigned in leads:
            timeline = events.get(lead_id, [])
            seq = [t for t, _ in timeline]
            for a, b in zip(seq, seq[1:], strict=False):
                if a in taken and b in taken:
                    problems.append(f"lead {lead_id}: taken twice without a release: {seq}")
                    break
            accepts = seq.count("accepted")
            takes = sum(t in taken for t in seq)
            releases = sum(t in let_go for t in seq)
            if takes > releases + 1:
                problems.append(f"lead {lead_id}: taken {takes} times, let go {releases} times")
            if accepts != len(accepted_offers.get(lead_id, [])):
                problems.append(
                    f"lead {lead_id}: {accepts} acceptances on the timeline, "
                    f"{len(accepted_offers.get(lead_id, []))} accepted offers"
                )
            last_taken = next((e for e in reversed(timeline) if e[0] in taken), None)
            if status in held and last_taken and last_taken[0] == "exchange_claimed":
                holders += 1
                claimer = (last_taken[1] or {}).get("installer")
                if assigned is None or emails_by_id.get(assigned) != claimer:
                    problems.append(
                        f"lead {lead_id} ({status}): holder {emails_by_id.get(assigned)}, "
                        f"last claimed from the exchange by {claimer}"
                    )
            elif status in held:
                holders += 1
                last = accepted_offers.get(lead_id, [])
                if assigned is None or not last or last[-1][0] != assigned:
                    problems.append(
                        f"lead {lead_id} ({status}): holder {assigned}, last accepted offer "
                        f"{last[-1] if last else None}"
                    )
            elif assigned is not None:
                problems.append(f"lead {lead_id} ({status}) still assigned to {assigned}")
        statuses = Counter(s for _, s, _ in leads)
        report.checks.append(
            Check(
                "holders: every lead has at most one holder and one accepted offer at a time",
                not problems,
                f"{len(leads)} leads, {holders} held; "
                f"{sum(t == 'accepted' for e in events.values() for t, _ in e)} acceptances, "
                f"{sum(t == 'released' for e in events.values() for t, _ in e)} releases, "
                f"{sum(t == 'exchange_claimed' for e in events.values() for t, _ in e)} claims "
                f"from the exchange, "
                f"{sum(t == 'exchange_claim_lapsed' for e in events.values() for t, _ in e)} "
                "lapsed; "
                f"leads by status {dict(sorted(statuses.items()))}",
                problems,
            )
        )

        # 3. no offer email sent twice (and none missing). A claim from the exchange is written
        # as an offer row of status 'claimed' (it counts toward caps) but is no emailed offer:
        # the exchange check (8) accounts for those.
        offers = db.query(
            "SELECT id, lead_id, installer_id, status FROM offers WHERE status != 'claimed'"
        )
        nonces = dict(
            db.query("SELECT nonce, subject_id FROM link_nonces WHERE purpose = 'accept'")
        )
        mails_per_offer: Counter = Counter()
        problems = []
        for mail in inst.offer_mails:
            offer_id = nonces.get(token_nonce(mail.accept))
            if offer_id is None:
                problems.append(f"offer email {mail.file}: its accept link names no offer")
            mails_per_offer[offer_id] += 1
        twice = {o: n for o, n in mails_per_offer.items() if n > 1}
        for offer_id, count in sorted(twice.items())[:20]:
            problems.append(f"offer {offer_id}: {count} offer emails")
        missing = [o for o, *_ in offers if o not in mails_per_offer]
        if missing:
            problems.append(f"{len(missing)} offers without an offer email: {missing[:10]}")
        pairs = Counter((lead, installer) for _, lead, installer, _ in offers)
        for (lead, installer), count in pairs.items():
            if count > 1:
                problems.append(f"lead {lead} offered {count} times to installer {installer}")
        outbox_offers = Counter(
            (lead, installer)
            for lead, installer in db.query(
                "SELECT lead_id, installer_id FROM outbox WHERE template = 'offer'"
            )
        )
        for key, count in outbox_offers.items():
            if count > pairs.get(key, 0):
                problems.append(f"lead/installer {key}: {count} offer emails queued")
        claim_rows = db.scalar("SELECT count(*) FROM offers WHERE status = 'claimed'")
        claim_events = db.scalar("SELECT count(*) FROM lead_events WHERE type = 'exchange_claimed'")
        if claim_rows != claim_events:
            problems.append(f"{claim_rows} claimed offer rows for {claim_events} claims")
        dup_ids = {m: n for m, n in inst.message_ids.items() if n > 1}
        if dup_ids:
            problems.append(f"Message-IDs delivered more than once: {list(dup_ids)[:5]}")
        # Speed to lead (#20, with short windows or escalation set): offers made to everyone
        # left at once, and leads held for an installer's working hours.
        escalated = db.scalar(
            "SELECT count(*) FROM offers WHERE left(routing_reason, 9) = 'escalated'"
        )
        held = db.scalar("SELECT count(*) FROM lead_events WHERE type = 'held'")
        taken = db.scalar(
            "SELECT count(*) FROM lead_events WHERE type = 'offers_withdrawn' "
            "AND data->>'reason' = 'taken'"
        )
        report.checks.append(
            Check(
                "offer emails: none sent twice, none missing",
                not problems,
                f"{len(offers)} offers, {len(inst.offer_mails)} offer emails in the Maildir "
                f"({len(inst.mails)} emails in all), {len(twice)} offers with more than one; "
                f"{escalated} escalated offers, {taken} escalations won, {held} leads held",
                problems,
            )
        )

        # 4. every deadline that passed was acted on
        problems = list(self.deadline_problems)
        real_overdue = db.query(
            "SELECT id, deadline FROM offers WHERE status = 'offered' AND deadline <= now()"
        )
        for offer_id, deadline in real_overdue:
            problems.append(f"offer {offer_id}: deadline {deadline} passed (real time), still open")
        expired = db.scalar("SELECT count(*) FROM offers WHERE status = 'expired'")
        report.checks.append(
            Check(
                "deadlines: every deadline that passed was acted on",
                not problems,
                f"{len(self.jumps)} time jumps (each: 2 sweeps at the same instant), last to "
                f"{self.virtual:%Y-%m-%d %H:%M} UTC; {expired} offers expired; "
                f"no offer left open past a sweep instant",
                problems,
            )
        )

        # 5. the outbox is empty or holds only permanent failures
        states = dict(db.query("SELECT state, count(*) FROM outbox GROUP BY state"))
        active = db.query(
            "SELECT id, state, attempts, last_error FROM outbox"
            " WHERE state IN ('queued', 'sending') ORDER BY id LIMIT 20"
        )
        failed = db.query(
            "SELECT id, attempts, last_error FROM outbox WHERE state = 'failed' LIMIT 20"
        )
        problems = [f"outbox {i} {s} (attempts {a}, last error {e!r})" for i, s, a, e in active]
        report.checks.append(
            Check(
                "outbox: empty or only permanent failures",
                not active,
                f"outbox by state {dict(sorted(states.items()))}"
                + (f"; failed: {failed[:3]}" if failed else ""),
                problems,
            )
        )

        # 6. duplicates recognised: one original lead per customer
        originals = Counter(
            (email_, postcode)
            for email_, postcode in db.query(
                "SELECT email, postcode FROM leads WHERE duplicate_of_id IS NULL"
            )
        )
        problems = []
        for (email_, postcode), n in sorted(originals.items()):
            if n < 2:
                continue
            rows = db.query(
                "SELECT l.id, l.source, l.created_at, l.status, count(o.id) FROM leads l"
                " LEFT JOIN offers o ON o.lead_id = l.id WHERE l.email = %s AND l.postcode = %s"
                " AND l.duplicate_of_id IS NULL GROUP BY l.id ORDER BY l.id",
                (email_, postcode),
            )
            first = rows[0][2]
            leads_text = ", ".join(
                f"lead {i} ({src}, {(at - first).total_seconds() * 1000:+.0f} ms, {st}, "
                f"{n_offers} offers)"
                for i, src, at, st, n_offers in rows
            )
            problems.append(f"customer {email_} {postcode}: {n} original leads: {leads_text}")
        twins = sum(1 for s in self.subs if s.variant == "twin") // 2
        dups = sum(1 for s in self.subs if s.variant == "dup")
        report.checks.append(
            Check(
                "duplicates: one original lead per customer",
                not problems,
                f"{len(originals)} customers, {dups} later duplicates, {twins} twin submissions "
                f"(the same customer twice at the same moment: two frontends, or SMTP and the "
                f"webhook); {len(problems)} customers with more than one original lead",
                problems,
            )
        )

        # 7. no offers to installers on vacation
        problems = []
        if self.vacation:
            grace = self.vacation["set_at"] + timedelta(seconds=2)
            rows = db.query(
                "SELECT o.id, i.email, o.offered_at FROM offers o JOIN installers i"
                " ON i.id = o.installer_id WHERE i.email = ANY(%s) AND o.offered_at > %s",
                (self.vacation["emails"], grace),
            )
            problems = [f"offer {o} to {e} at {t}" for o, e, t in rows]
        report.checks.append(
            Check(
                "vacation: no offers to installers on vacation",
                not problems,
                f"{len(self.vacation.get('emails', []))} installers on vacation from "
                f"{self.vacation['set_at']:%H:%M:%S} UTC"
                if self.vacation
                else "vacation was not set",
                problems,
            )
        )

        # 7b. caps: no capped installer was offered more leads in a day, week or month (their
        # time zone) than the cap in force (their own, paced: mailflow.domain.routing), with
        # the traders' declines and claims in the mix. Withdrawn offers do not count.
        problems = []
        capped = {i.email: i for i in self.network if i.cap_day or i.cap_month}
        rows = db.query(
            "SELECT i.email, i.timezone, o.offered_at FROM offers o JOIN installers i"
            " ON i.id = o.installer_id WHERE o.status != 'withdrawn' AND i.email = ANY(%s)",
            (list(capped),),
        )
        per_period: Counter = Counter()
        for email_, tz, offered_at in rows:
            for kind, start in zip(
                ("day", "week", "month"), period_starts(offered_at, tz), strict=True
            ):
                per_period[(email_, kind, start)] += 1
        most: Counter = Counter()
        for (email_, kind, start), n in sorted(per_period.items()):
            i = capped[email_]
            day, week, month = paced_caps(i.cap_day, None, i.cap_month)
            cap = {"day": day, "week": week, "month": month}[kind]
            most[kind] = max(most[kind], n)
            if cap is not None and n > cap:
                problems.append(
                    f"{email_}: {n} leads offered in the {kind} from {start:%Y-%m-%d}, cap {cap}"
                )
        report.checks.append(
            Check(
                "caps: no installer offered more leads in a period than their cap",
                not problems,
                f"{len(capped)} capped installers (daily {sorted({i.cap_day for i in capped.values() if i.cap_day})}, "
                f"monthly {sorted({i.cap_month for i in capped.values() if i.cap_month})}, "
                f"paced), {len(rows)} offers to them; the most in one day "
                f"{most['day']}, week {most['week']}, month {most['month']}",
                problems,
            )
        )

        # 8. races on links: one winner; late clicks change nothing
        problems = []
        for pair in inst.double_clicks:
            if list(pair).count(200) > 1:
                problems.append(f"double click: both POSTs accepted {pair}")
        late_ok = [s for _, s in inst.late_clicks if s in (409, 410)]
        for who, status in inst.late_clicks:
            if status not in (409, 410):
                problems.append(f"late click by {who}: HTTP {status}")
        report.checks.append(
            Check(
                "links: one winner per double click, late clicks refused",
                not problems,
                f"{len(inst.double_clicks)} double clicks "
                f"{dict(Counter('+'.join(map(str, p)) for p in inst.double_clicks))}, "
                f"{len(late_ok)}/{len(inst.late_clicks)} late clicks refused with 409/410",
                problems,
            )
        )

        self._check_exchange()

        # 9. no email queued twice (any template). A last time jump first, nine weeks on: the
        # leads expire and every installer is silent long enough to be deactivated, by both
        # sweeps at one instant.
        self.jump(final=True, at_least=self.started_at + timedelta(weeks=9))
        self.wait_quiet(self.cfg.settle_timeout)
        states = dict(db.query("SELECT state, count(*) FROM outbox GROUP BY state"))
        rows = db.query(
            'SELECT template, "to", lead_id, created_at, count(*) FROM outbox'
            ' GROUP BY template, "to", lead_id, created_at HAVING count(*) > 1'
            " ORDER BY 1, 2 LIMIT 50"
        )
        problems = [
            f"{template} to {to} (lead {lead}) at {at:%Y-%m-%d %H:%M:%S}: queued {n} times"
            for template, to, lead, at, n in rows
        ]
        report.checks.append(
            Check(
                "emails: none queued twice for the same event",
                not rows,
                f"{sum(states.values())} outbox rows after a last time jump nine weeks on; by "
                f"template {dict(db.query('SELECT template, count(*) FROM outbox GROUP BY 1'))}",
                problems,
            )
        )

        # 10. forged bounces changed nothing (outbound mail goes to a Maildir: no bounce here
        # is genuine), and each one is on record as an ignored bounce
        flagged = db.query(
            "SELECT email, bounce_reason FROM installers WHERE bounced_at IS NOT NULL"
        )
        marked = db.scalar("SELECT count(*) FROM outbox WHERE state = 'bounced'")
        history = db.scalar("SELECT count(*) FROM bounce_events")
        ids = [sub.inbound_id for sub in self.forged if sub.inbound_id]
        reasons = (
            dict(db.query("SELECT id, reason FROM inbound_messages WHERE id = ANY(%s)", (ids,)))
            if ids
            else {}
        )
        problems = [f"installer {email} flagged: {reason}" for email, reason in flagged]
        if marked:
            problems.append(f"{marked} outbox messages marked bounced")
        if history:
            problems.append(f"{history} bounces recorded as verified")
        problems += [
            f"forged bounce (inbound {i}) not ignored: {reasons.get(i)!r}"
            for i in ids
            if "ignored" not in (reasons.get(i) or "")
        ]
        if len(ids) < len(self.forged):
            problems.append(f"only {len(ids)} of {len(self.forged)} forged bounces were accepted")
        report.checks.append(
            Check(
                "bounces: forged bounces disable nobody and mark no message",
                not problems,
                f"{len(self.forged)} forged bounces (X-Failed-Recipients, guessed and badly "
                f"signed return paths) all ignored; {len(flagged)} installers flagged, "
                f"{marked} messages marked bounced",
                problems,
            )
        )

        # 11. no exception other than connection errors during the faults
        problems = []
        errors_total = 0
        for service in [*self.topo.services(), *self.topo.retired]:
            for (error, frame), count in unexpected_errors(service.output()).items():
                errors_total += count
                problems.append(f"{service.name}: {count} x {error} (at {frame})")
        for (error, frame), count in self.sweep_errors.items():
            errors_total += count
            problems.append(f"sweep --at: {count} x {error} (at {frame})")
        report.checks.append(
            Check(
                "errors: no exception in any process log but connection errors during faults",
                not problems,
                f"{errors_total} unexpected exceptions",
                problems,
            )
        )

        # 12. processes: nothing died, everything came back
        problems = []
        for service in self.topo.services():
            if not service.alive():
                problems.append(
                    f"{service.name} exited with {service.proc.returncode}: "
                    f"{service.output()[-400:]!r}"
                )
        tracebacks = Counter()
        for service in [*self.topo.services(), *self.topo.retired]:
            tracebacks[service.name] = service.output().count("Traceback")
        canary = self.canary
        if canary.get("seconds") is None:
            problems.append(f"canary lead after the faults: no offer within 20 s ({canary})")
        report.checks.append(
            Check(
                "processes: none crashed, all recovered after the faults",
                not problems,
                f"{len(self.topo.services())} processes alive at the end; a lead sent after "
                f"the faults was offered in {canary.get('seconds') or '-'} s through the "
                f"restarted Redis and the workers; tracebacks logged (retried errors during "
                f"the faults) {dict(tracebacks)}",
                problems,
            )
        )

        # the printout
        s = self.stats
        report.lines += [
            f"leads: {self.cfg.leads} over {self.cfg.minutes * 60:.0f}s; "
            f"{len(self.subs)} submissions (SMTP {sum(x.kind == 'smtp' for x in self.subs)}, "
            f"webhook {sum(x.kind == 'webhook' for x in self.subs)}; "
            f"variants {dict(Counter(x.variant for x in self.subs))})",
            f"senders: SMTP 250 {s['smtp_250']}, 451 {s['smtp_451']}, "
            f"temporary failures {s['smtp_temporary_failures']} (retried); "
            f"webhook 201 {s['webhook_201']}, 200 {s['webhook_200']}, 5xx {s['webhook_500']}; "
            f"replies 250 {s['reply_250']}, temporary failures {s['reply_temporary_failures']}",
            f"installers: {dict(sorted(inst.stats.items()))}",
            f"exchange: {getattr(self, 'exchange_figures', {})}; "
            f"answers {dict(sorted(self.exchange.stats.items()))}",
            "metrics at the end:",
            *[f"  {line}" for line in getattr(self, "metrics", [])],
            "faults and time jumps:",
            *[f"  {e}" for e in self.events],
        ]


def run_soak(config: SoakConfig, log=print) -> SoakReport:
    return Soak(config, log).run_soak()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--installers", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--smtp", type=int, default=2)
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument(
        "--traders", type=int, default=3, help="Installers using the exchange (0: none)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the logs and Maildir.")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="MAILFLOW_X=VALUE",
        help="A setting of every process (repeatable), e.g. MAILFLOW_OFFER_WINDOW=30m.",
    )
    parser.add_argument("--json", type=Path, help="Also write the invariants as JSON here.")
    args = parser.parse_args(argv)
    missing = missing_binaries()
    if missing:
        print("missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    config = SoakConfig(
        leads=args.leads,
        minutes=args.minutes,
        installers=args.installers,
        seed=args.seed,
        workers=args.workers,
        smtp=args.smtp,
        schedulers=args.schedulers,
        faults=not args.no_faults,
        traders=args.traders,
        keep=args.keep,
        settings=tuple(tuple(s.split("=", 1)) for s in args.setting),
    )
    started = time.monotonic()
    report = run_soak(config)
    print()
    print(report.text())
    print(f"soak took {time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(
            json.dumps(
                [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks],
                indent=2,
            )
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
