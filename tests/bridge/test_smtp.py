"""SMTP ingress over a real socket: every refusal with its code, and 250 only after storing."""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.storage.models import InboundMessage
from inkless.tokens import Token
from tests.conftest import (
    DOMAIN,
    TEST_ORG,
    CaptureRelay,
    Refused,
    api,
    simple_mail,
    smtp_send,
)


async def stored(service: Service) -> list[InboundMessage]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(InboundMessage).order_by(InboundMessage.id))).all())


async def refusal(service: Service, mail_from: str, rcpts: list[str], data: bytes, **kw: int) -> tuple[str, int, str]:
    with pytest.raises(Refused) as caught:
        await smtp_send(service.smtp_port, mail_from, rcpts, data, **kw)
    return caught.value.stage, caught.value.code, caught.value.message


async def test_member_mail_to_unit_is_stored_before_250(service: Service) -> None:
    raw = simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 测试")
    reply = await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)
    assert reply.startswith("250 2.0.0 OK queued as ")
    queued_id = int(reply.rsplit(" ", 1)[1])
    [row] = await stored(service)
    assert (row.id, row.mail_from, row.recipients, row.raw) == (queued_id, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)


@pytest.mark.parametrize(
    ("mail_from", "rcpt", "code", "status"),
    [
        ("fin-clerk@test.gov", "edu@elsewhere.example", 550, "5.7.1"),  # never an open relay
        ("fin-clerk@test.gov", f"nosuchunit@{DOMAIN}", 550, "5.1.1"),
        ("stranger@outside.example", f"edu@{DOMAIN}", 550, "5.7.1"),  # non-member envelope sender
        ("", f"edu@{DOMAIN}", 550, "5.7.1"),  # null sender to a unit address
        ("fin-staff@test.gov", f"all@{DOMAIN}", 550, "5.7.1"),  # all@ only for clerks, leaders, admins
        ("fin-clerk@test.gov", f"reply+d1-1-aaaaaaaaaaaaaaaa@{DOMAIN}", 550, "5.7.1"),  # forged token
    ],
)
async def test_rcpt_refusals(service: Service, mail_from: str, rcpt: str, code: int, status: str) -> None:
    stage, got_code, message = await refusal(service, mail_from, [rcpt], simple_mail("x@test.gov", rcpt, "s"))
    assert (stage, got_code, message.split(" ")[0]) == ("RCPT", code, status)
    assert await stored(service) == []


async def test_altered_token_is_refused_and_genuine_one_accepted_from_null_sender(service: Service) -> None:
    genuine = service.signer.address(Token("bounce", "d", 7, 3))
    local, _, domain = genuine.partition("@")
    altered = f"{local.replace('d7-3', 'd8-3')}@{domain}"
    stage, code, _ = await refusal(service, "", [altered], b"Subject: x\r\n\r\nbody\r\n")
    assert (stage, code) == ("RCPT", 550)
    reply = await smtp_send(service.smtp_port, "", [genuine], b"Subject: bounce\r\n\r\nbody\r\n")
    assert reply.startswith("250")
    assert [row.mail_from for row in await stored(service)] == [""]


async def test_header_from_must_be_a_member(service: Service) -> None:
    raw = simple_mail("stranger@outside.example", f"edu@{DOMAIN}", "冒名")
    stage, code, message = await refusal(service, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)
    assert (stage, code) == ("DATA", 550)
    assert message.startswith("5.7.1") and "stranger@outside.example" in message
    assert await stored(service) == []


async def test_header_from_to_all_needs_a_role(service: Service) -> None:
    # A staff member may not write to all@ (refused at RCPT, see above), nor through a clerk's
    # envelope: their header From is not the envelope sender.
    raw = simple_mail("fin-staff@test.gov", f"all@{DOMAIN}", "全体")
    stage, code, message = await refusal(service, "fin-clerk@test.gov", [f"all@{DOMAIN}"], raw)
    assert (stage, code) == ("DATA", 550)
    assert message.startswith("5.7.1 header From does not match the envelope sender")


