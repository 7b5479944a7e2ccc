"""A throw-away Postfix instance configured as docs/deploy.md says, for tests.

``PostfixRelay`` reads the four configuration files of the deployment guide's Postfix section
(main.cf, master.cf, transport, mailflow_recipients) from docs/deploy.md, points the transport
at mailflow's port on loopback, adds what a private instance needs (its own config, queue and
data directories, a listener on a free loopback port, its log in a file) and runs it with
``postfix -c DIR start``. The guide's configuration is what is tested, not a copy of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from support.paths import REPO
from support.waiting import free_port

DEPLOY_GUIDE = REPO / "docs" / "deploy.md"
GUIDE_HOST = "[mailflow-intake.internal]:2525"

# The services every Postfix instance needs (as in Debian's master.cf), none chrooted.
BASE_MASTER_CF = """\
pickup    unix  n  -  n  60  1  pickup
cleanup   unix  n  -  n  -  0  cleanup
qmgr      unix  n  -  n  300  1  qmgr
rewrite   unix  -  -  n  -  -  trivial-rewrite
bounce    unix  -  -  n  -  0  bounce
defer     unix  -  -  n  -  0  bounce
trace     unix  -  -  n  -  0  bounce
verify    unix  -  -  n  -  1  verify
flush     unix  n  -  n  1000?  0  flush
proxymap  unix  -  -  n  -  -  proxymap
smtp      unix  -  -  n  -  -  smtp
relay     unix  -  -  n  -  -  smtp
showq     unix  n  -  n  -  -  showq
error     unix  -  -  n  -  -  error
retry     unix  -  -  n  -  -  error
discard   unix  -  -  n  -  -  discard
local     unix  -  n  n  -  -  local
anvil     unix  -  -  n  -  1  anvil
scache    unix  -  -  n  -  1  scache
postlog   unix-dgram  n  -  n  -  1  postlogd
"""


def missing() -> str | None:
    """Why a Postfix instance cannot run here, or None."""
    for binary in ("postfix", "postqueue", "postmap"):
        if shutil.which(binary) is None:
            return f"{binary} not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "Postfix's master runs as root"
    return None


def guide_files(path: Path = DEPLOY_GUIDE) -> dict[str, str]:
    """The code block after each "`/etc/postfix/NAME`" line of the guide, by NAME."""
    text = path.read_text()
    blocks = re.findall(r"^`/etc/postfix/([\w.]+)`.*?\n\n```\n(.*?)```", text, re.M | re.S)
    files = {name: body for name, body in blocks}
    assert files.keys() == {"main.cf", "master.cf", "transport", "mailflow_recipients"}, files
    return files


class PostfixRelay:
    def __init__(self, mailflow_port: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mailflow-postfix-"))
        self.dir.chmod(0o755)  # the postfix user reaches its queue through it
        self.config = self.dir / "config"
        self.port = free_port()
        self.log = self.dir / "maillog"
        self._write_config(mailflow_port)

    def _write_config(self, mailflow_port: int) -> None:
        self.config.mkdir()
        for name in ("queue", "data"):
            (self.dir / name).mkdir()
        shutil.chown(self.dir / "data", "postfix")
        files = guide_files()
        for name, body in files.items():
            body = body.replace("/etc/postfix/", f"{self.config}/")
            body = body.replace(GUIDE_HOST, f"[127.0.0.1]:{mailflow_port}")
            if name == "main.cf":
                body = self._instance_settings() + body
            if name == "master.cf":
                listener = f"127.0.0.1:{self.port}  inet  n  -  n  -  -  smtpd\n"
                body = listener + BASE_MASTER_CF + body
            (self.config / name).write_text(body)
        self.run("postmap", f"hash:{self.config}/transport")

    def _instance_settings(self) -> str:
        return f"""\
compatibility_level = 3.6
queue_directory = {self.dir}/queue
data_directory = {self.dir}/data
maillog_file = {self.log}
maillog_file_prefixes = {self.dir}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtp_connect_timeout = 5s
"""

    def run(self, *command: str) -> str:
        if command[0] in ("postfix", "postqueue", "postmap", "postconf", "postsuper"):
            command = (command[0], "-c", str(self.config), *command[1:])
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{command}: {done.stdout}{done.stderr}\n{self.maillog()}")
        return done.stdout + done.stderr

    def start(self) -> PostfixRelay:
        self.run("postfix", "start")
        deadline = time.monotonic() + 20
        while "daemon started" not in self.maillog():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Postfix did not start:\n{self.maillog()}")
            time.sleep(0.1)
        return self

    def maillog(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def queue(self) -> str:
        """``postqueue -p``: "Mail queue is empty" or the list of queued messages."""
        return self.run("postqueue", "-p")

    def flush(self) -> None:
        self.run("postqueue", "-f")

    def stop(self) -> None:
        try:
            self.run("postfix", "stop")
        except RuntimeError:
            pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
