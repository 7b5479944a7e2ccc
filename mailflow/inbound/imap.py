"""The IMAP intake: read a mailbox, store each message, and only then mark it.

Protocol (PRODUCT.md §2, ``MAILFLOW_IMAP_URL``):

* select the folder and note its UIDVALIDITY;
* unprocessed messages are those without the keyword ``$MailflowStored`` (when the folder
  accepts new keywords, ``\\*`` in PERMANENTFLAGS), else those without ``\\Seen``; messages
  flagged ``\\Deleted`` are left alone. A keyword is more robust than ``\\Seen``: a person
  reading the mailbox in a mail client does not make the poller skip a lead;
* bodies are fetched in batches with ``BODY.PEEK[]`` (which does not set ``\\Seen``), each
  message is committed by :func:`~mailflow.infra.intake_store.store_inbound`, and only after it
  returned is the message marked (keyword and ``\\Seen``);
* a crash between storing and marking is harmless: the message is read again and
  ``store_inbound`` recognises it (by Message-ID, or by the hash of its bytes), so no second
  lead appears; it is then marked;
* a storage failure leaves the message unmarked; it is retried (with backoff) on a later poll.

Waiting for new mail uses IDLE when the server has it, else polling every
``imap_poll_seconds``. IDLE is left and re-issued at least every ``imap_idle_seconds`` and
every ``recheck_seconds`` (default 60): each round ends with DONE, a NOOP when the server said
nothing at all, and a search, which detects a silently dead connection (every command runs
under a socket timeout) and catches a message the server failed to announce. A lost
connection is re-established with capped exponential backoff; the loop records the error in
:attr:`ImapPoller.health` and never dies. Passwords never reach the logs or the health record.
"""

from __future__ import annotations

import logging
import socket
import ssl as ssl_lib
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from urllib.parse import quote, unquote, urlsplit

from mailflow.clock import now
from mailflow.config import Settings, get_settings
from mailflow.infra.intake_store import Stored, store_inbound
from mailflow.lazy import LazyModule
from mailflow.models import Channel

log = logging.getLogger(__name__)

# The IMAP client loads when a mailbox is first polled, not in every process (mailflow.lazy).
imapclient = LazyModule("imapclient")

KEYWORD = "$MailflowStored"
SEEN = "\\Seen"
DEFAULT_PORTS = {"imap": 143, "imaps": 993, "imap+starttls": 143}


class ImapError(Exception):
    """A problem with the IMAP server or mailbox (the loop reconnects after it)."""


