"""IMAP ingress: read an existing mailbox and feed its mail into the same store as SMTP.

One task per configured mailbox drives a synchronous imapclient connection in a worker
thread, one call at a time. Each round stores every message above the checkpointed UID
(durably, through the same `InboundStore` the SMTP edge uses), only then marks it
processed on the server (flag, move or delete), and then moves the checkpoint. A crash
anywhere in between at worst stores a message again; processing stops such copies at
their delivery key, so nothing is lost and nothing is done twice.

Between rounds the task waits in IDLE when the server offers it (re-issued every minute,
well inside RFC 2177's 29 minutes), or sleeps `poll_interval`. A dropped connection is retried with
exponential backoff; a changed UIDVALIDITY starts the folder over from UID 1.
"""

from __future__ import annotations

import asyncio
import logging
import random
import select
import ssl
import threading
import time
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from urllib.parse import urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless import metrics
from inkless.addresses import fold_address
from inkless.bridge.store import Arrival, InboundStore
from inkless.clock import Clock
from inkless.config.sections import ImapMailbox
from inkless.storage import queries
from inkless.storage.models import ImapCheckpoint

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$InklessProcessed"
# RFC 2177: servers may drop an IDLE after 30 minutes, so it must be re-issued before 29.
# It is re-issued every 5 seconds: Dovecot announces mail that arrived in the moment before an
# IDLE began only when a command ends (see _Connection.wait), so this bounds how long such
# mail waits. A DONE and a new IDLE cost two short lines each time.
IDLE_CYCLE = 5.0
IDLE_RENEW = 29 * 60
FETCH_BATCH = 50
# One process reads a mailbox at a time: it holds a lease of LEASE seconds, renewed every
# LEASE/3; the others stand by and look again every STANDBY_RETRY seconds.
LEASE = 60.0
STANDBY_RETRY = 2.0
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")
CONNECTION_ERRORS = (OSError, IMAPClientError, ssl.SSLError, EOFError)


