"""The IMAP intake against a real Dovecot (tests/support/servers/dovecot.py): store once, mark after storing,
IDLE, reconnects, storage failures, crash safety."""

from __future__ import annotations

import json
import logging
import selectors
import socket
import threading
import time

import pytest
from sqlalchemy import func, select

from mailflow.db import session_scope
from mailflow.inbound import imap as imap_mod
from mailflow.inbound.imap import ImapPoller, parse_imap_url
from mailflow.models import Channel, InboundMessage, Lead
from support.corpus import OUTCOME_FOR_KIND
from support.paths import CORPUS
from support.waiting import wait_for

CORPUS_LEADS = CORPUS / "leads"
KEYWORD = "$MailflowStored"
SEEN = "\\Seen"


def corpus() -> list[tuple[str, bytes, dict]]:
    items = []
    for path in sorted(CORPUS_LEADS.glob("*.eml")):
        expected = json.loads(path.with_suffix(".expected.json").read_text())
        items.append((path.stem, path.read_bytes(), expected))
    return items


def make_message(n: int, *, message_id: bool = True, subject: str = "Lead") -> bytes:
    headers = [
        "From: Calculator <noreply@calculator.example>",
        "To: leads@localhost",
        f"Subject: {subject} {n}",
        "Date: Fri, 20 Nov 2026 09:14:03 +0100",
    ]
    if message_id:
        headers.append(f"Message-ID: <imap-test-{n}@calculator.example>")
    body = [
        "Name: Test Person",
        f"E-Mail: person{n}@example.fr",
        "Telefon: +33 1 40 34 70 00",
        "Code postal: 75010",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode()


def inbound_rows(settings) -> list[InboundMessage]:
    with session_scope(settings) as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def inbound_count(settings) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(InboundMessage))


def make_poller(settings, dovecot, cls=ImapPoller, **kwargs) -> ImapPoller:
    kwargs.setdefault("url", dovecot.url)
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("backoff_initial", 0.1)
    kwargs.setdefault("backoff_max", 0.5)
    kwargs.setdefault("tick", 0.1)
    return cls(settings, **kwargs)


class Running:
    """A poller's run() loop in a thread; stops it (and checks it stopped promptly) on exit."""

    def __init__(self, poller: ImapPoller) -> None:
        self.poller = poller
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> ImapPoller:
        self.thread = self.poller.start_thread(self.stop)
        return self.poller

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive(), "poller did not stop within 5s"


def marked(flags: set[str]) -> bool:
    return KEYWORD in flags and SEEN in flags


# ------------------------------------------------------------------ URL parsing -------------
def test_parse_imap_url():
    t = parse_imap_url("imap://lead%40example.com:p%40ss%3Aw%2Frd@mail.example.com/Leads/New")
    assert (t.host, t.port, t.user, t.password, t.folder, t.ssl) == (
        "mail.example.com",
        143,
        "lead@example.com",
        "p@ss:w/rd",
        "Leads/New",
        False,
    )
    t = parse_imap_url("imaps://u:p@mail.example.com")
    assert (t.port, t.folder, t.ssl) == (993, "INBOX", True)
    t = parse_imap_url("imaps://u:p@mail.example.com:1993/")
    assert (t.port, t.folder) == (1993, "INBOX")
    t = parse_imap_url("imap+starttls://u:p@mail.example.com")
    assert (t.port, t.ssl, t.starttls, t.scheme) == (143, False, True, "imap+starttls")
    t = parse_imap_url("IMAP://u;AUTH=*:p@[::1]:1143/INBOX")
    assert (t.host, t.port, t.user) == ("::1", 1143, "u")
    assert "p@ss" not in repr(parse_imap_url("imap://u:p%40ss@h/"))
    assert parse_imap_url("imap://u:secret@h:1/F%20G").safe_url == "imap://u@h:1/F%20G"
    for bad in ("http://u:p@h/", "imap:///INBOX", "imap://h/INBOX", "imap://u:p@h:99999/"):
        with pytest.raises(ValueError):
            parse_imap_url(bad)