# ------------------------------------------------------------------------------ URL --------
@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    ssl: bool = False  # imaps:// (TLS from the start)
    starttls: bool = False  # imap+starttls:// (upgrade a plain connection)

    @property
    def scheme(self) -> str:
        return "imaps" if self.ssl else "imap+starttls" if self.starttls else "imap"

    @property
    def safe_url(self) -> str:
        """The URL without the password (for logs and the admin pages)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"{self.scheme}://{quote(self.user, safe='@')}@{host}:{self.port}/"
            f"{quote(self.folder, safe='/')}"
        )


def parse_imap_url(url: str) -> ImapTarget:
    """``imap://user:pass@host:port/FOLDER`` or ``imaps://…`` (also ``imap+starttls://…``).

    User and password are percent-decoded; the port defaults to 143 (993 for imaps); the
    folder to INBOX (``/Leads/Incoming`` selects ``Leads/Incoming``)."""
    parts = urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"IMAP URL must start with imap:// or imaps://, not {scheme or '?'}://")
    if not parts.hostname:
        raise ValueError("IMAP URL has no host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:  # port out of range / not a number
        raise ValueError(f"IMAP URL has an invalid port: {exc}") from None
    user = unquote(parts.username or "")
    # RFC 5092 allows ";AUTH=<mech>" after the user name; LOGIN is what we do anyway.
    if ";" in user and user.lower().rsplit(";", 1)[1].startswith("auth="):
        user = user.rsplit(";", 1)[0]
    if not user:
        raise ValueError("IMAP URL has no user name")
    password = unquote(parts.password or "")
    folder = unquote(parts.path).strip("/") or "INBOX"
    return ImapTarget(
        host=parts.hostname,
        port=port,
        user=user,
        password=password,
        folder=folder,
        ssl=scheme == "imaps",
        starttls=scheme == "imap+starttls",
    )


# ------------------------------------------------------------------------------ health -----
@dataclass
class ImapHealth:
    """What the admin pages show about the poller. Written by the poller thread only."""

    target: str = ""  # URL without password
    # starting, connecting, polling (search/fetch/store), idle (in IDLE), waiting (between
    # polls without IDLE), backoff (waiting to reconnect), stopped
    state: str = "starting"
    connected: bool = False
    idle_supported: bool | None = None  # None until the first connection
    uses_keyword: bool | None = None  # False: \\Seen marks processed messages
    uidvalidity: int | None = None
    last_successful_poll: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    messages_stored: int = 0  # new InboundMessage rows created by this poller
    messages_duplicate: int = 0  # read again, already stored (e.g. after a crash)
    connects: int = 0

    @property
    def ok(self) -> bool:
        """Connected, and no error since the last successful poll."""
        if not self.connected or self.last_successful_poll is None:
            return False
        return self.last_error_at is None or self.last_error_at <= self.last_successful_poll

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        for key in ("last_successful_poll", "last_error_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data


@dataclass
class PollResult:
    found: int = 0  # unprocessed messages the server listed
    stored: int = 0  # newly stored
    duplicates: int = 0  # already stored before, now marked
    storage_failed: bool = False  # a store_inbound call raised; the rest waits for a retry
    more: bool = False  # the server announced new mail while we were busy: poll again


# ------------------------------------------------------------------------------ poller -----
_active_lock = threading.Lock()
_active: ImapPoller | None = None


def active_poller() -> ImapPoller | None:
    """The poller whose :meth:`ImapPoller.run` loop is running in this process, if any."""
    return _active


class ImapPoller:
    """Polls one IMAP folder into :func:`store_inbound`.

    Not thread-safe: one thread runs :meth:`run` (or calls :meth:`poll_once`); other threads
    only read :attr:`health`.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        url: str | None = None,
        idle_seconds: float | None = None,
        poll_seconds: float | None = None,
        use_idle: bool = True,
        timeout: float = 30.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        batch_size: int = 10,
        keyword: str = KEYWORD,
        use_keyword: bool | None = None,
        recheck_seconds: float = 60.0,
        tick: float = 0.5,
        ssl_context: ssl_lib.SSLContext | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        url = url or self.settings.imap_url
        if not url:
            raise ValueError("MAILFLOW_IMAP_URL is not set")
        self.target = parse_imap_url(url)
        self.idle_seconds = float(idle_seconds or self.settings.imap_idle_seconds)
        self.poll_seconds = float(poll_seconds or self.settings.imap_poll_seconds)
        self.use_idle = use_idle
        self.timeout = timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.batch_size = max(1, batch_size)
        self.keyword = keyword
        self.use_keyword = use_keyword  # None: when the folder accepts new keywords
        # IDLE rounds last at most this long (and at most idle_seconds). Each round ends with
        # DONE, NOOP if the server said nothing, and a search: a liveness check, and a safety
        # net for servers that miss announcing a message which arrives just as IDLE starts
        # (Dovecot does, sometimes: it then reports it only at its next 30s check).
        self.recheck_seconds = float(recheck_seconds)
        self.tick = tick
        self.ssl_context = ssl_context
        self.health = ImapHealth(target=self.target.safe_url)
        self._client: imapclient.IMAPClient | None = None
        self._connecting: imapclient.IMAPClient | None = (
            None  # between connect and a selected folder
        )
        self._uidvalidity: int | None = None
        self._use_keyword = False
        self._stop: threading.Event | None = None
        self._recorded: BaseException | None = None  # the error last put into health

    # -------------------------------------------------------------- the loop -------------
    def run(self, stop_event: threading.Event) -> None:
        """Poll until ``stop_event`` is set (checked at least every ``tick`` seconds).

        Never raises because of the server or the database: errors are logged, recorded in
        :attr:`health`, and followed by a reconnect (connection problems) or a retry (storage
        problems) with exponential backoff."""
        global _active
        self._stop = stop_event
        with _active_lock:
            _active = self
        log.info("IMAP poller started for %s", self.target.safe_url)
        finished = threading.Event()
        threading.Thread(
            target=self._abort_on_stop,
            args=(stop_event, finished),
            name="imap-poller-stop",
            daemon=True,
        ).start()
        conn_backoff = self.backoff_initial
        storage_backoff = self.backoff_initial
        try:
            while not stop_event.is_set():
                try:
                    result = self.poll_once()
                    conn_backoff = self.backoff_initial
                    retry_in = None
                    if result.storage_failed:
                        retry_in = storage_backoff
                        storage_backoff = min(storage_backoff * 2, self.backoff_max)
                    else:
                        storage_backoff = self.backoff_initial
                    if stop_event.is_set():
                        break
                    if result.more and retry_in is None:
                        continue
                    self._wait_for_mail(stop_event, retry_in)
                except Exception as exc:
                    if stop_event.is_set():  # the socket was shut down to stop us
                        self._disconnect(graceful=False)
                        break
                    if exc is not self._recorded:  # poll_once records its own
                        self._record_error("IMAP connection lost", exc)
                    self._disconnect(graceful=False)
                    log.warning(
                        "IMAP %s: %s; reconnecting in %.1fs",
                        self.target.safe_url,
                        self.health.last_error,
                        conn_backoff,
                    )
                    self.health.state = "backoff"
                    if stop_event.wait(conn_backoff):
                        break
                    conn_backoff = min(conn_backoff * 2, self.backoff_max)
        finally:
            finished.set()
            self.close()
            self.health.state = "stopped"
            with _active_lock:
                if _active is self:
                    _active = None
            log.info("IMAP poller stopped")

    def _abort_on_stop(self, stop_event: threading.Event, finished: threading.Event) -> None:
        """Once stop is requested, give the loop a moment to leave on its own; if it is stuck in
        a blocking call (a slow LOGIN, a hung server) shut its socket down so it returns now."""
        while not stop_event.wait(0.2):
            if finished.is_set():
                return
        if finished.wait(self.tick + 1.0):
            return
        client = self._client or self._connecting
        if client is not None:
            log.info("IMAP poller: aborting a blocked call to stop")
            try:
                client.socket().shutdown(socket.SHUT_RDWR)
            except Exception:
                pass

    def start_thread(self, stop_event: threading.Event) -> threading.Thread:
        """Run :meth:`run` in a daemon thread (for ``mailflow run``)."""
        thread = threading.Thread(
            target=self.run, args=(stop_event,), name="imap-poller", daemon=True
        )
        thread.start()
        return thread

    # -------------------------------------------------------------- one poll -------------
    def poll_once(self) -> PollResult:
        """Connect (or reuse the connection), store every unprocessed message, mark each one
        after it is stored. Raises on IMAP/connection errors (after dropping the connection);
        a storage failure does not raise but sets ``storage_failed``."""
        try:
            client = self._ensure_connected()
            self.health.state = "polling"
            result = self._fetch_and_store(client)
        except Exception as exc:
            self._record_error("IMAP poll failed", exc)
            self._disconnect(graceful=False)
            raise
        if not result.storage_failed:
            self.health.last_successful_poll = now()
        if result.found:
            log.info(
                "IMAP %s: %d new, %d already stored, %d waiting%s",
                self.target.safe_url,
                result.stored,
                result.duplicates,
                result.found - result.stored - result.duplicates,
                " (storage failed)" if result.storage_failed else "",
            )
        return result

    def close(self) -> None:
        """Log out and drop the connection (the next poll reconnects)."""
        self._disconnect(graceful=True)

    def _fetch_and_store(self, client: imapclient.IMAPClient) -> PollResult:
        result = PollResult()
        if self._use_keyword:
            criteria = ["UNKEYWORD", self.keyword, "NOT", "DELETED"]
        else:
            criteria = ["UNSEEN", "NOT", "DELETED"]
        _take_new_mail_hint(client)  # only what arrives from now on counts
        uids = sorted(client.search(criteria))
        result.found = len(uids)
        for start in range(0, len(uids), self.batch_size):
            batch = uids[start : start + self.batch_size]
            data = client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                if self._stop is not None and self._stop.is_set():
                    return result
                item = data.get(uid)
                raw = item.get(b"BODY[]") if item else None
                if raw is None:  # expunged meanwhile
                    continue
                try:
                    stored = self._store(raw, uid)
                except Exception as exc:
                    # Leave it (and the rest) unmarked: the next poll tries again.
                    self._record_error(f"storing UID {uid} failed", exc)
                    log.warning(
                        "IMAP: could not store UID %s (%s); will retry",
                        uid,
                        self.health.last_error,
                        exc_info=True,
                    )
                    result.storage_failed = True
                    return result
                if stored.created:
                    result.stored += 1
                    self.health.messages_stored += 1
                else:
                    result.duplicates += 1
                    self.health.messages_duplicate += 1
                log.debug(
                    "IMAP UID %s -> inbound %s%s",
                    uid,
                    stored.id,
                    "" if stored.created else " (already stored)",
                )
                self._mark(client, uid)
        # A message that arrived after SEARCH is announced (EXISTS) in the answer to one of
        # our later commands, not again in IDLE: look before going idle.
        result.more = _take_new_mail_hint(client)
        return result

    def _store(self, raw: bytes, uid: int) -> Stored:
        return store_inbound(
            raw,
            Channel.IMAP,
            settings=self.settings,
            imap_uidvalidity=self._uidvalidity,
            imap_uid=uid,
        )

    def _mark(self, client: imapclient.IMAPClient, uid: int) -> None:
        """Mark one stored message as processed (tests override this to simulate a crash)."""
        flags = [self.keyword, SEEN] if self._use_keyword else [SEEN]
        client.add_flags([uid], flags, silent=True)

    # -------------------------------------------------------------- waiting --------------
    def _wait_for_mail(self, stop_event: threading.Event, retry_in: float | None) -> None:
        """Return when there may be new mail, a retry is due, or ``stop_event`` is set."""
        if self.use_idle and self.health.idle_supported:
            self._idle(stop_event, retry_in)
        else:
            wait = self.poll_seconds if retry_in is None else min(retry_in, self.poll_seconds)
            self.health.state = "waiting"
            stop_event.wait(wait)

    def _idle(self, stop_event: threading.Event, retry_in: float | None) -> None:
        """One IDLE round: until new mail is announced, the round is over (``recheck_seconds``,
        at most ``idle_seconds``), a storage retry is due, or stop. Then DONE, NOOP when the
        server said nothing at all, and back to the caller, which searches the folder."""
        client = self._client
        assert client is not None
        started = time.monotonic()
        end = started + min(self.idle_seconds, self.recheck_seconds)
        if retry_in is not None:
            end = min(end, started + retry_in)
        client.idle()
        self.health.state = "idle"
        heard = False
        check_alive = False
        while not stop_event.is_set():
            current = time.monotonic()
            if current >= end:
                check_alive = not heard
                break
            timeout = max(0.01, min(self.tick, end - current))
            before = time.monotonic()
            responses = client.idle_check(timeout=timeout)
            if responses:
                heard = True
                if any(_is_bye(r) for r in responses):
                    raise ImapError(f"server closed the connection: {_bye_text(responses)}")
                if any(_is_new_mail(r) for r in responses):
                    break
            elif time.monotonic() - before < timeout / 2:
                # The socket was readable but held no complete response: usually EOF.
                check_alive = True
                break
        # DONE and its tagged answer, under the socket timeout: raises on a dead connection.
        self.health.state = "polling"
        client.idle_done()
        if check_alive:
            client.noop()

    # -------------------------------------------------------------- connection -----------
    def _ensure_connected(self) -> imapclient.IMAPClient:
        if self._client is not None:
            return self._client
        t = self.target
        self.health.state = "connecting"
        log.info("IMAP connecting to %s", t.safe_url)
        client = imapclient.IMAPClient(
            t.host, t.port, ssl=t.ssl, ssl_context=self.ssl_context, timeout=self.timeout
        )
        self._connecting = client
        try:
            if t.starttls:
                client.starttls(self.ssl_context)
            client.login(t.user, t.password)
            info = client.select_folder(t.folder)
            if not info.get(b"READ-WRITE"):
                raise ImapError(f"folder {t.folder!r} is read-only: messages cannot be marked")
            permanent = {f.lower() for f in info.get(b"PERMANENTFLAGS", ())}
            can_keyword = b"\\*" in permanent or self.keyword.lower().encode() in permanent
            self._use_keyword = can_keyword if self.use_keyword is None else self.use_keyword
            uidvalidity = info.get(b"UIDVALIDITY")
            idle = client.has_capability("IDLE")
        except BaseException:
            _shutdown(client)
            raise
        finally:
            self._connecting = None
        if self._uidvalidity is not None and uidvalidity != self._uidvalidity:
            log.warning(
                "IMAP %s: UIDVALIDITY changed %s -> %s (folder recreated?)",
                t.safe_url,
                self._uidvalidity,
                uidvalidity,
            )
        self._uidvalidity = uidvalidity
        self._client = client
        h = self.health
        h.connected = True
        h.connects += 1
        h.idle_supported = bool(idle)
        h.uses_keyword = self._use_keyword
        h.uidvalidity = uidvalidity
        log.info(
            "IMAP connected to %s (UIDVALIDITY %s, %s, marking with %s)",
            t.safe_url,
            uidvalidity,
            "IDLE" if idle and self.use_idle else "polling",
            self.keyword if self._use_keyword else SEEN,
        )
        return client

    def _disconnect(self, *, graceful: bool) -> None:
        client, self._client = self._client, None
        self.health.connected = False
        if client is None:
            return
        if graceful:
            try:
                client.logout()
                return
            except Exception:
                pass
        _shutdown(client)

    def _record_error(self, what: str, exc: BaseException) -> None:
        self._recorded = exc
        text = f"{what}: {type(exc).__name__}: {exc}"
        if self.target.password:
            text = text.replace(self.target.password, "***")
        self.health.last_error = text[:1000]
        self.health.last_error_at = now()


def _shutdown(client: imapclient.IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:
        pass


def _take_new_mail_hint(client: imapclient.IMAPClient) -> bool:
    """True when imaplib collected an untagged EXISTS (new mail may have arrived) since the
    last call. Forgets everything it collected: between our commands nothing is pending, and
    on a connection that lives for days the collection would only grow."""
    untagged = getattr(getattr(client, "_imap", None), "untagged_responses", None)
    if not isinstance(untagged, dict):
        return False
    found = any(
        (key.decode() if isinstance(key, bytes) else str(key)).upper() == "EXISTS"
        for key in untagged
    )
    untagged.clear()
    return found


def _is_bye(response) -> bool:
    return isinstance(response, tuple) and len(response) >= 1 and response[0] == b"BYE"


def _bye_text(responses) -> str:
    for r in responses:
        if _is_bye(r) and len(r) > 1:
            return " ".join(
                p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in r[1:]
            )
    return "BYE"


def _is_new_mail(response) -> bool:
    return (
        isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")
    )
