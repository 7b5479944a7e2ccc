"""A throw-away Dovecot IMAP server for tests.

``DovecotServer`` writes a minimal configuration into a temporary directory (plain IMAP on a
free loopback port, one passwd-file user, Maildir storage, every runtime path inside the
directory), runs ``dovecot -F`` as a child process, and removes everything on ``cleanup()``.
``stop()``/``start()`` restart it on the same port (for reconnect tests).

Use the ``dovecot`` fixture (tests/conftest.py registers this module in ``pytest_plugins``;
``tests/`` is on ``sys.path``) or the class directly. Tests using the fixture are skipped when
the ``dovecot`` binary is missing (``apt-get install dovecot-imapd``). Besides ``host``,
``port``, ``user``, ``password`` and ``url``, it has ``append()``, ``flags()``, ``client()``,
``stop()`` / ``start()`` (same port, same mailbox) and ``cleanup()``.

Works as root (the mail user is ``dovecot``, the login user ``dovenull``) and as an ordinary
user (every Dovecot process then runs as that user).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from imapclient import IMAPClient

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


def find_dovecot() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in DOVECOT_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _existing_user(*names: str) -> str | None:
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_members(pgid: int) -> list[tuple[int, str]] | None:
    """(pid, command) of the live processes of a process group; None without /proc.

    Zombies don't count: in a container, PID 1 may never reap the orphaned Dovecot children."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            comm = text[text.index("(") + 1 : text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append((int(stat.parent.name), comm))
        except (OSError, ValueError, IndexError):
            continue
    return members


def _wait_gone(pgid: int, pids: set[int] | None, timeout: float) -> bool:
    """Wait until the given processes of the group (all when ``pids`` is None) are gone."""
    deadline = time.monotonic() + timeout
    while True:
        members = _group_members(pgid)
        if members is None:  # no /proc: ask the kernel about the whole group
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
        elif not [pid for pid, _ in members if pids is None or pid in pids]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


class DovecotServer:
    """One Dovecot instance with one user (``mailflow``) and a Maildir under ``self.dir``."""

    def __init__(self, user: str = "mailflow", password: str = "s3cret p@ss/word") -> None:
        binary = find_dovecot()
        if binary is None:
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd)")
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.user = user
        self.password = password
        self.version = self._version()
        # Short path: Dovecot's unix sockets live in base_dir (108-byte limit).
        self.dir = Path(tempfile.mkdtemp(prefix="mf-dovecot-"))
        self.proc: subprocess.Popen | None = None
        self._write_config()

    # ------------------------------------------------------------------ configuration ------
    def _version(self) -> tuple[int, int]:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True).stdout
        match = re.match(r"(\d+)\.(\d+)", out.strip())
        return (int(match.group(1)), int(match.group(2))) if match else (2, 3)

    def _accounts(self) -> tuple[str, str, str, int, int]:
        """(login user, internal user, internal group, mail uid, mail gid)."""
        if os.geteuid() != 0:  # every process runs as us
            me = pwd.getpwuid(os.geteuid()).pw_name
            return me, me, grp.getgrgid(os.getegid()).gr_name, os.geteuid(), os.getegid()
        internal = _existing_user("dovecot", "nobody")
        login = _existing_user("dovenull", "nobody")
        if internal is None or login is None:
            raise RuntimeError("no dovecot/dovenull/nobody system user to run Dovecot as")
        entry = pwd.getpwnam(internal)
        return login, internal, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid

    def _write_config(self) -> None:
        d = self.dir
        login_user, internal_user, internal_group, uid, gid = self._accounts()
        for sub in ("run", "state", "mail", "home"):
            (d / sub).mkdir()
        os.chmod(d, 0o755)  # Dovecot's unprivileged processes must reach run/ and mail/
        if os.geteuid() == 0:
            for sub in ("mail", "home"):
                os.chown(d / sub, uid, gid)
        users = d / "users"
        users.write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        os.chmod(users, 0o644)
        common = f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {1 if uid else 0}
first_valid_gid = 0
mail_uid = {uid}
mail_gid = {gid}
mail_home = {d}/home
# no chroot: works without root, and nothing to protect in a test
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # no growing login delays for an address after failed logins (tests try wrong passwords)
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        if self.version >= (2, 4):
            config = f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}
auth_allow_cleartext = yes
auth_allow_weak_schemes = yes
mail_driver = maildir
mail_path = {d}/mail
passdb passwd-file {{
  passwd_file_path = {users}
}}
userdb static {{
}}
"""
        else:
            config = f"""\
{common}
disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = maildir:{d}/mail
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home
}}
"""
        (d / "dovecot.conf").write_text(config)

    # ------------------------------------------------------------------ life cycle ---------
    @property
    def url(self) -> str:
        return (
            f"imap://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/INBOX"
        )

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        with open(self.dir / "stderr.log", "ab") as stderr:
            self.proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.dir / "dovecot.conf")],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # stop() signals the whole group, like systemd does
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = (self.dir / "stderr.log").read_text(errors="replace")
                raise RuntimeError(
                    f"dovecot exited with {self.proc.returncode}:\n{err}\n{self.log()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not start within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill: bool = False) -> None:
        """Shut the server down, data kept. Clients see what a server shutdown looks like:
        each per-client imap process says ``* BYE`` and closes its connection; then every
        Dovecot process is gone (SIGKILL to the group: a SIGTERM'd master takes a second and
        may respawn helpers). ``kill=True``: no BYE, connections just drop."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if not kill:
            imap = {pid for pid, comm in _group_members(pgid) or [] if comm == "imap"}
            for pid in imap:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            _wait_gone(pgid, imap, timeout=3)
        _killpg(pgid, signal.SIGKILL)
        self.proc.wait(10)
        _wait_gone(pgid, None, timeout=5)
        self.proc = None
        # Wait until the port is really free so a restart can bind it again.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
            except OSError:
                break
            time.sleep(0.05)

    def cleanup(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # ------------------------------------------------------------------ mailbox helpers ----
    @contextmanager
    def client(self, folder: str | None = "INBOX") -> Iterator[IMAPClient]:
        """A logged-in IMAPClient (folder selected unless ``folder`` is None)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            client.login(self.user, self.password)
            if folder is not None:
                client.select_folder(folder)
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> int | None:
        """APPEND a message; returns its UID (UIDPLUS) when the server says it."""
        with self.client(folder=None) as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=flags)
        match = re.search(rb"APPENDUID \d+ (\d+)", response or b"")
        return int(match.group(1)) if match else None

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> set of flags (as str) of every message in the folder."""
        with self.client(folder) as client:
            uids = client.search("ALL")
            if not uids:
                return {}
            data = client.fetch(uids, ["FLAGS"])
        return {
            uid: {f.decode() if isinstance(f, bytes) else str(f) for f in item[b"FLAGS"]}
            for uid, item in data.items()
        }


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A running throw-away Dovecot; skipped when dovecot is not installed."""
    if find_dovecot() is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    server = DovecotServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