def test_poller_needs_a_url(settings):
    with pytest.raises(ValueError, match="MAILFLOW_IMAP_URL"):
        ImapPoller(settings)


# ------------------------------------------------------------------ store and mark ----------
def test_corpus_is_stored_once_and_marked(settings, broker, dovecot):
    items = corpus()
    assert items, f"no corpus in {CORPUS_LEADS}"
    for _, raw, _ in items:
        dovecot.append(raw)
    poller = make_poller(settings, dovecot)
    try:
        result = poller.poll_once()
        assert (result.found, result.stored, result.duplicates) == (len(items), len(items), 0)
        assert not result.storage_failed
        rows = inbound_rows(settings)
        assert len(rows) == len(items)
        assert all(r.channel == Channel.IMAP for r in rows)
        assert all(r.imap_uidvalidity == poller.health.uidvalidity for r in rows)
        assert sorted(r.imap_uid for r in rows) == sorted(dovecot.flags())
        flags = dovecot.flags()
        assert all(marked(f) for f in flags.values()), flags

        again = poller.poll_once()
        assert (again.found, again.stored) == (0, 0)
        assert inbound_count(settings) == len(items)
        h = poller.health
        assert h.connected and h.idle_supported and h.uses_keyword
        assert h.messages_stored == len(items)
        assert h.last_successful_poll is not None and h.last_error is None and h.ok
        health = h.as_dict()
        assert health["target"] == f"imap://{dovecot.user}@{dovecot.host}:{dovecot.port}/INBOX"
        assert health["ok"] and health["state"] == "polling"
        assert dovecot.password not in json.dumps(health)
    finally:
        poller.close()


def test_corpus_outcomes_through_the_worker(settings, worker, dovecot):
    items = corpus()
    for _, raw, _ in items:
        dovecot.append(raw)
    # The same lead mailed twice (same Message-ID): still one lead.
    twice = next(raw for name, raw, _ in items if name == "qcells_fr_tabs")
    dovecot.append(twice)
    poller = make_poller(settings, dovecot)
    try:
        result = poller.poll_once()
    finally:
        poller.close()
    assert (result.stored, result.duplicates) == (len(items), 1)
    assert all(marked(f) for f in dovecot.flags().values())

    def processed():
        rows = inbound_rows(settings)
        return rows if all(r.outcome != "pending" for r in rows) else None

    rows = wait_for(processed, timeout=30)
    by_message_id = {r.message_id: r for r in rows}
    assert len(rows) == len(items)
    with session_scope(settings) as session:
        for name, raw, expected in items:
            mid = next(
                line.split(b":", 1)[1].strip().decode()
                for line in raw.splitlines()
                if line.lower().startswith(b"message-id:")
            )
            row = by_message_id[mid]
            assert row.outcome == OUTCOME_FOR_KIND[expected["kind"]], (
                name,
                row.outcome,
                row.reason,
            )
            if expected["kind"] == "lead":
                lead = session.get(Lead, row.lead_id)
                assert lead is not None, name
                assert lead.inbound_id == row.id
                assert lead.email == expected["customer"]["email"], name
            if expected["kind"] == "quarantine":
                assert expected["reason_contains"] in (row.reason or "").lower(), (name, row.reason)
        email = "claire.dubois@example.fr"
        assert (
            session.scalar(select(func.count()).select_from(Lead).where(Lead.email == email)) == 1
        )


def test_same_message_twice_is_stored_once(settings, broker, dovecot):
    raw = make_message(1)
    dovecot.append(raw)
    dovecot.append(raw)
    poller = make_poller(settings, dovecot)
    try:
        result = poller.poll_once()
    finally:
        poller.close()
    assert (result.found, result.stored, result.duplicates) == (2, 1, 1)
    assert inbound_count(settings) == 1
    flags = dovecot.flags()
    assert len(flags) == 2 and all(marked(f) for f in flags.values())


class SimulatedCrash(BaseException):
    """The process dies: not an Exception, so nothing in the poller handles it."""


class CrashBeforeMark(ImapPoller):
    def _mark(self, client, uid):
        raise SimulatedCrash(f"died after storing UID {uid}")


