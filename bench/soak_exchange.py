"""The soak's exchange traders: installers who use the open lead exchange (#17) through the
web process, as a person in a browser would.

Each trader signs in once like any installer (``/dashboard/signin``, the one-time link emailed
to them and read from the Maildir, then the link page's form), keeps its session cookie, and
every few seconds looks at its "Available leads" tab (``/dashboard/?tab=available``). It claims
some of the leads listed there (POST with the session's CSRF token); a lead listed for two
traders is sometimes claimed by both at the same instant. A claim won is either worked on (a
status recorded on the lead page: the reservation holds) or left alone, so that the soak's
time jumps let it lapse back into the exchange. Every answer is recorded for the invariants
(``Soak._check``): one winner per race, refusals answered 409 (never 500), every claim won on
the lead's timeline, lapsed claims back in the exchange and never with the lapsed installer,
no customer identity on the Available page.

The leads come from the soak's exchange area: postcodes nobody serves but the traders, who
decline every offer (so such a lead goes through its rotation to the pool, which lists it in
the exchange) and then claim from the exchange what they want.
"""

from __future__ import annotations

import concurrent.futures as cf
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field

# The exchange area: served by the traders only (not one of the soak's REGIONS).
AREA = ("77", "Melun", ["77000", "77100", "77190", "77300"])
SIGNIN_LINK = re.compile(r"/l/signin/[A-Za-z0-9_\-.]+")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LISTED = re.compile(r'id="exchange-(\d+)"')
# What a customer's identity looks like in the soak's leads (soak.customer / lead_email).
IDENTITY = re.compile(r"Client Soak|@example\.fr|rue de la Paix|\b06 \d\d \d\d \d\d \d\d\b")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 303 is an answer to record, not to follow


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Claim:
    trader: str
    lead_id: int
    status: int  # the final answer (303 won, 409 taken, ...)
    race: int | None = None  # index of the race, when two traders claimed at once
    unavailable: int = 0  # 503 answers retried (PostgreSQL down)
    errors: list[int] = field(default_factory=list)  # 500 answers (never expected)
    worked: bool | None = None  # a won claim: status recorded (True) or left to lapse
    # The status was refused (409): right only if a time jump lapsed the claim in between.
    status_refused: bool = False


