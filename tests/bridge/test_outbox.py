"""Outbound delivery: retries while the relay is away, permanent failures recorded, Maildir."""

from __future__ import annotations

import asyncio
import hashlib
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.storage.models import OutboxMessage, Recipient
from tests.conftest import DOMAIN, CaptureRelay, simple_mail, smtp_send, wait_for

EDU = {"edu-clerk@test.gov", "edu-staff@test.gov", "shared@test.gov"}


async def send_to_edu(service: Service, subject: str = "[通知] 外发测试") -> None:
    raw = simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", subject)
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)).startswith("250")


async def outbox(service: Service) -> list[OutboxMessage]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def recipient_rows(service: Service) -> dict[str, Recipient]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return {r.email: r for r in (await session.scalars(select(Recipient))).all()}


async def test_relay_outage_is_retried_until_it_comes_back(service: Service, relay: CaptureRelay) -> None:
    await relay.stop()
    await send_to_edu(service)

    async def retried_twice() -> bool:
        rows = await outbox(service)
        return len(rows) == 4 and all(r.status == "queued" and r.attempts >= 2 and r.last_error for r in rows)

    await wait_for(retried_twice, what="two failed attempts while the relay is down")
    assert all(r.sent_at is None for r in (await recipient_rows(service)).values())

    await relay.start()  # same port: the relay is back
    await wait_for(lambda: len(relay.messages) == 4, what="delivery after the relay returns")

    async def all_sent() -> bool:
        return all(r.status == "sent" for r in await outbox(service))

    await wait_for(all_sent, what="outbox rows marked sent")
    rows = await recipient_rows(service)
    assert set(rows) == EDU and all(r.sent_at is not None and not r.failed for r in rows.values())
    assert sorted(m.rcpt for m in relay.messages) == sorted(EDU | {"fin-clerk@test.gov"})


async def test_permanent_refusal_marks_the_recipient_failed(service: Service, relay: CaptureRelay) -> None:
    relay.refuse["edu-staff@test.gov"] = "550 5.1.1 <edu-staff@test.gov>: mailbox unavailable"
    await send_to_edu(service)

    async def settled() -> bool:
        rows = await recipient_rows(service)
        return len(rows) == 3 and all(r.failed or r.sent_at for r in rows.values())

    await wait_for(settled, what="every recipient sent or failed")
    rows = await recipient_rows(service)
    failed = rows["edu-staff@test.gov"]
    assert (failed.failed, failed.sent_at) == (True, None)
    assert failed.reason is not None and failed.reason.startswith("550 5.1.1")
    assert all(not rows[e].failed and rows[e].sent_at for e in EDU - {"edu-staff@test.gov"})
    [row] = [r for r in await outbox(service) if r.rcpt == "edu-staff@test.gov"]
    assert (row.status, row.attempts) == ("failed", 1)


