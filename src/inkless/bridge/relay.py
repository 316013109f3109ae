"""Where outbound mail goes: an SMTP relay (aiosmtplib) or a local Maildir.

A relay opens a connection that sends many messages; each send answers Sent, or a
failure that is transient (retry later) or permanent (the recipient is marked failed).
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

# A copy at least this big is made ready for DATA in a thread, a piece at a time, and
# written a block at a time as the relay takes it.
PREPARE_APART = 256 * 1024
PIECE = 1024 * 1024
WRITE_BLOCK = 256 * 1024
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True)
class Result:
    """What the relay said about one message."""

    ok: bool
    permanent: bool = False
    reason: str | None = None


SENT = Result(ok=True)


class RelayConnection(Protocol):
    async def send(self, mail_from: str, rcpt: str, head: bytes, body: bytes = b"") -> Result:
        """Send the message head + body (given apart: a copy's own headers and the body it shares
        with other copies, which is not copied once more to join them)."""
        ...

    async def close(self) -> None: ...


class Relay(Protocol):
    """A pluggable outbound transport."""

    name: str

    async def connect(self) -> RelayConnection: ...


class RelayUnavailable(Exception):
    """The relay could not be reached at all; everything in hand is retried later."""


class MaildirRelay:
    """Writes each message into a Maildir (tmp → fsync → rename into new), as an MDA would."""

    name = "maildir"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._counter = 0

    async def connect(self) -> MaildirRelay:
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # Like an unreachable SMTP relay (a full disk, say): the whole batch waits and is retried.
            raise RelayUnavailable(f"maildir {self.path}: {exc.strerror or exc}") from None
        return self

    async def send(self, mail_from: str, rcpt: str, head: bytes, body: bytes = b"") -> Result:
        # fsync blocks: keep it off the event loop, which is answering SMTP meanwhile.
        return await asyncio.to_thread(self._write, mail_from, rcpt, head, body)

    def _write(self, mail_from: str, rcpt: str, head: bytes, body: bytes) -> Result:
        self._counter += 1
        name = f"{time.time_ns()}.P{os.getpid()}Q{self._counter}.{socket.gethostname()}"
        tmp = self.path / "tmp" / name
        trace = f"Return-Path: <{mail_from}>\r\nDelivered-To: {rcpt}\r\n".encode()
        try:
            with open(tmp, "wb") as handle:
                handle.write(trace + head)
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(tmp, self.path / "new" / name)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            # A full or read-only disk may be fixed by the operator: keep trying.
            transient = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES)
            return Result(ok=False, permanent=not transient, reason=f"maildir: {exc.strerror or exc}")
        return SENT

    async def close(self) -> None:
        pass


class SmtpRelay:
    """Delivers through an SMTP relay; one connection carries a whole batch."""

    name = "smtp"

    def __init__(self, url: str, *, hostname: str, timeout: float) -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        starttls = query.get("starttls", "auto").lower()
        # None = use STARTTLS when offered; True = require it; False = never.
        self.start_tls: bool | None = {"require": True, "true": True, "off": False, "false": False}.get(starttls)
        self.hostname = hostname
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the password
        return f"SmtpRelay({self.host}:{self.port})"

    async def connect(self) -> _SmtpConnection:
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, use_tls=self.implicit_tls,
                                 start_tls=False if self.implicit_tls else self.start_tls,
                                 local_hostname=self.hostname, timeout=self.timeout,
                                 username=self.username, password=self.password)
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500 and exc.code != 554:
                raise RelayUnavailable(f"relay refused login or session: {exc.code} {exc.message}") from None
            raise RelayUnavailable(f"relay answered {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RelayUnavailable(f"relay unreachable: {type(exc).__name__}: {exc}") from None
        return _SmtpConnection(client)


class _SmtpConnection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    async def send(self, mail_from: str, rcpt: str, head: bytes, body: bytes = b"") -> Result:
        try:
            if len(head) + len(body) >= PREPARE_APART:
                errors = await self._send_prepared(mail_from, rcpt, head, body)
            else:
                errors, _ = await self.client.sendmail(mail_from, [rcpt], head + body)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return _classify(refused.code, refused.message)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError,
                OSError, TimeoutError) as exc:
            raise RelayUnavailable(f"relay connection lost: {type(exc).__name__}: {exc}") from None
        except aiosmtplib.SMTPSenderRefused as exc:
            await self._reset()
            if exc.code == 552 or exc.code // 100 == 4:  # too big for this relay, or not now: this copy
                return _classify(exc.code, exc.message)
            # Refusing our envelope sender (530 authentication required, 553 sender not allowed)
            # refuses every copy alike: the relay's set-up, not the recipient. The batch waits
            # and is retried until relay.give_up_after, rather than failing a whole fan-out.
            raise RelayUnavailable(f"relay refused the sender: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            return _classify(exc.code, exc.message)
        if errors:
            code, message = next(iter(errors.values()))
            return _classify(code, message)
        return SENT

    async def _send_prepared(self, mail_from: str, rcpt: str, head: bytes,
                             body: bytes) -> dict[str, aiosmtplib.SMTPResponse]:
        """sendmail for a big copy. aiosmtplib rewrites every line ending and dot-stuffs on
        the event loop, three passes over the message (0.4 s for 25 MB, while SMTP sessions
        and the web wait), and hands all of it to the transport, which keeps another copy
        until the relay has read it. Here the wire form is made in a thread, a piece at a
        time (the event loop gets the interpreter between pieces), and written a block at a
        time as the relay takes it."""
        client = self.client
        pieces, size = await asyncio.to_thread(_wire_form_of_parts, head, body)
        if client.is_ehlo_or_helo_needed:  # first use, or just after STARTTLS: SIZE needs EHLO's answer
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        await client.mail(mail_from, options=[f"SIZE={size}"] if client.supports_extension("size") else [])
        await client.rcpt(rcpt)
        started = await client.execute_command(b"DATA")
        if started.code != 354:
            raise aiosmtplib.SMTPDataError(started.code, started.message)
        try:
            await self._write(pieces)
            done = await self._protocol().read_response(timeout=client.timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError, TimeoutError):
            # No QUIT that would wait out the timeout once more (as sendmail does), and no close
            # that waits for a relay that takes nothing to take what is buffered: dropped now.
            if client.transport is not None:
                cast(asyncio.WriteTransport, client.transport).abort()
            client.close()
            raise
        if done.code != 250:
            raise aiosmtplib.SMTPDataError(done.code, done.message)
        return {}

    async def _write(self, pieces: list[memoryview]) -> None:
        """The text and the final dot, a block at a time: each block waits until the relay
        has taken the one before (at most the client's timeout)."""
        for piece in pieces:
            for start in range(0, len(piece), WRITE_BLOCK):
                protocol = self._protocol()
                protocol.write(piece[start:start + WRITE_BLOCK])  # type: ignore[arg-type]  # any bytes-like
                async with asyncio.timeout(self.client.timeout):
                    await protocol._drain_helper()  # StreamWriter.drain's wait; aiosmtplib has no public name
        self._protocol().write(b".\r\n")

    def _protocol(self) -> aiosmtplib.protocol.SMTPProtocol:
        if self.client.protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("relay connection lost")
        return self.client.protocol

    async def _reset(self) -> None:
        try:
            await self.client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass

    async def close(self) -> None:
        try:
            await self.client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self.client.close()


def _wire_form(data: bytes) -> tuple[bytes, int]:
    """A message as DATA carries it, without the final dot: CRLF line ends, lines that start
    with a dot doubled (RFC 5321 §4.5.2); and its size for SIZE= (RFC 1870), before stuffing."""
    crlf = data.count(b"\r\n")
    clean = data.count(b"\r") == crlf == data.count(b"\n")  # what Inkless composes: no copy needed
    normalized = data if clean else _LINE_END.sub(b"\r\n", data)
    if not normalized.endswith(b"\r\n"):
        normalized += b"\r\n"
    stuffed = _LEADING_DOT.sub(b"..", normalized) if normalized.startswith(b".") or b"\n." in normalized else normalized
    return stuffed, len(normalized)


def _wire_form_in_pieces(data: bytes) -> tuple[list[memoryview], int]:
    """_wire_form a piece of about PIECE bytes at a time, each ending after a line feed (so no
    line end is split, and each piece starts a line): the pieces to write, in order (views
    of the message itself where nothing changes, as with what Inkless composes), and the size."""
    pieces: list[memoryview] = []
    size = 0
    view = memoryview(data)
    start = 0
    while start < len(data):
        cut = data.find(b"\n", min(start + PIECE, len(data)) - 1)
        end = len(data) if cut < 0 else cut + 1
        piece = data[start:end]
        wire, piece_size = _wire_form(piece)
        pieces.append(view[start:end] if wire is piece else memoryview(wire))
        size += piece_size
        start = end
    return pieces, size


def _wire_form_of_parts(head: bytes, body: bytes) -> tuple[list[memoryview], int]:
    """_wire_form_in_pieces of head + body, without joining them when head ends a line."""
    if not body or not head.endswith(b"\n"):
        return _wire_form_in_pieces(head + body)
    head_pieces, head_size = _wire_form_in_pieces(head)
    body_pieces, body_size = _wire_form_in_pieces(body)
    return head_pieces + body_pieces, head_size + body_size


def _classify(code: int, message: str) -> Result:
    reason = f"{code} {message}".strip()
    return Result(ok=False, permanent=500 <= code < 600, reason=reason)


def build_relay(url: str, *, maildir: Path | None, hostname: str, timeout: float) -> Relay:
    """The relay named by relay.url."""
    if maildir is not None:
        return MaildirRelay(maildir)
    return SmtpRelay(url, hostname=hostname, timeout=timeout)