class Trader:
    """One installer with a dashboard session (its own cookies)."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url = base_url
        self.email = email
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None  # the session's token, echoed by every form
        self.links: list[str] = []  # sign-in links read from the Maildir
        self.link_arrived = threading.Event()
        self.signed_in = False

    def request(self, method: str, path: str, fields: dict | None = None, *, give_up=120.0):
        """One request (retried while the service is unavailable: 503, refused); returns
        (status, body, headers, 5xx answers seen)."""
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        seen: list[int] = []
        deadline = time.monotonic() + give_up
        delay = 0.5
        while True:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
            if data is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            req = urllib.request.Request(
                self.base_url + path, data=data, method=method, headers=headers
            )
            try:
                with _OPENER.open(req, timeout=60) as response:
                    status, body, got = response.status, response.read(), response.headers
            except urllib.error.HTTPError as exc:
                status, body, got = exc.code, exc.read(), exc.headers
            except OSError:
                status, body, got = None, b"", None
            if got is not None:
                for value in got.get_all("set-cookie") or []:
                    name, _, rest = value.partition("=")
                    cookie = rest.split(";", 1)[0]
                    if cookie and "max-age=0" not in value.lower():
                        self.cookies[name.strip()] = cookie
                    else:
                        self.cookies.pop(name.strip(), None)
            if status is not None and status < 500:
                return status, body.decode(errors="replace"), got, seen
            if status is not None:
                seen.append(status)
            if time.monotonic() > deadline:
                return status or 0, body.decode(errors="replace"), got, seen
            time.sleep(delay)
            delay = min(delay * 2, 4.0)

    def sign_in(self, timeout: float = 90.0) -> bool:
        """The emailed one-time link, asked for again if it does not come (the job can be lost
        with Redis's data, on purpose, during the soak)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            status, page, _, _ = self.request("GET", "/dashboard/signin")
            token = CSRF.search(page)
            if status != 200 or not token:
                time.sleep(1)
                continue
            self.link_arrived.clear()
            self.request(
                "POST", "/dashboard/signin", {"csrf_token": token.group(1), "email": self.email}
            )
            if not self.link_arrived.wait(20):
                continue
            link = self.links[-1]
            status, page, _, _ = self.request("GET", link)
            token = CSRF.search(page)
            if status != 200 or not token:
                continue
            status, _, headers, _ = self.request("POST", link, {"csrf_token": token.group(1)})
            if status == 303 and "/dashboard" in (headers.get("location") or ""):
                self.signed_in = True
                return True
        return False

    def available(self) -> tuple[int, str, list[int]]:
        status, page, _, _ = self.request("GET", "/dashboard/?tab=available")
        token = CSRF.search(page)
        if token:
            self.csrf = token.group(1)
        return status, page, [int(n) for n in LISTED.findall(page)]

    def claim(self, lead_id: int) -> tuple[int, list[int]]:
        status, _, headers, seen = self.request(
            "POST", f"/dashboard/exchange/{lead_id}/claim", {"csrf_token": self.csrf or ""}
        )
        if status == 303 and "done=claimed" not in (headers.get("location") or ""):
            status = -303  # redirected elsewhere (signed out?): not a claim won
        return status, seen

    def record_status(self, lead_id: int) -> int:
        status, _, _, _ = self.request(
            "POST",
            f"/dashboard/leads/{lead_id}/status",
            {"csrf_token": self.csrf or "", "status": "contact_attempted"},
        )
        return status


class Exchange:
    """The traders, looking at their Available leads every ``every`` seconds."""

    def __init__(self, base_url: str, emails: list[str], rng, *, every: float = 2.0) -> None:
        self.traders = {e: Trader(base_url, e) for e in emails}
        self.rng = rng
        self.every = every
        self.lock = threading.Lock()
        self.stats: Counter = Counter()
        self.claims: list[Claim] = []
        self.races = 0
        self.views = 0  # Available pages read with at least one lead listed
        self.listed: set[int] = set()
        self.leaks: list[str] = []  # customer identity seen on an Available page
        # The latest Available pages listing leads, (trader, lead ids, page), for the check
        # against each listed lead's own customer fields.
        self.pages: deque = deque(maxlen=300)
        self.problems: list[str] = []  # unexpected answers (sign-in, pages, status)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="exchange", daemon=True)

    # -- the Maildir tells us of sign-in links (Installers._read)
    def mail(self, to: str, text: str) -> bool:
        trader = self.traders.get(to)
        found = SIGNIN_LINK.search(text)
        if trader is None or not found:
            return False
        trader.links.append(found.group(0))
        trader.link_arrived.set()
        return True

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.ident is not None:
            self.thread.join(180)

    def _count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.stats[key] += n

    def _run(self) -> None:
        with cf.ThreadPoolExecutor(len(self.traders), thread_name_prefix="trader") as pool:
            for trader, ok in zip(
                self.traders.values(),
                pool.map(lambda t: t.sign_in(), self.traders.values()),
                strict=True,
            ):
                if not ok:
                    self.problems.append(f"{trader.email}: could not sign in")
            self._count("signed_in", sum(t.signed_in for t in self.traders.values()))
            while not self.stop_event.wait(self.every):
                try:
                    self._round(pool)
                except Exception as exc:  # recorded, the soak goes on
                    self.problems.append(f"exchange round: {exc!r}")

    def _round(self, pool) -> None:
        traders = [t for t in self.traders.values() if t.signed_in]
        views = dict(zip(traders, pool.map(lambda t: t.available(), traders), strict=True))
        seen_by: dict[int, list[Trader]] = {}
        for trader, (status, page, ids) in views.items():
            if status != 200:
                self.problems.append(f"{trader.email}: Available leads answered {status}")
                continue
            if ids:
                self.views += 1
                self.pages.append((trader.email, ids, page))
            self.listed.update(ids)
            leak = IDENTITY.search(page)
            if leak:
                self.leaks.append(f"{trader.email} saw {leak.group(0)!r} (leads {ids})")
            for lead_id in ids:
                seen_by.setdefault(lead_id, []).append(trader)
        busy: set[str] = set()
        jobs = []
        for lead_id, who in sorted(seen_by.items()):
            free = [t for t in who if t.email not in busy]
            if len(free) >= 2 and self.rng.random() < 0.5:
                pair = self.rng.sample(free, 2)
                busy.update(t.email for t in pair)
                self.races += 1
                jobs.append(pool.submit(self._race, lead_id, pair, self.races))
            elif free and self.rng.random() < 0.5:
                trader = self.rng.choice(free)
                busy.add(trader.email)
                jobs.append(pool.submit(self._claim, trader, lead_id, None, None))
        for job in jobs:
            job.result()

    def _race(self, lead_id: int, pair: list[Trader], race: int) -> None:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=self._claim, args=(t, lead_id, race, barrier)) for t in pair
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _claim(self, trader: Trader, lead_id: int, race: int | None, barrier) -> None:
        if barrier is not None:
            barrier.wait()
        status, seen = trader.claim(lead_id)
        claim = Claim(
            trader.email,
            lead_id,
            status,
            race,
            unavailable=seen.count(503),
            errors=[s for s in seen if s != 503],
        )
        with self.lock:
            self.claims.append(claim)
            self.stats[f"claim_{status}"] += 1
        if status != 303:
            return
        # Half the claims are worked on at once; the others are left to lapse.
        claim.worked = self.rng.random() < 0.5
        if claim.worked:
            answer = trader.record_status(lead_id)
            self._count(f"status_{answer}")
            if answer == 409:
                claim.worked, claim.status_refused = None, True
            elif answer != 303:
                claim.worked = None
                self.problems.append(f"{trader.email}: status on lead {lead_id} answered {answer}")

    # -- figures
    def summary(self) -> dict:
        won = [c for c in self.claims if c.status == 303]
        raced = [c for c in self.claims if c.race is not None]
        return {
            "traders signed in": sum(t.signed_in for t in self.traders.values()),
            "leads listed": len(self.listed),
            "claims tried": len(self.claims),
            "won": len(won),
            "races": self.races,
            "lost races": sum(c.status != 303 for c in raced),
            "worked on": sum(c.worked is True for c in won),
            "left to lapse": sum(c.worked is False for c in won),
            "503 retried": sum(c.unavailable for c in self.claims),
        }