async def test_transient_refusals_give_up_after_the_configured_time(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    service = await make_service(relay, relay={"give_up_after": 0.5})
    relay.refuse["shared@test.gov"] = "451 4.3.0 try again later"
    await send_to_edu(service)

    async def failed() -> bool:
        return (await recipient_rows(service)).get("shared@test.gov", Recipient()).failed is True

    await wait_for(failed, what="shared@ given up")
    reason = (await recipient_rows(service))["shared@test.gov"].reason
    assert reason is not None and reason.startswith("gave up after ") and "451 4.3.0 try again later" in reason


async def test_maildir_relay_writes_one_file_per_copy(make_service) -> None:  # type: ignore[no-untyped-def]
    service = await make_service(None)
    await send_to_edu(service)
    maildir = service.config.maildir_path
    assert maildir is not None
    await wait_for(lambda: (maildir / "new").exists() and len(list((maildir / "new").iterdir())) == 4,
                   what="4 files in the Maildir")
    delivered = {}
    for path in (maildir / "new").iterdir():
        message = message_from_bytes(path.read_bytes(), policy=default)
        delivered[str(message["Delivered-To"])] = message
    assert set(delivered) == EDU | {"fin-clerk@test.gov"}
    assert str(delivered["shared@test.gov"]["Return-Path"]).startswith("<bounce+")
    assert list((maildir / "tmp").iterdir()) == []


async def test_a_relay_refusing_the_sender_fails_no_recipient_until_give_up(
        make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    """530/553 at MAIL FROM is the relay's set-up, the same for every copy: the copies wait and
    are retried (and go out once the relay is fixed), none is failed as if its recipient were
    unknown."""
    service = await make_service(relay)
    relay.refuse_mail = "530 5.7.0 Authentication required"
    await send_to_edu(service)

    async def retried_twice() -> bool:
        rows = await outbox(service)
        return len(rows) == 4 and all(r.status == "queued" and r.attempts >= 2 for r in rows)

    await wait_for(retried_twice, what="two refused rounds with every copy still queued")
    assert all("530 5.7.0" in (r.last_error or "") for r in await outbox(service))
    assert not any(r.failed for r in (await recipient_rows(service)).values())

    relay.refuse_mail = None  # the operator fixes the relay's credentials
    await wait_for(lambda: len(relay.messages) == 4, what="delivery once the relay takes the sender")


async def test_a_message_too_big_for_the_relay_fails_that_copy(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    service = await make_service(relay)
    relay.refuse_mail = "552 5.3.4 Message size exceeds fixed limit"
    await send_to_edu(service)

    async def all_failed() -> bool:
        rows = await recipient_rows(service)
        return len(rows) == 3 and all(r.failed for r in rows.values())

    await wait_for(all_failed, what="every copy failed for its size")
    assert all((r.reason or "").startswith("552 5.3.4") for r in (await recipient_rows(service)).values())


async def test_a_big_copy_arrives_whole_and_a_refusal_of_it_fails_that_recipient(
        make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    """Copies over 256 KB are made ready for DATA apart from the event loop: lines starting
    with a dot still arrive as written, and the relay's answers count as for any copy."""
    # In English the copy's text is plain 7bit: its lines go out as they are, dots and all.
    service = await make_service(relay, smtp={"max_message_size": 5_000_000}, language="en")
    relay.refuse["edu-staff@test.gov"] = "550 5.1.1 <edu-staff@test.gov>: mailbox unavailable"
    text = ".\n.hidden line\n..two dots\nend\n"
    data = hashlib.sha256(b"big").digest() * 20_000  # 640 KB
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 大附件"
    message.set_content(text)
    message.add_attachment(data, maintype="application", subtype="octet-stream", filename="data.bin")
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"],
                            message.as_bytes())).startswith("250")

    async def settled() -> bool:
        rows = await recipient_rows(service)
        return len(rows) == 3 and all(r.failed or r.sent_at for r in rows.values())

    await wait_for(settled, timeout=30, what="every recipient sent or failed")
    rows = await recipient_rows(service)
    assert rows["edu-staff@test.gov"].failed and (rows["edu-staff@test.gov"].reason or "").startswith("550 5.1.1")
    copies = [m for m in relay.messages if m.rcpt in EDU]
    assert sorted(m.rcpt for m in copies) == ["edu-clerk@test.gov", "shared@test.gov"]
    for copy in copies:
        # SIZE= (RFC 1870) on every copy, the first on a connection too: a relay refuses too big at MAIL.
        assert [option for option in copy.mail_options if option.upper().startswith("SIZE=")], copy.mail_options
        parts = list(copy.message.walk())
        [body] = [p for p in parts if p.get_content_type() == "text/plain" and not p.get_filename()]
        assert body["Content-Transfer-Encoding"] in ("7bit", "8bit") and "\n.hidden line\n..two dots\n" in body.get_content().replace("\r\n", "\n")
        assert [p.get_content() for p in parts if p.get_filename() == "data.bin"] == [data]


class StallingProxy:
    """A TCP proxy in front of the relay that stops reading from Inkless once `stall_after`
    bytes have passed on one connection: a relay that hangs in the middle of DATA. It hangs
    once, on the first connection to get that far (an earlier one may have ended sooner, e.g.
    timed out on a busy machine), and passes everything on every later connection."""

    def __init__(self, upstream_port: int, stall_after: int) -> None:
        self.upstream_port = upstream_port
        self.stall_after = stall_after
        self.connections = 0
        self.stalled = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        for task in (self._pump(reader, up_writer, self.stall_after), self._pump(up_reader, writer, None)):
            self._tasks.add(asyncio.create_task(task))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stall: int | None) -> None:
        passed = 0
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
            passed += len(data)
            if stall is not None and passed >= stall and not self.stalled.is_set():
                self.stalled.set()
                await asyncio.Event().wait()  # reads no more: the sender's buffers fill up
        writer.close()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.transport.abort()
        if self._server is not None:
            self._server.close()


async def test_a_relay_that_hangs_in_the_middle_of_data_gets_the_copy_again(
        make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    """A big copy is written as the relay takes it, each block within relay.timeout: a relay
    that stops reading in the middle of DATA costs one attempt (that connection is dropped, the
    partial message never completes at the relay), and every copy arrives once, whole."""
    proxy = StallingProxy(relay.port, stall_after=1_000_000)
    port = await proxy.start()
    try:
        service = await make_service(relay, smtp={"max_message_size": 20_000_000},
                                     relay={"url": f"smtp://127.0.0.1:{port}?starttls=off", "timeout": 5})
        data = hashlib.sha512(b"hang").digest() * 120_000  # 7.7 MB: more than the sockets' buffers hold
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 大文件"
        message.set_content("见附件。")
        message.add_attachment(data, maintype="application", subtype="pdf", filename="大文件.pdf")
        assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"],
                                message.as_bytes())).startswith("250")
        await wait_for(proxy.stalled.is_set, timeout=60, what="the relay to hang in the middle of a copy")

        async def all_sent() -> bool:
            rows = await recipient_rows(service)
            return len(rows) == 3 and all(r.sent_at for r in rows.values())

        await wait_for(all_sent, timeout=90, what="every copy sent after the hang")
        copies = [m for m in relay.messages if m.rcpt in EDU]
        assert sorted(m.rcpt for m in copies) == sorted(EDU)  # once each: the hung attempt never completed
        for copy in copies:
            assert [(p.get_filename(), p.get_content()) for p in copy.message.walk() if p.get_filename()] == \
                [("大文件.pdf", data)]
        assert proxy.connections >= 2
    finally:
        await proxy.stop()


