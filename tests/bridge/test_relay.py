"""The SMTP relay connection on real sockets: pipelined copies (RFC 2920) get their own
answers, in order, and the text of a copy never goes before the relay's 354."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from inkless.bridge.relay import (
    PREPARE_APART,
    QUIT_WAIT,
    Copy,
    RelayConnection,
    RelayUnavailable,
    Result,
    SmtpRelay,
)
from tests.conftest import CaptureRelay

SENDER = "bounce+x@oa.test.gov"


def copy(rcpt: str, text: str = "Hello.\r\n", *, body: bytes = b"") -> Copy:
    head = f"From: office@oa.test.gov\r\nTo: {rcpt}\r\nSubject: test\r\n\r\n{text}".encode()
    return Copy(SENDER, rcpt, head, body)


async def send_all(port: int, copies: list[Copy]) -> list[Result]:
    connection = await connection_to(port, 10)
    try:
        return [result async for result in connection.send_all(iter(copies))]
    finally:
        await connection.close()


Session = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted_relay(session: Session) -> AsyncIterator[int]:
    """A relay that follows the test's script (one session function per connection); its port."""
    server = await asyncio.start_server(session, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """220, then EHLO answered with PIPELINING."""
    writer.write(b"220 relay.test ESMTP\r\n")
    await reader.readline()
    writer.write(b"250-relay.test\r\n250 PIPELINING\r\n")


async def take_first_copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """greet, then accept the first copy: its MAIL, RCPT, DATA, text and final dot."""
    await greet(reader, writer)
    for _ in range(3):
        await reader.readline()
    writer.write(b"250 ok\r\n250 ok\r\n354 go\r\n")
    await reader.readuntil(b"\r\n.\r\n")
    writer.write(b"250 queued\r\n")


def connection_to(port: int, timeout: float) -> Awaitable[RelayConnection]:
    return SmtpRelay(f"smtp://127.0.0.1:{port}?starttls=off", hostname="oa.test.gov", timeout=timeout).connect()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-at-a-time"])
async def test_each_copy_gets_its_own_answer_in_order(relay: CaptureRelay, pipelining: bool) -> None:
    relay.pipelining = pipelining
    relay.refuse = {"gone@test.gov": "550 5.1.1 no such user", "busy@test.gov": "451 4.3.0 try later"}
    big = b"x" * 76 + b"\r\n"
    copies = [
        copy("a@test.gov"),
        copy("gone@test.gov"),  # refused: the relay still has its MAIL until RSET
        copy("b@test.gov", ".starts with a dot\r\n..two\r\n.\r\nafter a lone dot\r\n"),
        copy("busy@test.gov"),
        copy("c@test.gov", body=big * (PREPARE_APART // len(big) + 1)),  # big: a transaction of its own
        copy("d@test.gov", "Last.\r\n"),
    ]
    results = await send_all(relay.port, copies)

    assert [(r.ok, r.permanent) for r in results] == [
        (True, False), (False, True), (True, False), (False, False), (True, False), (True, False)]
    assert results[1].reason == "550 5.1.1 no such user" and results[3].reason == "451 4.3.0 try later"
    assert [m.rcpt for m in relay.messages] == ["a@test.gov", "b@test.gov", "c@test.gov", "d@test.gov"]
    sent = {c.rcpt: c for c in copies}
    for message in relay.messages:
        assert message.mail_from == SENDER
        assert message.data == sent[message.rcpt].head + sent[message.rcpt].body  # dots unstuffed: as composed
        assert f"SIZE={len(message.data)}" in [o.upper() for o in message.mail_options]


async def test_a_refused_sender_makes_the_relay_unavailable(relay: CaptureRelay) -> None:
    relay.refuse_mail = "530 5.7.0 authentication required"
    with pytest.raises(RelayUnavailable, match="refused the sender: 530"):
        await send_all(relay.port, [copy("a@test.gov"), copy("b@test.gov")])
    assert relay.messages == []


async def test_the_next_envelope_travels_with_the_text_before_it() -> None:
    """A relay that answers a copy's text only once the next copy's MAIL has arrived: only a
    pipelining client gets past the first copy (one waiting for each 250 would time out)."""
    seen: list[bytes] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def line() -> bytes:
            got = await asyncio.wait_for(reader.readline(), 5)
            seen.append(got)
            return got

        writer.write(b"220 relay.test ESMTP\r\n")
        await line()  # EHLO
        writer.write(b"250-relay.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        await line()  # MAIL of the first copy
        for index in range(2):
            await line()  # RCPT
            await line()  # DATA
            writer.write(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n")
            await asyncio.wait_for(reader.readuntil(b"\r\n.\r\n"), 5)
            if index == 0:
                await line()  # the second copy's MAIL, before the first copy's 250
            writer.write(f"250 2.0.0 queued as {index}\r\n".encode())
        assert (await line()).upper() == b"QUIT\r\n"
        writer.write(b"221 bye\r\n")
        writer.close()

    async with scripted_relay(session) as port:
        results = await send_all(port, [copy("a@test.gov"), copy("b@test.gov")])
    assert [r.ok for r in results] == [True, True]
    assert [line.split(b":")[0] for line in seen if line.startswith((b"MAIL", b"RCPT"))] == [
        b"MAIL FROM", b"RCPT TO", b"MAIL FROM", b"RCPT TO"]


async def test_a_relay_that_stops_answering_mid_pipeline_leaves_the_rest_unanswered() -> None:
    """The relay takes the first copy, then closes without answering the second: the first is
    sent, and the connection reports the relay unavailable (the second is retried later)."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await take_first_copy(reader, writer)
        for _ in range(3):
            await reader.readline()  # the second envelope
        writer.close()

    results: list[Result] = []
    async with scripted_relay(session) as port:
        connection = await connection_to(port, 10)
        try:
            with pytest.raises(RelayUnavailable, match="connection lost"):
                async for result in connection.send_all(iter([copy("a@test.gov"), copy("b@test.gov")])):
                    results.append(result)
        finally:
            await connection.close()
    assert [r.ok for r in results] == [True]


@pytest.mark.parametrize("stall", ["no-reply", "no-reading"])
async def test_a_relay_that_stalls_mid_pipeline_is_given_up_after_the_timeout(stall: str) -> None:
    """The relay stops answering (or stops reading a copy's text): after relay.timeout the
    connection is dropped and reported unavailable, rather than waited on for ever."""
    stop = asyncio.Event()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        for _ in range(3):
            await reader.readline()
        if stall == "no-reading":
            writer.write(b"250 ok\r\n250 ok\r\n354 go\r\n")  # then reads nothing of the text
        await stop.wait()
        writer.close()

    big = b"x" * 76 + b"\r\n"
    async with scripted_relay(session) as port:
        connection = await connection_to(port, 1)
        started = asyncio.get_running_loop().time()
        try:
            with pytest.raises(RelayUnavailable, match="did not answer within 1 s"):
                async for _ in connection.send_all(iter([copy("a@test.gov",
                                                              body=big * (PREPARE_APART // len(big) - 40))])):
                    pass
        finally:
            stop.set()
            await connection.close()
    assert 1 <= asyncio.get_running_loop().time() - started < 5


async def test_closing_does_not_wait_out_the_relay_timeout_for_quit() -> None:
    """A relay that never answers QUIT: the connection is closed after QUIT_WAIT, not after
    relay.timeout (30 s here), so a stop or the end of a backlog is not held up by it."""
    quit_seen = asyncio.Event()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await take_first_copy(reader, writer)
        if (await reader.readline()).upper() == b"QUIT\r\n":
            quit_seen.set()
        await reader.read()  # no answer; wait for the client to hang up

    async with scripted_relay(session) as port:
        connection = await connection_to(port, 30)
        assert [r.ok async for r in connection.send_all(iter([copy("a@test.gov")]))] == [True]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await connection.close()
        waited = loop.time() - started
    assert quit_seen.is_set()
    assert QUIT_WAIT <= waited < QUIT_WAIT + 5


async def test_a_relay_that_answers_data_without_354_has_not_taken_the_copy() -> None:
    """A broken relay says 250 to DATA itself: the text is not sent (it would be read as
    commands), the copy is not counted sent but retried later, and the envelope is reset."""
    after: list[bytes] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        for _ in range(3):
            await reader.readline()
        writer.write(b"250 ok\r\n250 ok\r\n250 2.0.0 whatever\r\n")
        after.append(await reader.readline())  # RSET
        writer.write(b"250 reset\r\n")
        after.append(await reader.readline())  # QUIT
        writer.write(b"221 bye\r\n")
        writer.close()

    async with scripted_relay(session) as port:
        [result] = await send_all(port, [copy("a@test.gov", "not a command\r\n")])
    assert (result.ok, result.permanent, result.reason) == (False, False, "250 2.0.0 whatever")
    assert [line.upper() for line in after] == [b"RSET\r\n", b"QUIT\r\n"]


async def test_a_relay_flooding_replies_is_cut_off_not_buffered() -> None:
    """A hostile relay answers the first envelope with a million replies: they are not kept
    (memory), the connection is dropped as soon as there are more replies than commands."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        for _ in range(3):
            await reader.readline()
        with contextlib.suppress(ConnectionError):
            for _ in range(1000):
                writer.write(b"250 ok\r\n" * 1000)
                await writer.drain()

    async with scripted_relay(session) as port:
        connection = await connection_to(port, 10)
        try:
            with pytest.raises(RelayUnavailable, match="more replies than commands"):
                async for _ in connection.send_all(iter([copy("a@test.gov")])):
                    pass
        finally:
            await connection.close()