@pytest.mark.parametrize("with_message_id", [True, False], ids=["message-id", "no-message-id"])
def test_crash_between_store_and_mark_creates_no_second_message(
    settings, broker, dovecot, with_message_id
):
    raw = make_message(7, message_id=with_message_id)
    uid = dovecot.append(raw)
    crashing = make_poller(settings, dovecot, cls=CrashBeforeMark)
    with pytest.raises(SimulatedCrash):
        crashing.poll_once()
    crashing._disconnect(graceful=False)  # the process is gone: no LOGOUT
    assert inbound_count(settings) == 1
    assert not marked(dovecot.flags()[uid])  # stored, not marked: the crash window

    restarted = make_poller(settings, dovecot)
    try:
        result = restarted.poll_once()
    finally:
        restarted.close()
    assert (result.found, result.stored, result.duplicates) == (1, 0, 1)
    rows = inbound_rows(settings)
    assert len(rows) == 1
    assert (rows[0].message_id is not None) == with_message_id
    assert rows[0].dedup_key.startswith("mid:" if with_message_id else "sha256:")
    assert marked(dovecot.flags()[uid])


def test_storage_failure_leaves_message_unmarked_and_it_is_retried(
    settings, broker, dovecot, monkeypatch
):
    calls = []
    real_store = imap_mod.store_inbound

    def flaky_store(raw, channel, **kwargs):
        calls.append(kwargs.get("imap_uid"))
        if len(calls) == 1:
            raise RuntimeError("database is down")
        return real_store(raw, channel, **kwargs)

    monkeypatch.setattr(imap_mod, "store_inbound", flaky_store)
    uid = dovecot.append(make_message(3))
    poller = make_poller(settings, dovecot)
    try:
        result = poller.poll_once()
        assert result.storage_failed and result.stored == 0
        assert inbound_count(settings) == 0
        assert not marked(dovecot.flags()[uid])
        assert "database is down" in poller.health.last_error
        assert not poller.health.ok

        result = poller.poll_once()
        assert (result.stored, result.storage_failed) == (1, False)
        assert inbound_count(settings) == 1
        assert marked(dovecot.flags()[uid])
        assert poller.health.ok
    finally:
        poller.close()
    assert calls == [uid, uid]


def test_storage_failure_is_retried_by_the_idle_loop(settings, broker, dovecot, monkeypatch):
    """In IDLE nothing new may arrive for a long time: the loop must retry by itself."""
    calls = []
    real_store = imap_mod.store_inbound

    def flaky_store(raw, channel, **kwargs):
        calls.append(kwargs.get("imap_uid"))
        if len(calls) <= 2:
            raise RuntimeError("database is down")
        return real_store(raw, channel, **kwargs)

    monkeypatch.setattr(imap_mod, "store_inbound", flaky_store)
    uid = dovecot.append(make_message(4))
    with Running(make_poller(settings, dovecot, idle_seconds=60)) as poller:
        wait_for(lambda: inbound_count(settings) == 1, timeout=5)
        wait_for(lambda: marked(dovecot.flags()[uid]), timeout=5)
        assert poller.health.connects == 1  # a storage failure does not drop the connection
    assert len(calls) == 3


def test_seen_flag_is_the_marker_when_keywords_are_not_used(settings, broker, dovecot):
    already_read = dovecot.append(make_message(1), flags=(SEEN,))
    new = dovecot.append(make_message(2))
    poller = make_poller(settings, dovecot, use_keyword=False)
    try:
        result = poller.poll_once()
    finally:
        poller.close()
    assert (result.found, result.stored) == (1, 1)
    assert [r.imap_uid for r in inbound_rows(settings)] == [new]
    flags = dovecot.flags()
    assert SEEN in flags[new] and KEYWORD not in flags[new]
    assert KEYWORD not in flags[already_read]


def test_keyword_scheme_processes_messages_someone_already_read(settings, broker, dovecot):
    uid = dovecot.append(make_message(1), flags=(SEEN,))
    poller = make_poller(settings, dovecot)
    try:
        assert poller.poll_once().stored == 1
    finally:
        poller.close()
    assert marked(dovecot.flags()[uid])