async def test_connections_carry_the_rounds_of_a_backlog_and_are_replaced_when_the_relay_closes_them(
        make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    """A fan-out of 60 in rounds of 10 over 2 connections: the connections stay open from round
    to round, and when the relay closes a session after 25 messages (421 to the next MAIL),
    what that connection held goes over a new one at once: every copy arrives once, on its
    first attempt, none waits for a retry."""
    crowd = [f"p{n:03d}@test.gov" for n in range(60)]
    org = {"units": [
        {"id": "office", "name": "办公室", "members": [{"email": "clerk@test.gov", "name": "王文书", "roles": ["clerk"]}]},
        {"id": "crowd", "name": "全县", "members": [{"email": email, "name": f"人{n}"} for n, email in enumerate(crowd)]},
    ]}
    relay.session_limit = 25
    service = await make_service(relay, org=org, smtp={"max_recipients": 5},
                                 relay={"batch_size": 10, "connections": 2, "retry_initial": 30})
    raw = simple_mail("clerk@test.gov", f"crowd@{DOMAIN}", "[通知] 分批发送")
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", [f"crowd@{DOMAIN}"], raw)).startswith("250")

    async def all_sent() -> bool:
        rows = await outbox(service)
        return len(rows) == 61 and all(r.status == "sent" for r in rows)

    await wait_for(all_sent, what="all 61 copies sent (60 and the sender's notice)")
    assert sorted(m.rcpt for m in relay.messages) == sorted([*crowd, "clerk@test.gov"])
    assert {r.attempts for r in await outbox(service)} == {1}  # none was put back for a retry
    # 61 messages at 25 a session need at least 3 sessions; a connection per round would be 14.
    assert 3 <= relay.sessions_opened <= 6, relay.sessions_opened


async def test_a_slow_relay_s_copies_show_as_sent_while_the_round_goes_on(
        make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    """Answers are recorded in the background during a round, not only when it ends: with a
    relay taking 20 ms a copy over one connection, a round of 120 takes over 2 s, and the first
    copies are marked sent long before the last has gone."""
    crowd = [f"p{n:03d}@test.gov" for n in range(120)]
    org = {"units": [
        {"id": "office", "name": "办公室", "members": [{"email": "clerk@test.gov", "name": "王文书", "roles": ["clerk"]}]},
        {"id": "crowd", "name": "全县", "members": [{"email": email, "name": f"人{n}"} for n, email in enumerate(crowd)]},
    ]}
    relay.data_delay = 0.02
    service = await make_service(relay, org=org, relay={"batch_size": 200, "connections": 1})
    raw = simple_mail("clerk@test.gov", f"crowd@{DOMAIN}", "[通知] 慢速中继")
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", [f"crowd@{DOMAIN}"], raw)).startswith("250")
    seen: list[tuple[int, int]] = []  # (copies marked sent, copies at the relay)

    async def some_sent() -> bool:
        sent = sum(1 for r in await outbox(service) if r.status == "sent")
        seen.append((sent, len(relay.messages)))
        return sent > 0

    await wait_for(some_sent, timeout=20, what="the first copies marked sent")
    sent, arrived = seen[-1]
    assert sent >= 50 and arrived < 121, seen[-3:]  # recorded mid-round: copies were still going out

    async def all_sent() -> bool:
        return sum(1 for r in await outbox(service) if r.status == "sent") == 121

    await wait_for(all_sent, timeout=20, what="all 121 copies marked sent")