async def test_a_staff_member_writing_as_the_leader_is_refused_and_nothing_is_issued(
        service: Service, relay: CaptureRelay) -> None:
    """The approver's address in the header From would make the approver the sender, who is
    skipped in the chain: the document would skip (part of) its sign-off."""
    raw = simple_mail("signer@test.gov", f"edu@{DOMAIN}", "[通知] 关于放假的通知", "全体放假三天。")
    stage, code, message = await refusal(service, "signed-staff@test.gov", [f"edu@{DOMAIN}"], raw)
    assert (stage, code, message) == ("DATA", 550, "5.7.1 header From does not match the envelope sender "
                                                   "(From signer@test.gov, MAIL FROM signed-staff@test.gov)")
    assert await stored(service) == []
    assert (await api(service, "/api/v1/documents"))["items"] == []
    await asyncio.sleep(0.5)
    assert relay.messages == []


async def test_addresses_differing_only_in_ascii_case_are_one_person(service: Service) -> None:
    raw = simple_mail("Fin-Clerk@Test.Gov", f"EDU@{DOMAIN.upper()}", "[通知] 大小写")
    assert (await smtp_send(service.smtp_port, "FIN-CLERK@test.GOV", [f"Edu@{DOMAIN}"], raw)).startswith("250")
    assert len(await stored(service)) == 1


