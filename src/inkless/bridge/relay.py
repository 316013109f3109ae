"""Where outbound mail goes: an SMTP relay (aiosmtplib) or a local Maildir.

A relay opens a connection that sends many messages; each answer is Sent, or a failure
that is transient (retry later) or permanent (the recipient is marked failed).

To a relay that offers PIPELINING (RFC 2920), small copies go pipelined: the envelope of
the next copy travels with the text of the one before, so a copy costs one round trip and
one write instead of four of each. aiosmtplib sets the session up (EHLO, STARTTLS, AUTH)
and sends what is not pipelined; it has no pipelining of its own (its protocol keeps one
reply waiting at a time and drops any other), so for the pipelined stretch a small reader
of replies takes the connection over and gives it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import socket
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
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
# A copy at least this big goes to the relay alone: it is held two or three times over (ours,
# its wire form, the socket's buffer) until the relay has it.
LARGE_COPY = 1024 * 1024
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# An address written into a pipelined command as it is: printable ASCII without space, < or >.
# Anything else (an empty recipient, UTF-8) goes through aiosmtplib, which checks and refuses.
_PLAIN_ADDRESS = re.compile(r"[!-;=?-~]{1,254}")
MAX_REPLY = 32 * 1024
QUIT_WAIT = 5.0  # seconds a closing connection waits for the relay's answer to QUIT


@dataclass(frozen=True)
class Copy:
    """One message for the relay: its envelope, its own head and the body it shares with
    other copies (given apart, so the body is not copied once more to join them)."""

    mail_from: str
    rcpt: str
    head: bytes
    body: bytes = b""

    @property
    def size(self) -> int:
        return len(self.head) + len(self.body)


@dataclass(frozen=True)
class Result:
    """What the relay said about one message."""

    ok: bool
    permanent: bool = False
    reason: str | None = None


SENT = Result(ok=True)


class RelayConnection(Protocol):
    def send_all(self, copies: Iterator[Copy]) -> AsyncGenerator[Result, None]:
        """Send the copies, taking each from `copies` only when it can go out; the relay's
        answer for each, in order. Raises RelayUnavailable when the relay goes away: the
        copies taken and not answered have not been accepted."""
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

    async def send_all(self, copies: Iterator[Copy]) -> AsyncGenerator[Result, None]:
        for copy in copies:
            # fsync blocks: keep it off the event loop, which is answering SMTP meanwhile.
            yield await asyncio.to_thread(self._write, copy.mail_from, copy.rcpt, copy.head, copy.body)

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
    """Delivers through an SMTP relay; a connection carries many copies (rounds of a backlog)."""

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
        self._large_sends = asyncio.Lock()  # one LARGE_COPY at a time over all connections

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
        return _SmtpConnection(client, self._large_sends, self.timeout)


class _SmtpConnection:
    def __init__(self, client: aiosmtplib.SMTP, large_sends: asyncio.Lock, timeout: float) -> None:
        self.client = client
        self._large_sends = large_sends
        self._timeout = timeout

    async def send_all(self, copies: Iterator[Copy]) -> AsyncGenerator[Result, None]:
        ahead = _Ahead(copies)
        try:
            await self._greet()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RelayUnavailable(f"relay refused the greeting: {type(exc).__name__}: {exc}") from None
        pipelining = self.client.supports_extension("pipelining")
        while (copy := ahead.take()) is not None:
            if pipelining and _pipelined(copy):
                ahead.put_back(copy)
                async for result in self._pipeline(ahead):
                    yield result
            else:
                yield await self.send(copy)

    async def _pipeline(self, ahead: _Ahead) -> AsyncGenerator[Result, None]:
        """Send copies pipelined while the next one is small and plainly addressed.

        Each write is the text of one copy, its final dot and the next copy's MAIL, RCPT and
        DATA; the replies come back in order (RFC 2920). A copy's text goes only after its
        354, so a refused envelope never lets the text be read as commands; after a refused
        envelope, RSET clears what the relay may still hold of it."""
        client = self.client
        transport = cast(asyncio.WriteTransport | None, client.transport)
        if transport is None or client.protocol is None:
            raise RelayUnavailable("relay connection lost")
        replies = _Replies(transport, self._timeout)
        transport.set_protocol(replies)
        size = client.supports_extension("size")
        try:
            current = _Prepared.of(ahead.take(_pipelined), size)
            if current is not None:
                await replies.write(current.envelope, 3)
            reset = False
            while current is not None:
                answers = await replies.read(3 + reset)
                mail, rcpt, data = answers[-3:]
                _closing(answers)
                if mail.code // 100 == 5 and mail.code != 552:
                    raise RelayUnavailable(f"relay refused the sender: {mail.code} {mail.message}")
                if data.code == 354 and mail.code // 100 == rcpt.code // 100 == 2:
                    following = _Prepared.of(ahead.take(_pipelined), size)
                    await replies.write(current.text + b".\r\n" + (following.envelope if following else b""),
                                        4 if following else 1)
                    (done,) = await replies.read(1)
                    _closing([done])
                    yield SENT if done.code == 250 else _classify(done.code, done.message)
                    current, reset = following, False
                    continue
                if data.code == 354:  # a relay that starts DATA without a recipient: end it empty
                    await replies.write(b".\r\n", 1)
                    _closing(await replies.read(1))
                # The first answer that was not a yes; a relay that says 250 to DATA itself (no
                # 354) has not taken the text either.
                refused = next((answer for answer in (mail, rcpt, data) if answer.code // 100 != 2), data)
                yield _classify(refused.code, refused.message)
                current, reset = _Prepared.of(ahead.take(_pipelined), size), True
                if current is not None:
                    await replies.write(b"RSET\r\n" + current.envelope, 4)
                else:  # what comes next (if anything) goes through aiosmtplib: leave no envelope behind
                    await replies.write(b"RSET\r\n", 1)
                    _closing(await replies.read(1))
        except (ConnectionError, OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
            transport.abort()  # out of step with the relay: nothing more on this connection
            raise RelayUnavailable(f"relay connection lost: {type(exc).__name__}: {exc}") from None
        finally:
            replies.close()
            if replies.outstanding and not transport.is_closing():
                transport.abort()  # left with replies owed (the caller stopped early): not reusable
            transport.set_protocol(client.protocol)

    async def send(self, copy: Copy) -> Result:
        """One copy through aiosmtplib, a transaction at a time."""
        async with self._large_sends if copy.size >= LARGE_COPY else contextlib.nullcontext():
            return await self._send(copy.mail_from, copy.rcpt, copy.head, copy.body)

    async def _send(self, mail_from: str, rcpt: str, head: bytes, body: bytes) -> Result:
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
        await self._greet()
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

    async def _greet(self) -> None:
        """EHLO (HELO if refused) unless done: what the relay offers (PIPELINING, SIZE) is in its answer."""
        if self.client.is_ehlo_or_helo_needed:  # first use, or just after STARTTLS
            try:
                await self.client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await self.client.helo()

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
            # A relay slow to answer QUIT does not hold up a stop: nothing is owed by then.
            await self.client.quit(timeout=min(self._timeout, QUIT_WAIT))
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self.client.close()


class _Ahead:
    """The copies still to send, with a look at the next one."""

    def __init__(self, copies: Iterator[Copy]) -> None:
        self._copies = copies
        self._back: Copy | None = None

    def take(self, only: Callable[[Copy], bool] | None = None) -> Copy | None:
        """The next copy; None when there is none, or when it is not `only`'s kind (it stays next)."""
        copy, self._back = self._back, None
        if copy is None:
            copy = next(self._copies, None)
        if copy is not None and only is not None and not only(copy):
            self._back = copy
            return None
        return copy

    def put_back(self, copy: Copy) -> None:
        self._back = copy