def recover_envelope(raw: bytes, domain: str) -> tuple[str, list[str]]:
    """The envelope a delivered message had: the sender from Return-Path, and the Inkless
    addresses from the first of Delivered-To, X-Original-To, To, Cc that names any."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return_path = str(headers.get("Return-Path") or "")
    mail_from = parseaddr(return_path)[1] if return_path.strip() not in ("", "<>") else ""
    suffix = "@" + domain
    for name in RECIPIENT_HEADERS:
        values = [str(value) for value in headers.get_all(name) or []]
        found = [fold_address(address) for _, address in getaddresses(values)
                 if fold_address(address).endswith(suffix)]
        if found:
            return mail_from, list(dict.fromkeys(found))
    return mail_from, []


def _announces_mail(responses: list[tuple[object, ...]]) -> bool:
    """Whether untagged responses tell of new mail; a NO or BYE among them means the
    session is no good any more (the folder was deleted under it, the server shuts down)."""
    for response in responses:
        if response and response[0] in (b"NO", b"BYE"):
            said = " ".join(p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in response)
            raise ConnectionResetError(f"the server said: {said}")
    return any(len(response) > 1 and response[1] in (b"EXISTS", b"RECENT") for response in responses)


class _Connection:
    """The synchronous side: one logged-in imapclient connection with the folder selected."""

    def __init__(self, mailbox: ImapMailbox, timeout: float) -> None:
        url = urlsplit(mailbox.url)
        secure = url.scheme == "imaps"
        self.mailbox = mailbox
        self.client = IMAPClient(url.hostname or "", port=url.port or (993 if secure else 143), ssl=secure,
                                 timeout=timeout)
        try:
            if not secure and b"STARTTLS" in self.client.capabilities() and url.hostname not in ("127.0.0.1",
                                                                                                  "localhost"):
                self.client.starttls()
            self.client.login(url.username or "", mailbox.password)
            self.capabilities = set(self.client.capabilities())
            if mailbox.processed.startswith("move:"):
                target = mailbox.processed[5:].strip()
                if not self.client.folder_exists(target):
                    self.client.create_folder(target)
            selected = self.client.select_folder(mailbox.folder)
        except BaseException:
            self.close()
            raise
        self.uidvalidity = int(selected[b"UIDVALIDITY"])

    @property
    def can_idle(self) -> bool:
        return self.mailbox.idle and b"IDLE" in self.capabilities

    def waiting(self, after_uid: int) -> list[int]:
        """UIDs above the checkpoint that still need reading, lowest first."""
        self._announced_meanwhile()  # what was announced before this search, the search finds
        criteria: list[str | bytes] = ["UID", f"{after_uid + 1}:*"]
        if self.mailbox.processed == "flag":
            criteria += ["NOT", "KEYWORD", PROCESSED_KEYWORD]
        # "n:*" always matches the highest UID, even one below n.
        return sorted(uid for uid in self.client.search(criteria) if uid > after_uid)

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """The raw messages, without setting \\Seen."""
        found = self.client.fetch(uids, [b"BODY.PEEK[]"])
        return {uid: bytes(data[b"BODY[]"]) for uid, data in found.items() if b"BODY[]" in data}

    def mark_processed(self, uids: list[int]) -> None:
        processed = self.mailbox.processed
        if processed == "flag":
            self.client.add_flags(uids, [b"\\Seen", PROCESSED_KEYWORD.encode()], silent=True)
        elif processed.startswith("move:"):
            target = processed[5:].strip()
            if b"MOVE" in self.capabilities:
                self.client.move(uids, target)
            else:
                self.client.copy(uids, target)
                self._delete(uids)
        else:
            self._delete(uids)

    def _delete(self, uids: list[int]) -> None:
        self.client.delete_messages(uids, silent=True)
        if b"UIDPLUS" in self.capabilities:
            self.client.uid_expunge(uids)
        else:
            self.client.expunge()

    def wait(self, seconds: float, stopping: threading.Event) -> bool:
        """Until new mail may be there: IDLE (woken by EXISTS) or a plain wait, then NOOP.
        True when the server announced mail, False when the time ran out (or a stop).

        Dovecot reports mail that arrived before IDLE began only when a command ends, not
        during the IDLE, and reports it once. So what the last read's commands were told is
        looked at first, a NOOP then catches mail since the last search, and each IDLE
        lasts at most IDLE_CYCLE: its DONE reports anything that slipped in between, which
        may be at the very end of the wait, so the answer says so rather than the time taken.
        """
        deadline = time.monotonic() + seconds
        if self._announced_meanwhile():
            return True
        if not self.can_idle:
            stopping.wait(seconds)
            return not stopping.is_set() and _announces_mail(self.client.noop()[1])
        if _announces_mail(self.client.noop()[1]):
            return True
        while not stopping.is_set() and time.monotonic() < deadline:
            cycle_end = min(deadline, time.monotonic() + IDLE_CYCLE)
            self.client.idle()
            woken = False
            try:
                while not woken and not stopping.is_set() and time.monotonic() < cycle_end:
                    # Short checks, so that a stop never waits for the whole IDLE.
                    responses = self.client.idle_check(timeout=min(1.0, cycle_end - time.monotonic()))
                    if not responses and self._hung_up():
                        raise ConnectionResetError("the server closed the connection during IDLE")
                    woken = _announces_mail(responses)
            finally:
                woken = _announces_mail(self.client.idle_done()[1]) or woken
            if woken:
                return True
        return False

    def _announced_meanwhile(self) -> bool:
        """Whether the server told of new mail in the middle of another command's answer (a
        message arriving during the SEARCH, FETCH or STORE of the last read). imaplib keeps
        such untagged responses aside, where no later command looks: take them from there
        (and forget them, as `waiting` does before each search)."""
        kept = self.client._imap.untagged_responses
        return bool(kept.pop("EXISTS", None)) | bool(kept.pop("RECENT", None))

    def _hung_up(self) -> bool:
        """idle_check swallows EOF: a socket still readable after it read everything is closed."""
        sock = self.client.socket()
        if not select.select([sock], [], [], 0)[0]:
            return False
        return not self.client.idle_check(timeout=0) and bool(select.select([sock], [], [], 0)[0])

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # a dead connection cannot say goodbye; the socket goes anyway
            try:
                self.client.shutdown()
            except Exception:
                pass


def probe_mailbox(mailbox: ImapMailbox) -> str:
    """Log in and select the folder (for `inkless check`); says what is waiting there."""
    connection = _Connection(mailbox, timeout=10)
    try:
        return f"UIDVALIDITY {connection.uidvalidity}, IDLE {'yes' if connection.can_idle else 'no'}"
    finally:
        connection.close()


class ImapIngress:
    """Reads one mailbox until stopped; `state` says how it is doing (for /healthz)."""

    def __init__(self, *, mailbox: ImapMailbox, domain: str, store: InboundStore,
                 sessions: async_sessionmaker[AsyncSession], clock: Clock, on_stored: Callable[[], None],
                 holder: str, timeout: float = 60.0, max_backoff: float = 60.0) -> None:
        self.mailbox = mailbox
        self.name = mailbox.name
        self.state = "starting"
        self._domain = domain
        self._store = store
        self._sessions = sessions
        self._clock = clock
        self._on_stored = on_stored
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._holder = holder
        self._lease_name = f"imap:{self.name}"
        self._stopping = threading.Event()
        labels = {"mailbox": self.name}
        self._fetched = metrics.IMAP_FETCHED.labels(**labels)
        self._stored = metrics.INBOUND_STORED.labels("imap")
        self._errors = metrics.IMAP_ERRORS.labels(**labels)
        self._reconnects = metrics.IMAP_RECONNECTS.labels(**labels)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Connect, read, wait; on any connection trouble, back off and reconnect."""
        backoff = 1.0
        while not self._stopping.is_set():
            connection = None
            if not await self._hold():
                self.state = "standby: another process reads this mailbox"
                await asyncio.to_thread(self._stopping.wait, STANDBY_RETRY)
                continue
            try:
                self.state = "connecting"
                connection = await asyncio.to_thread(_Connection, self.mailbox, self._timeout)
                backoff = 1.0
                await self._serve(connection)
            except CONNECTION_ERRORS as exc:
                self._errors.inc()
                self.state = f"reconnecting: {type(exc).__name__}: {exc}"
                log.warning("imap %s: %s; reconnecting in %.0f s", self.name, exc, backoff)
            except Exception as exc:
                self._errors.inc()
                self.state = f"reconnecting: {type(exc).__name__}: {exc}"
                log.exception("imap %s: unexpected error; reconnecting in %.0f s", self.name, backoff)
            finally:
                if connection is not None:
                    await asyncio.to_thread(connection.close)
            if self._stopping.is_set():
                break
            await asyncio.to_thread(self._stopping.wait, backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self._max_backoff)
            self._reconnects.inc()
        await self._let_go()
        self.state = "stopped"

    async def _hold(self) -> bool:
        """Take or renew this mailbox's lease; False while another process holds it."""
        try:
            async with self._sessions() as session, session.begin():
                return await queries.take_lease(session, self._lease_name, self._holder, now=self._clock.now(),
                                                seconds=LEASE)
        except Exception as exc:  # the database is away: do not read without the lease
            log.warning("imap %s: cannot take the lease: %s", self.name, exc)
            return False

    async def _let_go(self) -> None:
        """Hand the mailbox over at once to a process standing by."""
        try:
            async with self._sessions() as session, session.begin():
                await queries.release_lease(session, self._lease_name, self._holder)
        except Exception as exc:
            log.warning("imap %s: cannot release the lease (it expires by itself): %s", self.name, exc)

    async def _serve(self, connection: _Connection) -> None:
        last_uid = await self._checkpoint(connection.uidvalidity)
        while not self._stopping.is_set():
            self.state = "ok"
            last_uid = await self._read_new(connection, last_uid)
            if self._stopping.is_set():
                return
            seconds = IDLE_RENEW if connection.can_idle else self.mailbox.poll_interval
            deadline = time.monotonic() + seconds
            while not self._stopping.is_set() and time.monotonic() < deadline:
                if not await self._hold():
                    return  # another process took the mailbox over (we were cut off too long)
                if await asyncio.to_thread(connection.wait, min(deadline - time.monotonic(), LEASE / 3),
                                           self._stopping):
                    break  # new mail: read it now, however late in the wait the server said so

    async def _read_new(self, connection: _Connection, last_uid: int) -> int:
        uids = await asyncio.to_thread(connection.waiting, last_uid)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            messages = await asyncio.to_thread(connection.fetch, batch)
            for uid in batch:
                raw = messages.get(uid)
                if raw is None:  # expunged by someone else meanwhile
                    continue
                mail_from, recipients = recover_envelope(raw, self._domain)
                await self._store.store(Arrival(peer=f"imap:{self.name}", mail_from=mail_from,
                                                rcpt_tos=recipients, raw=raw, source="imap"))
                self._fetched.inc()
                self._stored.inc()
                self._on_stored()
            # Marked only now that every message of the batch is durably stored.
            await asyncio.to_thread(connection.mark_processed, batch)
            if not await self._hold():
                raise ConnectionAbortedError("the mailbox lease passed to another process")
            last_uid = batch[-1]
            await self._save(connection.uidvalidity, last_uid)
        return last_uid

    async def _checkpoint(self, uidvalidity: int) -> int:
        """The last UID read; 0 when the folder is new to us or its UIDVALIDITY changed."""
        async with self._sessions() as session, session.begin():
            checkpoint = await session.get(ImapCheckpoint, self.name)
            if checkpoint is not None and checkpoint.uidvalidity == uidvalidity:
                return checkpoint.last_uid
            if checkpoint is not None:
                log.warning("imap %s: UIDVALIDITY changed from %s to %s; reading the folder again (copies already "
                            "processed are recognised and skipped)", self.name, checkpoint.uidvalidity, uidvalidity)
        await self._save(uidvalidity, 0)
        return 0

    async def _save(self, uidvalidity: int, last_uid: int) -> None:
        async with self._sessions() as session, session.begin():
            checkpoint = await session.get(ImapCheckpoint, self.name, with_for_update=True)
            if checkpoint is None:
                session.add(ImapCheckpoint(mailbox=self.name, uidvalidity=uidvalidity, last_uid=last_uid,
                                           updated_at=self._clock.now()))
            else:
                checkpoint.uidvalidity, checkpoint.last_uid = uidvalidity, last_uid
                checkpoint.updated_at = self._clock.now()
