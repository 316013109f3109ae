"""A private Dovecot (IMAP + LMTP) on loopback ports, run by the test as a child process.

Its config is complete (nothing from /etc/dovecot): own base and state folders, a
passwd-file with one user `inkless` (password `inklesspw`), Maildir mail, plaintext login
on loopback, no TLS. Works as root (mail as nobody:nogroup, login chroot as Debian ships
it) and rootless (everything as the invoking user). `make test` installs dovecot-imapd and
dovecot-lmtpd when missing.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "inkless", "inklesspw"


def _identity() -> tuple[int, int, str, str, str, str]:
    """(mail uid, mail gid, login user, internal user, internal group, login chroot)."""
    if os.getuid() == 0:
        # Dovecot refuses uid 0 for mail; the package's own users keep privilege separation.
        return pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid, "dovenull", "dovecot", "dovecot", "login"
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    return os.getuid(), os.getgid(), user, user, group, ""


def write_config(folder: Path, imap_port: int, lmtp_port: int) -> Path:
    uid, gid, login_user, internal_user, internal_group, chroot = _identity()
    for sub in ("run", "state", "mail"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    if os.getuid() == 0:
        os.chown(folder / "mail", uid, gid)
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{folder}/mail/{USER}::\n")
    (folder / "passwd").chmod(0o644)
    conf = folder / "dovecot.conf"
    conf.write_text(f"""# written by tests/bridge/dovecot.py: a complete config, nothing from /etc/dovecot
instance_name = inkless-test-{imap_port}
base_dir = {folder}/run
state_dir = {folder}/state
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
stats_writer_socket_path =
auth_username_format = %Ln
log_path = {folder}/dovecot.log
info_log_path = {folder}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
postmaster_address = postmaster@county.test
hostname = mail.county.test
lda_mailbox_autocreate = yes
lmtp_save_to_detail_mailbox = no
recipient_delimiter = +
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {folder}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {folder}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot = {chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
""")
    return conf


@dataclass
class Dovecot:
    folder: Path
    conf: Path
    imap_port: int
    lmtp_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.imap_port}/INBOX"

    def start(self) -> None:
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.imap_port), 1) as sock:
                if sock.recv(200).startswith(b"* OK"):
                    sock.sendall(b"a LOGOUT\r\n")
                    return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not greet on {self.imap_port}; see {self.folder}/dovecot.log")

    def kill(self) -> None:
        """SIGKILL the master and its children, as a crash would."""
        if self.process is None:
            return
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                  text=True).stdout.split()
        self.process.kill()
        self.process.wait()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                  text=True).stdout.split()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        self.process = None

    def doveadm(self, *args: str, data: bytes | None = None) -> str:
        result = subprocess.run(["doveadm", "-c", str(self.conf), *args], input=data, capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {result.stderr.decode()}")
        return result.stdout.decode()

    def deliver(self, raw: bytes, *, sender: str = "relay@county.test") -> None:
        """Deliver by LMTP, as the county's mail server would (adds Return-Path, Delivered-To)."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            refused = lmtp.sendmail(sender, [f"{USER}@county.test"], raw)
        assert not refused, refused

    def count(self, mailbox: str = "INBOX") -> int:
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", USER, "messages", mailbox)
        return int(out.split("messages=")[1].split()[0])

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", USER, "uidvalidity", mailbox)
        return int(out.split("uidvalidity=")[1].split()[0])


@contextlib.contextmanager
def private_dovecot() -> Iterator[Dovecot]:
    if not os.path.exists(DOVECOT):
        raise RuntimeError("dovecot is not installed: apt-get install dovecot-imapd dovecot-lmtpd (make test does)")
    # Not under pytest's tmp_path: its parents are 0700 and the mail processes run as nobody.
    folder = Path(tempfile.mkdtemp(prefix="inkless-dovecot-"))
    imap_port, lmtp_port = free_port(), free_port()
    dovecot = Dovecot(folder, write_config(folder, imap_port, lmtp_port), imap_port, lmtp_port)
    try:
        dovecot.start()
        yield dovecot
    finally:
        dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)