def _pipelined(copy: Copy) -> bool:
    """Small, and addressed in plain ASCII: the rest goes a transaction at a time."""
    return (copy.size < PREPARE_APART and _PLAIN_ADDRESS.fullmatch(copy.rcpt) is not None
            and (not copy.mail_from or _PLAIN_ADDRESS.fullmatch(copy.mail_from) is not None))


@dataclass(frozen=True)
class _Prepared:
    """A copy as the pipeline writes it: MAIL, RCPT and DATA in one piece, and the text."""

    envelope: bytes
    text: bytes

    @classmethod
    def of(cls, copy: Copy | None, size: bool) -> _Prepared | None:
        if copy is None:
            return None
        text, length = _wire_form(copy.head + copy.body)
        option = f" SIZE={length}" if size else ""  # RFC 1870: in CRLF form, before dot-stuffing
        envelope = f"MAIL FROM:<{copy.mail_from}>{option}\r\nRCPT TO:<{copy.rcpt}>\r\nDATA\r\n"
        return cls(envelope.encode("ascii"), text)


def _closing(answers: list[aiosmtplib.SMTPResponse]) -> None:
    """421: the relay is closing the connection (RFC 5321 §3.8), whatever the command was."""
    for answer in answers:
        if answer.code == 421:
            raise RelayUnavailable(f"relay closing the connection: {answer.code} {answer.message}")