# ------------------------------------------------------------------ the run loop ------------
def test_idle_picks_up_a_new_message_quickly(settings, broker, dovecot):
    # Rounds of 60s: whatever arrives within the test is announced by the server in IDLE.
    with Running(make_poller(settings, dovecot, idle_seconds=60, recheck_seconds=60)) as poller:
        wait_for(lambda: poller.health.state == "idle", timeout=5)
        assert poller.health.idle_supported
        uid = dovecot.append(make_message(1))
        rows = wait_for(lambda: inbound_rows(settings), timeout=3)
        assert rows[0].imap_uid == uid
        wait_for(lambda: marked(dovecot.flags()[uid]), timeout=3)
        # Back in IDLE (a message that arrives while IDLE is being set up may be announced
        # only at Dovecot's next 30s check: the recheck rounds cover that, not tested here).
        wait_for(lambda: poller.health.state == "idle", timeout=3)
        uid = dovecot.append(make_message(2))
        wait_for(lambda: inbound_count(settings) == 2, timeout=3)
        wait_for(lambda: marked(dovecot.flags()[uid]), timeout=3)
        assert poller.health.connects == 1
        assert poller.health.messages_stored == 2


@pytest.mark.parametrize("knob", ["idle_seconds", "recheck_seconds"])
def test_idle_is_reissued_and_messages_still_arrive(settings, broker, dovecot, knob):
    with Running(make_poller(settings, dovecot, **{knob: 0.3})) as poller:
        wait_for(lambda: poller.health.last_successful_poll, timeout=5)
        first = poller.health.last_successful_poll
        # Each IDLE round ends with a poll: the timestamp moves without any new mail.
        wait_for(lambda: poller.health.last_successful_poll > first, timeout=3)
        # A burst, arriving at any moment of the IDLE/poll cycle.
        for n in range(1, 6):
            dovecot.append(make_message(n))
        wait_for(lambda: inbound_count(settings) == 5, timeout=3)
        wait_for(lambda: all(marked(f) for f in dovecot.flags().values()), timeout=3)
        assert poller.health.connects == 1 and poller.health.last_error is None


def test_polling_without_idle(settings, broker, dovecot):
    with Running(make_poller(settings, dovecot, use_idle=False, poll_seconds=0.2)) as poller:
        wait_for(lambda: poller.health.last_successful_poll, timeout=5)
        uid = dovecot.append(make_message(1))
        wait_for(lambda: inbound_count(settings) == 1, timeout=3)
        wait_for(lambda: marked(dovecot.flags()[uid]), timeout=3)


def test_server_restart_reconnects_with_backoff(settings, broker, dovecot):
    with Running(make_poller(settings, dovecot, idle_seconds=60)) as poller:
        wait_for(lambda: poller.health.state == "idle", timeout=5)
        dovecot.stop()
        wait_for(lambda: poller.health.last_error and not poller.health.connected, timeout=5)
        assert "shutting down" in poller.health.last_error.lower()  # the server's BYE
        assert not poller.health.ok
        dovecot.start()
        wait_for(lambda: poller.health.connects >= 2 and poller.health.state == "idle", timeout=5)
        uid = dovecot.append(make_message(1))
        wait_for(lambda: inbound_count(settings) == 1, timeout=5)
        wait_for(lambda: marked(dovecot.flags()[uid]), timeout=3)
        assert poller.health.connected and poller.health.connects >= 2
        wait_for(lambda: poller.health.ok, timeout=3)


def test_server_down_at_start_is_retried(settings, broker, dovecot):
    dovecot.stop()
    with Running(make_poller(settings, dovecot)) as poller:
        wait_for(lambda: poller.health.last_error, timeout=5)
        assert "ConnectionRefused" in poller.health.last_error
        assert poller.health.state in ("backoff", "connecting")
        dovecot.start()
        wait_for(lambda: poller.health.state == "idle", timeout=5)
        assert poller.health.connected and poller.health.connects == 1
        dovecot.append(make_message(1))
        wait_for(lambda: inbound_count(settings) == 1, timeout=5)