async def utf8_session(service: Service, mail_from: str, rcpts: list[str], data: bytes) -> tuple[str, int, str]:
    """A session of a client that speaks SMTPUTF8 (addresses beyond ASCII): the first
    refusal as (stage, code, text), or ("DATA", 250, text) when the message was taken."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=service.smtp_port, start_tls=False, timeout=30)
    await client.connect()
    try:
        await client.ehlo()
        answer = await client.execute_command(b"MAIL", f"FROM:<{mail_from}>".encode(), b"SMTPUTF8")
        if answer.code != 250:
            return "MAIL", answer.code, answer.message
        for rcpt in rcpts:
            answer = await client.execute_command(b"RCPT", f"TO:<{rcpt}>".encode())
            if answer.code != 250:
                return "RCPT", answer.code, answer.message
        try:
            answer = await client.data(data)
        except aiosmtplib.SMTPDataError as exc:
            return "DATA", exc.code, exc.message
        return "DATA", answer.code, answer.message
    finally:
        await client.quit()


KELVIN = "\u212a"  # KELVIN SIGN: str.lower() makes it an ASCII "k"
PARKS_ORG = {"units": [*TEST_ORG["units"], {"id": "parks", "name": "园林局", "members": [
    {"email": "park-clerk@test.gov", "name": "园林文书", "roles": ["clerk"]}]}]}


def utf8_mail(header_from: str, to: str, subject: str = "[通知] 冒名") -> bytes:
    return (f"From: {header_from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <lookalike@client.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n正文\r\n").encode()


@pytest.mark.parametrize(("mail_from", "header_from", "rcpt", "stage", "status"), [
    # A member's address with a Kelvin sign, or with full-width letters, is a stranger's.
    (f"fin-cler{KELVIN}@test.gov", f"fin-cler{KELVIN}@test.gov", f"edu@{DOMAIN}", "MAIL", "5.7.1"),
    ("ｆｉｎ-clerk@test.gov", "ｆｉｎ-clerk@test.gov", f"edu@{DOMAIN}", "MAIL", "5.7.1"),
    # The look-alike only in the header From, behind the member's own envelope.
    ("fin-clerk@test.gov", f"fin-cler{KELVIN}@test.gov", f"edu@{DOMAIN}", "DATA", "5.7.1"),
    ("fin-clerk@test.gov", f"Fin-Cler{KELVIN} <fin-cler{KELVIN}@test.gov>", f"edu@{DOMAIN}", "DATA", "5.7.1"),
    # A look-alike of a unit address is no unit; of the domain, another domain.
    ("park-clerk@test.gov", "park-clerk@test.gov", f"par{KELVIN}s@{DOMAIN}", "RCPT", "5.1.1"),
    ("park-clerk@test.gov", "park-clerk@test.gov", "parks@ｏａ.test.gov", "RCPT", "5.7.1"),
])
async def test_look_alike_addresses_are_strangers(make_service, relay: CaptureRelay, mail_from: str,  # type: ignore[no-untyped-def]
                                                  header_from: str, rcpt: str, stage: str, status: str) -> None:
    service = await make_service(relay, org=PARKS_ORG)
    got_stage, code, message = await utf8_session(service, mail_from, [rcpt], utf8_mail(header_from, rcpt))
    assert (got_stage, code, message.split(" ")[0]) == (stage, 550, status)
    assert await stored(service) == []
    # The same, spelled in ASCII, is the member (or the unit) itself.
    ascii_from, ascii_rcpt = "park-clerk@test.gov", f"PARKS@{DOMAIN}"
    taken = await utf8_session(service, ascii_from, [ascii_rcpt], utf8_mail(ascii_from, ascii_rcpt))
    assert taken[:2] == ("DATA", 250)


async def test_recipient_limit_gives_452_to_the_extra_recipient(service: Service) -> None:
    # The test config allows 5 recipients.
    rcpts = [f"{unit}@{DOMAIN}" for unit in ("office", "finance", "edu", "signed", "all")]
    raw = simple_mail("clerk@test.gov", rcpts[0], "多个单位")
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", rcpts, raw)).startswith("250")
    stage, code, message = await refusal(service, "clerk@test.gov", rcpts + [f"office@{DOMAIN}"], raw)
    assert (stage, code, message.split(" ")[0]) == ("RCPT", 452, "4.5.3")


async def test_oversize_gets_552_at_mail_and_at_end_of_data(service: Service) -> None:
    big = simple_mail("clerk@test.gov", f"edu@{DOMAIN}", "大", "字" * 150_000)
    assert len(big) > 200_000
    stage, code, _ = await refusal(service, "clerk@test.gov", [f"edu@{DOMAIN}"], big, size=len(big))
    assert (stage, code) == ("MAIL", 552)
    stage, code, _ = await refusal(service, "clerk@test.gov", [f"edu@{DOMAIN}"], big)
    assert (stage, code) == ("DATA", 552)
    assert await stored(service) == []


async def test_failed_upstream_dkim_is_refused_when_trusted(make_service, relay) -> None:  # type: ignore[no-untyped-def]
    service = await make_service(relay, smtp={"trusted_authserv_id": "mx.test.gov"})
    failing = simple_mail("clerk@test.gov", f"edu@{DOMAIN}", "伪造", extra=(
        "Authentication-Results: mx.test.gov; dkim=fail header.d=test.gov; spf=pass"))
    stage, code, message = await refusal(service, "clerk@test.gov", [f"edu@{DOMAIN}"], failing)
    assert (stage, code) == ("DATA", 550) and "dkim=fail" in message
    # The same verdict from an authserv-id we do not trust is ignored.
    untrusted = simple_mail("clerk@test.gov", f"edu@{DOMAIN}", "他处", extra=(
        "Authentication-Results: other.example; dkim=fail"))
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", [f"edu@{DOMAIN}"], untrusted)).startswith("250")


async def test_no_auth_is_offered_and_auth_is_refused(service: Service) -> None:
    """Inkless takes mail from its MTA without SMTP AUTH: offering AUTH that always fails would
    make a client configured for SASL try it and give up."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=service.smtp_port, start_tls=False, timeout=10)
    await client.connect()
    try:
        ehlo = await client.ehlo()
        assert "AUTH" not in ehlo.message.upper().split()
        assert "8BITMIME" in ehlo.message and "SMTPUTF8" in ehlo.message
        answer = await client.execute_command(b"AUTH", b"PLAIN", b"AGFsaWNlAHNlY3JldA==")
        assert answer.code // 100 == 5
    finally:
        await client.quit()