class _Replies(asyncio.Protocol):
    """Reads the relay's replies while commands are pipelined: each complete reply (one line,
    or several joined by `-` continuations) is kept in order until it is read.

    A copy costs one read here, so waiting is kept cheap: a future per wait, and one timer
    per connection that looks every half timeout for a wait (for replies, or for the relay
    to take what was written) older than the timeout, instead of a timer per wait."""

    def __init__(self, transport: asyncio.WriteTransport, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._timeout = timeout
        self._buffer = b""  # the start of a line
        self._lines: list[bytes] = []  # the lines of a reply that goes on
        self._held = 0  # bytes in both
        self._replies: deque[aiosmtplib.SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._waiting_since = 0.0
        self._paused = False
        self._lost: Exception | None = None
        self.outstanding = 0  # replies owed for what was written
        self._watch = self._loop.call_later(timeout / 2, self._look)

    def data_received(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            code = line[:3]
            if not code.isdigit():
                self._fail(aiosmtplib.SMTPResponseException(-1, f"malformed reply: {line[:80]!r}"))
                return
            if line[3:4] == b"-":
                self._lines.append(line[4:].strip())
                self._held += len(line)
                continue
            message = line[4:].strip()
            if self._lines:
                message = b"\n".join([*self._lines, message])
                self._lines, self._held = [], 0
            self._replies.append(aiosmtplib.SMTPResponse(int(code), message.decode("utf-8", "surrogateescape")))
        if len(self._replies) > self.outstanding:
            # More replies than commands: a relay could fill memory so (and the answers no
            # longer match their commands). Nothing more is read from it.
            self._fail(aiosmtplib.SMTPResponseException(-1, "more replies than commands"))
            self._replies.clear()
            self._transport.abort()
        elif self._held + len(self._buffer) > MAX_REPLY:
            self._fail(aiosmtplib.SMTPResponseException(-1, "reply too long"))
        elif lines:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("the relay closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected(f"connection lost: {exc}" if exc else "connection lost"))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self._lost is None:
            self._lost = exc
        self._wake()

    def _look(self) -> None:
        if self._waiter is not None and self._loop.time() - self._waiting_since >= self._timeout:
            self._fail(TimeoutError(f"the relay did not answer within {self._timeout:g} s"))
        elif self._lost is None:
            self._watch = self._loop.call_later(self._timeout / 2, self._look)

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        self._waiting_since = self._loop.time()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def write(self, data: bytes, replies: int) -> None:
        """Write what asks for `replies` replies, then wait (at most the relay timeout) while
        the relay has too much unread."""
        if self._lost is not None:
            raise self._lost
        self._transport.write(data)
        self.outstanding += replies
        while self._paused and self._lost is None:
            await self._wait()

    async def read(self, count: int) -> list[aiosmtplib.SMTPResponse]:
        """The next `count` replies, each within the relay timeout of the one before. Replies that
        came before the connection was lost are still given."""
        while len(self._replies) < count:
            if self._lost is not None:
                raise self._lost
            await self._wait()
        self.outstanding -= count
        return [self._replies.popleft() for _ in range(count)]

    def close(self) -> None:
        self._watch.cancel()


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