def test_killed_server_without_bye_is_noticed(settings, broker, dovecot):
    with Running(make_poller(settings, dovecot, idle_seconds=60)) as poller:
        wait_for(lambda: poller.health.state == "idle", timeout=5)
        dovecot.stop(kill=True)  # no BYE: the connection just ends
        wait_for(lambda: poller.health.last_error and not poller.health.connected, timeout=5)
        dovecot.start()
        wait_for(lambda: poller.health.connects >= 2 and poller.health.state == "idle", timeout=5)
        dovecot.append(make_message(1))
        wait_for(lambda: inbound_count(settings) == 1, timeout=5)


class FreezableProxy:
    """A TCP proxy in front of Dovecot that can go silent without closing anything, like a
    connection through a NAT box that forgot it."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.closing = threading.Event()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        peers: dict[socket.socket, socket.socket] = {}
        while not self.closing.is_set():
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                if sock is self.listener:
                    client, _ = self.listener.accept()
                    upstream = socket.create_connection(self.target)
                    peers[client], peers[upstream] = upstream, client
                    self.sockets += [client, upstream]
                    sel.register(client, selectors.EVENT_READ)
                    sel.register(upstream, selectors.EVENT_READ)
                    continue
                if self.frozen.is_set():
                    continue  # data waits in the kernel; nobody answers
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for s in (sock, peers.get(sock)):
                        if s is not None and s in peers:
                            sel.unregister(s)
                            s.close()
                            peers.pop(s, None)
                    continue
                peers[sock].sendall(data)
            if self.frozen.is_set():
                self.closing.wait(0.05)  # readable sockets stay readable: do not spin

    def close(self) -> None:
        self.closing.set()
        self.thread.join(2)
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass


def test_silently_dead_connection_is_detected(settings, broker, dovecot):
    proxy = FreezableProxy(dovecot.port)
    url = dovecot.url.replace(f":{dovecot.port}/", f":{proxy.port}/")
    try:
        poller = make_poller(
            settings, dovecot, url=url, idle_seconds=60, recheck_seconds=0.5, timeout=1
        )
        with Running(poller):
            wait_for(lambda: poller.health.state == "idle", timeout=5)
            proxy.frozen.set()
            wait_for(lambda: poller.health.last_error and not poller.health.connected, timeout=5)
            assert (
                "timed out" in poller.health.last_error.lower()
                or "timeout" in poller.health.last_error.lower()
            )
            proxy.frozen.clear()
            dovecot.append(make_message(1))
            wait_for(lambda: inbound_count(settings) == 1, timeout=5)
            assert poller.health.connects >= 2
    finally:
        proxy.close()


def test_wrong_password_is_reported_and_never_logged(settings, broker, dovecot, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-Pa55word"
    url = f"imap://{dovecot.user}:{wrong}@{dovecot.host}:{dovecot.port}/INBOX"
    with Running(make_poller(settings, dovecot, url=url)) as poller:
        wait_for(lambda: poller.health.last_error, timeout=5)
        assert "LoginError" in poller.health.last_error
        assert not poller.health.connected
        assert wrong not in repr(poller.target) and wrong not in str(poller.health.as_dict())
    # A good run too, with imapclient's own debug logging on.
    dovecot.append(make_message(1))
    with Running(make_poller(settings, dovecot)) as poller:
        wait_for(lambda: inbound_count(settings) == 1, timeout=5)
    assert caplog.records
    assert wrong not in caplog.text
    assert dovecot.password not in caplog.text
    assert "p%40ss" not in caplog.text  # not even percent-encoded


def test_stop_event_stops_the_loop_promptly(settings, broker, dovecot):
    poller = make_poller(settings, dovecot, idle_seconds=60, tick=0.5)
    stop = threading.Event()
    thread = poller.start_thread(stop)
    wait_for(lambda: poller.health.last_successful_poll, timeout=5)
    assert imap_mod.active_poller() is poller
    started = time.monotonic()
    stop.set()
    thread.join(3)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.5
    assert not poller.health.connected
    assert imap_mod.active_poller() is None