async def test_smtp_activity_holds_background_work_back(service: Service) -> None:
    """Workers give way while SMTP sessions are busy, not only when a message was stored: a
    connection and each RCPT count as activity (IngestPressure)."""
    pressure = service.pressure
    defaults = pressure.quiet_for, pressure.max_defer
    pressure.quiet_for = pressure.max_defer = 3600  # "quiet" only after an hour without SMTP activity
    pressure._last_arrival = float("-inf")  # nothing ever arrived
    try:
        await asyncio.wait_for(pressure.quiet(), timeout=5)  # nothing has happened yet
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=service.smtp_port, start_tls=False, timeout=10)
        await client.connect()  # a connection, no message
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pressure.quiet(), timeout=0.2)
        finally:
            await client.quit()
    finally:
        pressure.quiet_for, pressure.max_defer = defaults
        pressure._last_arrival = float("-inf")  # let the workers waiting in quiet() go, so the service can stop


async def answers(reader: asyncio.StreamReader, count: int) -> list[str]:
    """The next `count` SMTP answers (multi-line ones as their last line)."""
    got: list[str] = []
    while len(got) < count:
        line = (await asyncio.wait_for(reader.readline(), 30)).decode().rstrip("\r\n")
        if line[3:4] != "-":
            got.append(line)
    return got


async def test_commands_pipelined_after_the_end_of_data_are_answered(service: Service) -> None:
    """A client that sends the end of one message and the next commands in one write (Postfix
    pipelines QUIT so) gets every answer, and both messages are stored as sent, dots and all."""
    first = simple_mail("clerk@test.gov", f"edu@{DOMAIN}", "[通知] 一", ".第一行以点开头\n..两个点\n.\n")
    second = simple_mail("clerk@test.gov", f"edu@{DOMAIN}", "[通知] 二")
    envelope = f"MAIL FROM:<clerk@test.gov>\r\nRCPT TO:<edu@{DOMAIN}>\r\nDATA\r\n".encode()

    def stuffed(raw: bytes) -> bytes:
        return b"".join(b"." + line if line.startswith(b".") else line for line in raw.splitlines(keepends=True))

    reader, writer = await asyncio.open_connection("127.0.0.1", service.smtp_port)
    try:
        assert (await answers(reader, 1))[0].startswith("220")
        writer.write(b"EHLO client.test\r\n" + envelope)
        assert [a[:3] for a in await answers(reader, 4)] == ["250", "250", "250", "354"]
        writer.write(stuffed(first) + b".\r\n" + envelope)
        got = await answers(reader, 4)
        assert got[0].startswith("250 2.0.0 OK queued as ") and [a[:3] for a in got[1:]] == ["250", "250", "354"]
        writer.write(stuffed(second) + b".\r\nQUIT\r\n")
        got = await answers(reader, 2)
        assert got[0].startswith("250 2.0.0 OK queued as ") and got[1].startswith("221")
    finally:
        writer.close()
    assert [row.raw for row in await stored(service)] == [first, second]


async def test_a_line_over_a_megabyte_gets_500_and_the_session_goes_on(service: Service) -> None:
    long_line = b"X-Long: " + b"a" * (1024 * 1024) + b"\r\n"
    mail = simple_mail("clerk@test.gov", f"edu@{DOMAIN}", "[通知] 长行")
    envelope = f"MAIL FROM:<clerk@test.gov>\r\nRCPT TO:<edu@{DOMAIN}>\r\nDATA\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", service.smtp_port)
    try:
        assert (await answers(reader, 1))[0].startswith("220")
        writer.write(b"EHLO client.test\r\n" + envelope)
        assert [a[:3] for a in await answers(reader, 4)] == ["250", "250", "250", "354"]
        for start in range(0, len(long_line), 4096):  # as a slow client sends it
            writer.write(long_line[start:start + 4096])
        writer.write(mail + b".\r\n")
        assert (await answers(reader, 1))[0].startswith("500")
        assert await stored(service) == []
        writer.write(envelope)
        assert [a[:3] for a in await answers(reader, 3)] == ["250", "250", "354"]
        writer.write(mail + b".\r\nQUIT\r\n")
        assert (await answers(reader, 1))[0].startswith("250 2.0.0 OK queued as ")
    finally:
        writer.close()
    assert [row.raw for row in await stored(service)] == [mail]
