"""A private Postfix on loopback ports, configured from docs/deploy-postfix.md itself.

The Postfix parts of that page (main.cf, master.cf, the transport map, the recipient list
and the token regexp) and Inkless's side of it (the config.yaml block) are read from the
page and written out with only the test's values put in: the domain, the ports, the config
folder. So the test proves the page as it stands, and a page that changes is tested as
changed. What the page leaves to the site is the test's own: a private queue, data folder
and log file, loopback only, the host name `mx.<domain>`, no local delivery, and a relayhost
that stands in for the Internet. Everything else is Postfix's default (`mynetworks`,
`smtpd_relay_restrictions`, no TLS), as the page assumes.

Needs root (Postfix's master starts as root and drops to `postfix`) and Debian's postfix
package; `make test` installs it when missing. Errors go only to the log file: see
`log_tail()`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

POSTFIX = "/usr/sbin/postfix"
MASTER = "/usr/lib/postfix/sbin/master"
DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy-postfix.md"
# The page's example values, replaced by the test's.
DOC_DOMAIN = "oa.example.gov"
DOC_INKLESS_PORT = "8025"
DOC_POSTFIX_PORT = "25"


def doc_block(marker: str) -> str:
    """The page's fenced block that contains `marker` or is the first to follow it."""
    text = DOC.read_text(encoding="utf-8")
    start = text.find(marker)
    assert start >= 0, f"{DOC} no longer has {marker!r}"
    for block in re.finditer(r"^```[a-z]*\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        if block.end() > start:
            return block.group(1)
    raise AssertionError(f"{DOC}: no code block at or after {marker!r}")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{DOC}: expected {old!r} in\n{text}"
    return text.replace(old, new)


def inkless_settings(domain: str, inkless_port: int, postfix_port: int) -> dict[str, Any]:
    """The page's config.yaml block (Inkless's side) with the test's domain and ports."""
    block = doc_block("# /etc/inkless/config.yaml")
    block = _replace(block, f"127.0.0.1:{DOC_INKLESS_PORT}", f"127.0.0.1:{inkless_port}")
    block = _replace(block, f"smtp://127.0.0.1:{DOC_POSTFIX_PORT}?", f"smtp://127.0.0.1:{postfix_port}?")
    settings: dict[str, Any] = yaml.safe_load(_replace(block, DOC_DOMAIN, domain))
    return settings


def _doc_postfix_files(etc: Path, domain: str, inkless_port: int, units: list[str]) -> dict[str, str]:
    """The page's Postfix files: main.cf lines, master.cf lines, transport, recipients, regexp."""

    def ours(block: str) -> str:
        block = block.replace("/etc/postfix/", f"{etc}/")
        return block.replace(DOC_DOMAIN.replace(".", r"\."), re.escape(domain)).replace(DOC_DOMAIN, domain)

    transport = doc_block("`/etc/postfix/transport`:")
    transport = _replace(transport, f"[127.0.0.1]:{DOC_INKLESS_PORT}", f"[127.0.0.1]:{inkless_port}")
    # The page's recipient list is an example org; the rule it states is every unit id, all, reply.
    example = doc_block("`/etc/postfix/inkless_recipients` lists")
    assert all(re.fullmatch(rf"\S+@{re.escape(DOC_DOMAIN)}\s+OK", line) for line in example.splitlines()), example
    assert {f"all@{DOC_DOMAIN}", f"reply@{DOC_DOMAIN}"} <= {line.split()[0] for line in example.splitlines()}
    recipients = "".join(f"{local}@{domain}    OK\n" for local in ["all", "reply", *units])
    return {
        "main.cf": ours(doc_block("`/etc/postfix/main.cf`:")),
        "master.cf": ours(doc_block("`/etc/postfix/master.cf`")),
        "transport": ours(transport),
        "inkless_recipients": recipients,
        "inkless_tokens.regexp": ours(doc_block("`/etc/postfix/inkless_tokens.regexp` matches")),
    }


def write_config(folder: Path, *, domain: str, units: list[str], smtpd_port: int, inkless_port: int,
                 relayhost_port: int) -> Path:
    """Write a complete Postfix config folder (nothing from /etc/postfix but master.cf); return it."""
    etc = folder / "etc"
    for sub in ("etc", "spool", "data"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # mkdtemp makes 0700: the postfix user must reach data/
    shutil.chown(folder / "data", "postfix", "postfix")
    files = _doc_postfix_files(etc, domain, inkless_port, units)
    # The site's own settings (see the module's docstring), then the page's lines for Inkless.
    (etc / "main.cf").write_text(f"""# written by tests/bridge/postfix.py
compatibility_level = 3.6
queue_directory = {folder}/spool
data_directory = {folder}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.{domain}
mydestination =
alias_maps =
relayhost = [127.0.0.1]:{relayhost_port}
maillog_file = {folder}/postfix.log
maillog_file_prefixes = {folder}

# docs/deploy-postfix.md
{files.pop("main.cf")}""")
    master = Path("/etc/postfix/master.cf").read_text()
    master, count = re.subn(r"^smtp(\s+inet\s)", rf"127.0.0.1:{smtpd_port}\1", master, count=1, flags=re.MULTILINE)
    assert count == 1, "no `smtp inet` line in /etc/postfix/master.cf"
    (etc / "master.cf").write_text(f"{master}\n# docs/deploy-postfix.md\n{files.pop('master.cf')}")
    for name, content in files.items():
        (etc / name).write_text(content)
    # Postfix waits (in steps of 0.3 s) until main.cf is over a second old before it reads it,
    # in case it is still being written: date the new files back to start at once.
    an_hour_ago = time.time() - 3600
    for path in etc.iterdir():
        os.utime(path, (an_hour_ago, an_hour_ago))
    _run("postconf", "-c", str(etc), "-F", "*/*/chroot = n")  # no copies of /etc files in a chroot
    # The page's commands: postmap the hash maps (`postfix reload` is the start below).
    _run("postmap", "-c", str(etc), str(etc / "transport"), str(etc / "inkless_recipients"))
    return etc


def _run(*command: str) -> str:
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: rc {result.returncode}\n{result.stdout}{result.stderr}")
    return result.stdout


@dataclass
class Postfix:
    folder: Path
    etc: Path
    port: int

    @property
    def log(self) -> Path:
        return self.folder / "postfix.log"

    def log_tail(self, lines: int = 40) -> str:
        """The end of Postfix's log, where all its errors go."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def queued(self) -> int:
        """How many messages are in Postfix's queue (waiting, being delivered, deferred, held)."""
        spool = self.folder / "spool"
        return sum(len(files) for queue in ("maildrop", "incoming", "active", "deferred", "hold")
                   for _root, _dirs, files in os.walk(spool / queue))

    def rcpt(self, mail_from: str, rcpt: str) -> tuple[int, str]:
        """Postfix's answer to RCPT TO (the session is reset, nothing is sent)."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            client.ehlo("client.test")
            client.mail(mail_from)
            code, message = client.rcpt(rcpt)
            client.rset()
        return code, message.decode()

    def start(self) -> None:
        command = [POSTFIX, "-c", str(self.etc), "start"]
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"postfix start: rc {result.returncode} {result.stderr}\n{self.log_tail()}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                if sock.recv(200).startswith(b"220"):
                    sock.sendall(b"QUIT\r\n")
                    return
            time.sleep(0.05)
        raise RuntimeError(f"postfix did not greet on {self.port}\n{self.log_tail()}")

    def running(self) -> bool:
        """Whether the master holds its lock (`master -t`, as `postfix stop` checks)."""
        return subprocess.run([MASTER, "-c", str(self.etc), "-t"], check=False, capture_output=True).returncode != 0

    def stop(self) -> None:
        """What `postfix stop` does (SIGTERM to the master, which ends its children), checking
        for the end every 50 ms instead of every second; `postfix stop` after 5 s."""
        subprocess.run([POSTFIX, "-c", str(self.etc), "abort"], check=False, capture_output=True)
        deadline = time.monotonic() + 5
        while self.running():
            if time.monotonic() > deadline:
                # kills the master's process group with SIGKILL
                subprocess.run([POSTFIX, "-c", str(self.etc), "stop"], check=False, capture_output=True)
                return
            time.sleep(0.05)


@contextlib.contextmanager
def private_postfix(*, domain: str, units: list[str], inkless_port: int, relayhost_port: int,
                    smtpd_port: int) -> Iterator[Postfix]:
    """A running Postfix relaying `domain` to Inkless and everything else to the relayhost."""
    if not os.path.exists(POSTFIX):
        raise RuntimeError("postfix is not installed: apt-get install postfix (make test does)")
    # Not under pytest's tmp_path: its parents are 0700 and Postfix's daemons run as postfix.
    folder = Path(tempfile.mkdtemp(prefix="inkless-postfix-"))
    try:
        etc = write_config(folder, domain=domain, units=units, smtpd_port=smtpd_port, inkless_port=inkless_port,
                           relayhost_port=relayhost_port)
        postfix = Postfix(folder, etc, smtpd_port)
        try:
            postfix.start()
            yield postfix
        finally:
            postfix.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
